#!/bin/bash
# Graceful scale-in of a Turbine worker, run by turbine-worker-drain.service (through bash: the
# script arrives by `aws s3 sync`, which keeps no file modes).
#
# Until Auto Scaling wants the instance Terminated (its target lifecycle state, polled through
# IMDSv2), keeps the instance protected from scale-in while a task runs here (and for 30 s after the
# last one ended): scale-in then chooses idle workers. When termination comes anyway (a rolling update, a failed
# health check, or a protected instance's turn once idle), stops the Celery worker with a warm
# shutdown (it takes no new task and finishes the running ones), records lifecycle heartbeats
# while it drains, and completes the lifecycle action as soon as the worker has exited or
# DrainTimeout seconds have passed.
set -euo pipefail

readonly WORKER_UNIT=airflow-worker.service
readonly POLL_SECONDS=5
readonly IDLE_SECONDS=30
readonly HEARTBEAT_SECONDS=60
# The same override the AWS CLI and SDKs honour.
readonly IMDS="${AWS_EC2_METADATA_SERVICE_ENDPOINT:-http://169.254.169.254}"
# Survives restarts of this service, so a crash cannot extend the drain beyond DrainTimeout.
readonly DEADLINE_FILE=/run/turbine/drain-deadline

set -a
# shellcheck source=/dev/null
. /etc/turbine/turbine.env
set +a

log() { printf 'turbine-worker-drain: %s\n' "$*" >&2; }

imds() {
  local token
  token=$(curl -fsS -X PUT "${IMDS%/}/latest/api/token" -H 'X-aws-ec2-metadata-token-ttl-seconds: 60')
  curl -fsS -H "X-aws-ec2-metadata-token: ${token}" "${IMDS%/}/latest/meta-data/$1"
}

# Tasks running on this worker: Airflow's Celery pool processes (children of the worker's main
# process) each run a task in a child process of their own, so idle pool processes have none. No
# other child of the main process has children of its own in the shipped Airflow; the boot rehearsal
# checks that an idle worker is unprotected, so a lock that changed this would fail there.
running_tasks() {
  local main pool count=0
  main=$(systemctl show --property=MainPID --value "${WORKER_UNIT}" 2>/dev/null || echo 0)
  if ((main > 0)); then
    for pool in $(pgrep -P "${main}" || true); do
      count=$((count + $(pgrep -c -P "${pool}" || true)))
    done
  fi
  echo "${count}"
}

set_protection() {
  local flag=--no-protected-from-scale-in
  [[ $1 == true ]] && flag=--protected-from-scale-in
  if aws autoscaling set-instance-protection --auto-scaling-group-name "${group}" \
    --instance-ids "${instance_id}" "${flag}"; then
    log "scale-in protection: $1"
  else
    log "could not set scale-in protection to $1; trying again"
    return 1
  fi
}

# Protection is set as soon as a task runs, and cleared only after IDLE_SECONDS without one: short
# tasks one after the other then cost no SetInstanceProtection calls (a fleet of workers shares the
# account's Auto Scaling request rate), and a worker between two tasks of a run keeps its protection.
protect_while_busy_until_terminated() {
  local protected=unknown want idle_since now
  idle_since=$(date +%s)
  until [[ $(imds autoscaling/target-lifecycle-state 2>/dev/null || true) == Terminated ]]; do
    now=$(date +%s)
    if (($(running_tasks) > 0)); then
      want=true
      idle_since=${now}
    elif [[ ${protected} != true ]] || ((now - idle_since >= IDLE_SECONDS)); then
      want=false
    else
      want=true
    fi
    if [[ ${want} != "${protected}" ]] && set_protection "${want}"; then
      protected=${want}
    fi
    sleep "${POLL_SECONDS}"
  done
}

worker_is_running() {
  case "$(systemctl show --property=ActiveState --value "${WORKER_UNIT}")" in
    active | activating | deactivating | reloading) return 0 ;;
    *) return 1 ;;
  esac
}

drain_deadline() {
  if [[ ! -s ${DEADLINE_FILE} ]]; then
    install -d -m 0755 "$(dirname "${DEADLINE_FILE}")"
    echo $(($(date +%s) + TURBINE_DRAIN_TIMEOUT)) >"${DEADLINE_FILE}"
  fi
  cat "${DEADLINE_FILE}"
}

lifecycle_action() {
  local action=$1
  shift
  aws autoscaling "${action}" --auto-scaling-group-name "${group}" \
    --lifecycle-hook-name "${TURBINE_LIFECYCLE_HOOK_NAME}" --instance-id "${instance_id}" "$@"
}

# The group is asked of Auto Scaling, not read from the instance's aws:autoscaling:groupName tag in
# its metadata: the launch templates keep tags out of instance metadata (see turbine-workerset.yaml),
# and EC2's documentation never says that it serves aws: tags there.
own_group() {
  local name
  until name=$(aws autoscaling describe-auto-scaling-instances --instance-ids "${instance_id}" \
    --query 'AutoScalingInstances[0].AutoScalingGroupName' --output text) && [[ -n ${name} && ${name} != None ]]; do
    log "could not find this instance's Auto Scaling group; trying again"
    sleep "${POLL_SECONDS}"
  done
  echo "${name}"
}

main() {
  instance_id=$(imds instance-id)
  group=$(own_group)
  protect_while_busy_until_terminated
  local deadline next_heartbeat now
  deadline=$(drain_deadline)
  log "termination requested; draining ${WORKER_UNIT} until $(date -u -d "@${deadline}" +%FT%TZ)"
  # The worker may not be installed yet (terminated while booting, or its boot failed).
  systemctl stop --no-block "${WORKER_UNIT}" || log "${WORKER_UNIT} is not running"

  next_heartbeat=0
  while worker_is_running; do
    now=$(date +%s)
    if ((now >= deadline)); then
      log "DrainTimeout reached with tasks still running"
      break
    fi
    if ((now >= next_heartbeat)); then
      lifecycle_action record-lifecycle-action-heartbeat || log "heartbeat failed"
      next_heartbeat=$((now + HEARTBEAT_SECONDS))
    fi
    sleep "${POLL_SECONDS}"
  done

  lifecycle_action complete-lifecycle-action --lifecycle-action-result CONTINUE
  log "lifecycle action completed"
  # Nothing is left to do; staying up keeps Restart=always from starting a second drain.
  exec sleep infinity
}

main "$@"
