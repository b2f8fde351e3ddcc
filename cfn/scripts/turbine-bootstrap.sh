#!/bin/bash
# Turns a fresh Amazon Linux 2023 instance into a Turbine scheduler, webserver or worker.
#
# Run once by the launch template's user data after it has written /etc/turbine/turbine.env
# (plain settings, no secrets) and synced the bundle's scripts to /opt/turbine. Secrets are read
# here from Secrets Manager and land only in /etc/sysconfig/airflow.env (root:airflow, 0640).
set -euo pipefail

readonly AIRFLOW_VERSION=3.3.2
readonly PYTHON=python3.11
# Airflow's constraints pin every transitive dependency (Celery, kombu, boto3...) to the set the
# release was tested with, so a new upstream release cannot break a fresh install.
readonly CONSTRAINTS_URL="https://raw.githubusercontent.com/apache/airflow/constraints-${AIRFLOW_VERSION}/constraints-3.11.txt"
readonly AIRFLOW_USER=airflow
# A fixed uid keeps file ownership consistent on the shared EFS across every node.
readonly AIRFLOW_UID=1500
readonly AIRFLOW_HOME=/airflow
readonly AIRFLOW_VENV=/opt/airflow/venv
readonly AIRFLOW_ENV_FILE=/etc/sysconfig/airflow.env
readonly TURBINE_DIR=/opt/turbine
readonly EFS_MOUNT_POINT=/mnt/efs

set -a
# shellcheck source=/dev/null
. /etc/turbine/turbine.env
set +a

log() { printf '%s turbine-bootstrap[%s]: %s\n' "$(date -u +%FT%TZ)" "${TURBINE_ROLE}" "$*" >&2; }

retry() {
  local attempts=$1 delay=$2 attempt=1
  shift 2
  until "$@"; do
    if ((attempt >= attempts)); then
      log "giving up after ${attempts} attempts: $*"
      return 1
    fi
    log "attempt ${attempt} failed, retrying in ${delay}s: $*"
    sleep "${delay}"
    attempt=$((attempt + 1))
  done
}

secret_string() { aws secretsmanager get-secret-value --secret-id "$1" --query SecretString --output text; }

python_bool() { if [[ ${1,,} == true ]]; then echo True; else echo False; fi; }

install_packages() {
  retry 5 10 dnf install -y --setopt=install_weak_deps=False \
    "${PYTHON}" "${PYTHON}-pip" amazon-efs-utils jq ruby
}

create_airflow_user() {
  if ! id "${AIRFLOW_USER}" &>/dev/null; then
    groupadd --system --gid "${AIRFLOW_UID}" "${AIRFLOW_USER}"
    useradd --system --uid "${AIRFLOW_UID}" --gid "${AIRFLOW_UID}" --home-dir "${AIRFLOW_HOME}" \
      --no-create-home --shell /sbin/nologin "${AIRFLOW_USER}"
  fi
  install -d -o "${AIRFLOW_USER}" -g "${AIRFLOW_USER}" -m 0755 "${AIRFLOW_HOME}" "${AIRFLOW_HOME}/dags"
}

mount_shared_file_system() {
  install -d -m 0755 "${EFS_MOUNT_POINT}"
  if ! grep -q " ${EFS_MOUNT_POINT} " /etc/fstab; then
    # TLS in transit; _netdev orders the mount after the network on reboots.
    echo "${TURBINE_FILE_SYSTEM_ID}:/ ${EFS_MOUNT_POINT} efs _netdev,tls,noresvport 0 0" >>/etc/fstab
  fi
  # The mount target's DNS name can take a few minutes to resolve after it is created.
  retry 30 10 mount "${EFS_MOUNT_POINT}"
  chown "${AIRFLOW_USER}:${AIRFLOW_USER}" "${EFS_MOUNT_POINT}"
}

install_airflow() {
  install -d -m 0755 "$(dirname "${AIRFLOW_VENV}")"
  "${PYTHON}" -m venv "${AIRFLOW_VENV}"
  retry 3 30 "${AIRFLOW_VENV}/bin/pip" install --quiet --upgrade pip
  retry 3 30 "${AIRFLOW_VENV}/bin/pip" install --quiet \
    "apache-airflow[celery,amazon,postgres,fab]==${AIRFLOW_VERSION}" "kombu[sqs]" \
    --constraint "${CONSTRAINTS_URL}"
  # The CLI for humans (via Session Manager): loads the same environment as the services.
  cat >/usr/local/bin/airflow <<WRAPPER
#!/bin/bash
set -a
. ${AIRFLOW_ENV_FILE}
set +a
exec ${AIRFLOW_VENV}/bin/airflow "\$@"
WRAPPER
  chown "root:${AIRFLOW_USER}" /usr/local/bin/airflow
  chmod 0750 /usr/local/bin/airflow
}

