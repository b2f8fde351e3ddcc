#!/bin/bash
# Restarts the DAG processor when the git credentials of spec.airflow.dags change.
#
# Run by turbine-dags-connection.service on the scheduler, as root. Airflow's DAG processor builds its
# bundles, and their git hook reads the connection turbine_dags, once when it starts; the operator writes
# the credentials into the stack's connection secret only once the stack exists, after this instance
# booted, and again whenever the Secret is rotated. Workers need nothing of the kind: each task builds its
# bundle, and reads the connection, anew.
set -uo pipefail

set -a
# shellcheck source=/dev/null
. /etc/turbine/turbine.env
set +a

readonly INTERVAL=30

log() { printf 'turbine-dags-connection: %s\n' "$*" >&2; }

if [[ -z ${TURBINE_DAG_BUNDLE:-} || -z ${TURBINE_DAGS_CONNECTION_SECRET_ARN:-} ]]; then
  log "no DAG bundle: nothing to follow"
  exit 0
fi

# The version id only; the value stays inside the AWS CLI.
current() {
  aws secretsmanager get-secret-value --secret-id "${TURBINE_DAGS_CONNECTION_SECRET_ARN}" \
    --query VersionId --output text
}

seen=$(current) || seen=""
while true; do
  sleep "${INTERVAL}"
  now=$(current) || continue
  if [[ -n ${now} && ${now} != "${seen}" ]]; then
    log "the git credentials changed (version ${now}); restarting the DAG processor"
    systemctl restart airflow-dag-processor.service
    seen=${now}
  fi
done