write_airflow_environment() {
  local database fernet_key api_secret_key jwt_secret db_user db_password db_url
  database=$(retry 5 10 secret_string "${TURBINE_DATABASE_SECRET_ARN}")
  db_user=$(jq -r .username <<<"${database}")
  db_password=$(jq -r .password <<<"${database}")
  # The secret holds 43 base64url characters (256 random bits); '=' completes a Fernet key.
  fernet_key="$(retry 5 10 secret_string "${TURBINE_FERNET_KEY_SECRET_ARN}")="
  api_secret_key=$(retry 5 10 secret_string "${TURBINE_API_SECRET_KEY_SECRET_ARN}")
  jwt_secret=$(retry 5 10 secret_string "${TURBINE_JWT_SECRET_ARN}")
  # The generated password is alphanumeric, so it needs no URL quoting.
  db_url="postgresql+psycopg2://${db_user}:${db_password}@${TURBINE_DATABASE_HOST}:5432/airflow"

  local previous_umask
  previous_umask=$(umask)
  umask 0027
  {
    echo "AWS_DEFAULT_REGION='${AWS_DEFAULT_REGION}'"
    echo "AIRFLOW_HOME='${AIRFLOW_HOME}'"
    echo "AIRFLOW__CORE__EXECUTOR='CeleryExecutor'"
    echo "AIRFLOW__CORE__AUTH_MANAGER='airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager'"
    echo "AIRFLOW__CORE__FERNET_KEY='${fernet_key}'"
    echo "AIRFLOW__CORE__LOAD_EXAMPLES='$(python_bool "${TURBINE_LOAD_EXAMPLES}")'"
    echo "AIRFLOW__CORE__EXECUTION_API_SERVER_URL='${TURBINE_EXECUTION_API_URL}'"
    echo "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN='${db_url}'"
    echo "AIRFLOW__CELERY__BROKER_URL='sqs://'"
    echo "AIRFLOW__CELERY__RESULT_BACKEND='db+postgresql://${db_user}:${db_password}@${TURBINE_DATABASE_HOST}:5432/airflow'"
    echo "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__REGION='${AWS_DEFAULT_REGION}'"
    echo "AIRFLOW__OPERATORS__DEFAULT_QUEUE='${TURBINE_QUEUE_NAME}'"
    echo "AIRFLOW__LOGGING__REMOTE_LOGGING='True'"
    echo "AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER='s3://${TURBINE_LOGS_BUCKET}/logs'"
    # No such connection exists: the Amazon provider then falls back to the instance role.
    echo "AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID='aws_default'"
    echo "AIRFLOW__API__SECRET_KEY='${api_secret_key}'"
    echo "AIRFLOW__API_AUTH__JWT_SECRET='${jwt_secret}'"
    if [[ ${TURBINE_ROLE} == webserver ]]; then
      echo "AIRFLOW__API__BASE_URL='${TURBINE_BASE_URL}'"
      echo "AIRFLOW__API__PORT='${TURBINE_WEB_SERVER_PORT}'"
    fi
  } >"${AIRFLOW_ENV_FILE}.new"
  umask "${previous_umask}"
  chown "root:${AIRFLOW_USER}" "${AIRFLOW_ENV_FILE}.new"
  chmod 0640 "${AIRFLOW_ENV_FILE}.new"
  mv "${AIRFLOW_ENV_FILE}.new" "${AIRFLOW_ENV_FILE}"
}

install_units() {
  local unit
  for unit in "$@"; do
    install -m 0644 "${TURBINE_DIR}/${unit}" "/etc/systemd/system/${unit}"
  done
  systemctl daemon-reload
}

as_airflow() { runuser -u "${AIRFLOW_USER}" -- /usr/local/bin/airflow "$@"; }

install_codedeploy_agent() {
  local installer
  installer=$(mktemp)
  retry 5 10 curl -fsSL -o "${installer}" \
    "https://aws-codedeploy-${AWS_DEFAULT_REGION}.s3.${AWS_DEFAULT_REGION}.amazonaws.com/latest/install"
  retry 3 10 ruby "${installer}" auto
  rm -f "${installer}"
  systemctl enable --now codedeploy-agent
}

wait_until_healthy() {
  local url=$1 deadline=$((SECONDS + 1200))
  until curl -fsS -o /dev/null "${url}"; do
    if ((SECONDS > deadline)); then
      log "not healthy in time: ${url}"
      return 1
    fi
    sleep 10
  done
}

setup_scheduler() {
  as_airflow db migrate
  if [[ ${TURBINE_LOAD_DEFAULT_CONNECTIONS,,} == true ]]; then
    as_airflow connections create-default-connections
  fi
  install_units airflow-scheduler.service airflow-dag-processor.service airflow-triggerer.service
  systemctl enable --now airflow-scheduler.service airflow-dag-processor.service airflow-triggerer.service
}

setup_webserver() {
  install_units airflow-api-server.service
  systemctl enable --now airflow-api-server.service
  wait_until_healthy "http://127.0.0.1:${TURBINE_WEB_SERVER_PORT}/api/v2/monitor/health"
}

setup_worker() {
  install_units airflow-worker.service turbine-worker-drain.service
  # systemd stops the worker with a warm shutdown (see the unit); it may take the whole drain.
  install -d -m 0755 /etc/systemd/system/airflow-worker.service.d
  printf '[Service]\nTimeoutStopSec=%s\n' "${TURBINE_DRAIN_TIMEOUT}" \
    >/etc/systemd/system/airflow-worker.service.d/drain-timeout.conf
  systemctl daemon-reload
  systemctl enable --now turbine-worker-drain.service airflow-worker.service
}

main() {
  log "bootstrapping"
  install_packages
  create_airflow_user
  mount_shared_file_system
  install_airflow
  write_airflow_environment
  case "${TURBINE_ROLE}" in
    scheduler) setup_scheduler ;;
    webserver) setup_webserver ;;
    worker) setup_worker ;;
    *)
      log "unknown role"
      return 1
      ;;
  esac
  install_codedeploy_agent
  log "done"
}

main "$@"
