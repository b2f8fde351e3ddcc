"""What the rehearsal checks once every instance has booted.

The harness acts as the people around the cluster would: an administrator creates the first
user through Session Manager (here: a command inside the webserver instance), DAGs arrive as a
CodeDeploy revision in the deployments bucket (the agent is stood in for by
`standin codedeploy-agent`), a user triggers runs through the REST API, and Auto Scaling
terminates a worker (its target lifecycle state, read through the metadata service).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import secrets
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from turbine_dev.aws.metric_time import deployed_scale_out
from turbine_dev.rehearsal.airflow_config import config_reaches_every_role
from turbine_dev.rehearsal.burst import burst
from turbine_dev.rehearsal.cluster import BootFailure, Cluster, Instance
from turbine_dev.rehearsal.dag_files import DAG_FILES, MARKER, REVISION_KEY
from turbine_dev.rehearsal.git_dags import dags_follow_the_repository, publish_credentials
from turbine_dev.rehearsal.host import role_credentials
from turbine_dev.rehearsal.users import users_follow_the_spec


class Api:
    """The Airflow REST API through the webserver's load balancer."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.base = base
        self.token = self._call("POST", "/auth/token", {"username": username, "password": password})[
            "access_token"
        ]

    def _call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - the rehearsal's own loopback network
            self.base + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Accept": "application/json"}
            | ({"Authorization": f"Bearer {token}"} if token else {}),
        )
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
            return json.loads(reply.read() or b"null")

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self._call(method, path, body, self.token)

    def trigger(self, dag_id: str) -> str:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run_id = f"rehearsal-{secrets.token_hex(4)}"
        now = datetime.datetime.now(datetime.UTC).isoformat()
        self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"dag_run_id": run_id, "logical_date": now})
        return run_id

    def task_state(self, dag_id: str, run_id: str, task_id: str) -> str | None:
        answer = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        state = answer.get("state")
        return None if state is None else str(state)

    def wait_for_task(self, dag_id: str, run_id: str, task_id: str, states: set[str], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            state = self.task_state(dag_id, run_id, task_id)
            if state in states:
                return state
            if state in ("failed", "upstream_failed") and "failed" not in states:
                break
            time.sleep(2)
        raise BootFailure(f"{dag_id}.{task_id} ended {state}, not {sorted(states)}")

    def log(self, dag_id: str, run_id: str, task_id: str) -> str:
        answer = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1")
        return json.dumps(answer)


def revision() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        # JSON is YAML: appspec.yml as CodeDeploy reads it.
        archive.writestr("appspec.yml", json.dumps({
            "version": 0.0, "os": "linux",
            "files": [{"source": "dags", "destination": "/airflow/dags"}],
            "file_exists_behavior": "OVERWRITE",
            "permissions": [{"object": "/airflow/dags", "owner": "airflow", "group": "airflow"}],
        }))  # fmt: skip
        for name, text in DAG_FILES.items():
            archive.writestr(f"dags/{name}", text)
    return buffer.getvalue()


def deploy_dags(cluster: Cluster) -> None:
    bucket = cluster.outputs["DeploymentsBucketName"]
    cluster.aws.client("s3").put_object(Bucket=bucket, Key=REVISION_KEY, Body=revision())
    for instance in cluster.instances:
        # The agent is a service: it has the manager's DefaultEnvironment (the embedded AWS endpoint).
        result = instance.run(
            ["codedeploy-agent-standin", bucket, REVISION_KEY],
            check=False,
            extra_env={"AWS_ENDPOINT_URL": cluster.aws.endpoint_url},
        )
        if result.returncode != 0:
            raise BootFailure(f"{instance.role}: deployment failed\n{result.stdout}{result.stderr}")


def forbidden_values(cluster: Cluster) -> dict[str, str]:
    """Database passwords and the JWT secret, by what they are."""
    manager = cluster.aws.client("secretsmanager")
    found: dict[str, str] = {}
    for secret in manager.list_secrets()["SecretList"]:
        value = manager.get_secret_value(SecretId=secret["ARN"])["SecretString"]
        description = secret.get("Description", "")
        try:
            document = json.loads(value)
        except ValueError:
            document = None
        if isinstance(document, dict) and document.get("password"):
            found[f"database password ({secret['Name']})"] = str(document["password"])
        elif "JWT" in description:
            found["JWT secret"] = value
    return found


def processes_of(instance: Instance) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/net") == instance.netns:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def task_processes(worker: Instance, command: str) -> list[int]:
    """The process running `command` and its ancestors up to the Celery worker's pool."""
    chain: list[int] = []
    for pid in processes_of(worker):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip().decode() == command:
                current = pid
                while current > 1:
                    chain.append(current)
                    cmdline = Path(f"/proc/{current}/cmdline").read_bytes()
                    if b"celery" in cmdline and b"worker" in cmdline:
                        break
                    current = int(Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
    return chain


def lifecycle_actions(cluster: Cluster) -> list[dict[str, Any]]:
    path = cluster.workdir / "lifecycle-actions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def run_scenarios(  # noqa: PLR0912, PLR0915 - one scenario after the other, as the report lists them
    cluster: Cluster, report: dict[str, Any], first_boot: float, only: str = ""
) -> None:
    checks, figures = report["checks"], report["figures"]
    port = int(cluster.parameters.get("WebServerPort", "8080"))
    [web, *_] = [i for i in cluster.instances if i.role == "webserver"]
    workers = [i for i in cluster.instances if i.role == "workerset"]
    password = secrets.token_urlsafe(16)
    web.run(["runuser", "-u", "airflow", "--", "/usr/local/bin/airflow", "users", "create", "--username",
             "admin", "--password", password, "--firstname", "Re", "--lastname", "Hearsal", "--role", "Admin",
             "--email", "admin@example.com"])  # fmt: skip
    deploy_dags(cluster)
    checks["airflow_config_reaches_every_role"] = config_reaches_every_role(cluster, report)
    from turbine_dev.rehearsal.host import network  # noqa: PLC0415

    base = f"http://{network.LOAD_BALANCER}:{port}"
    api = Api(base, "admin", password)
    if only == "burst":  # a narrow run: the burst alone on the booted cluster
        # The DAG processor parses no bundle until the git bundle's credentials are published.
        publish_credentials(cluster, report)
        burst(cluster, api, report)
        return
    try:
        users_follow_the_spec(cluster, base, report)
    except BootFailure as failure:  # reported; the scenarios after it do not depend on it
        checks.setdefault("declared_users_log_in_with_their_secret_passwords", False)
        checks.setdefault("no_user_password_in_report_status_events_or_logs", False)
        report["airflow_users_failure"] = str(failure)
    deadline = time.monotonic() + 600
    while True:
        try:
            api.call("GET", "/api/v2/dags/rehearsal_celery")
            api.call("GET", "/api/v2/dags/rehearsal_deferrable")
            api.call("GET", "/api/v2/dags/rehearsal_long")
            break
        except urllib.error.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)

    try:
        dags_follow_the_repository(cluster, api, report)
    except BootFailure as failure:  # reported; the scenarios after it do not depend on it
        checks.setdefault("broken_commit_reported_in_status_and_events", False)
        checks.setdefault("dag_from_git_runs_to_success", False)
        report["dags_failure"] = str(failure)

    # A Celery task through the SQS queue, its log in S3 and through the REST API.
    run_id = api.trigger("rehearsal_celery")
    api.wait_for_task("rehearsal_celery", run_id, "hello", {"success"}, 900)
    figures["first_dag_success_seconds_from_first_boot"] = round(time.monotonic() - first_boot, 1)
    checks["celery_task_succeeded"] = True
    # The worker uploads the log as the task's log handler closes, which may follow the state change.
    s3 = cluster.aws.client("s3")
    logged: list[str] = []
    keys: list[str] = []
    deadline = time.monotonic() + 120
    while not logged and time.monotonic() < deadline:
        listing = s3.list_objects_v2(Bucket=cluster.outputs["LogsBucketName"])
        keys = [o["Key"] for o in listing.get("Contents", [])]
        logged = [k for k in keys if "rehearsal_celery" in k]
        time.sleep(2)
    report["task_log_keys"] = logged or keys
    checks["task_log_in_logs_bucket"] = bool(logged)
    checks["task_log_served_by_rest_api"] = MARKER in api.log("rehearsal_celery", run_id, "hello")

    # A deferrable sensor resumes only if the triggerer fires its trigger.
    run_id = api.trigger("rehearsal_deferrable")
    api.wait_for_task("rehearsal_deferrable", run_id, "wait", {"success"}, 600)
    checks["deferrable_task_succeeded_through_triggerer"] = (
        "TaskDeferred" in api.log("rehearsal_deferrable", run_id, "wait")
        or "defer" in api.log("rehearsal_deferrable", run_id, "wait").lower()
    )

    if not workers:
        raise BootFailure("no worker booted (the group's MinSize is 0?)")
    worker = workers[0]
    protection_follows_the_tasks(cluster, api, worker, report)

    # Scale-in while a 60 s task runs.
    run_id = api.trigger("rehearsal_long")
    api.wait_for_task("rehearsal_long", run_id, "sleep", {"running"}, 600)
    chain: list[int] = []
    deadline = time.monotonic() + 60
    while not chain and time.monotonic() < deadline:
        chain = task_processes(worker, "sleep 60")
        time.sleep(0.5)
    forbidden = forbidden_values(cluster)
    leaks = {}
    for pid in chain:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        leaks[pid] = [name for name, value in forbidden.items() if value.encode() in environ]
    report["task_process_environment"] = {
        "processes": len(chain),
        "checked_for": sorted(forbidden),
        "found": leaks,
    }
    checks["task_processes_hold_no_database_password_or_jwt_secret"] = bool(chain) and not any(leaks.values())

    drain_timeout = float(cluster.parameters.get("DrainTimeout") or _default(cluster, "DrainTimeout"))
    requested = time.time()
    (worker.meta / "target-lifecycle-state").write_text("Terminated\n")
    # A task queued once the drain began must not start on the draining worker.
    time.sleep(15)
    late_run = api.trigger("rehearsal_celery")
    deadline = time.monotonic() + drain_timeout + 120
    completed: list[dict[str, Any]] = []
    while not completed and time.monotonic() < deadline:
        completed = [a for a in lifecycle_actions(cluster)
                     if a["action"] == "CompleteLifecycleAction"
                     and a["instance"] == worker.instance_id]  # fmt: skip
        time.sleep(1)
    checks["lifecycle_action_completed"] = bool(completed) and completed[0]["result"] == "CONTINUE"
    if completed:
        figures["drain_seconds"] = round(completed[0]["time"] - requested, 1)
        checks["drain_well_before_drain_timeout"] = figures["drain_seconds"] < drain_timeout / 2
    figures["drain_timeout_seconds"] = drain_timeout
    checks["long_task_succeeded_through_drain"] = (
        api.task_state("rehearsal_long", run_id, "sleep") == "success"
    )
    late_state = api.task_state("rehearsal_celery", late_run, "hello")
    report["task_queued_during_drain"] = late_state
    checks["draining_worker_took_no_new_task"] = late_state in (None, "scheduled", "queued")
    # The task queued during the drain now waits for a worker that no longer exists.
    scale_out_from_zero(cluster, api, late_run, report)
    # From the worker the decision above added: a backlog of many times what it holds.
    burst(cluster, api, report)
    if not all(checks.values()):
        report["logs"] = {i.instance_id: i.log(40) for i in cluster.instances}


def _protected(cluster: Cluster, worker: Instance) -> bool | None:
    [group] = cluster.aws.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[worker.group]
    )["AutoScalingGroups"]
    for instance in group.get("Instances", []):
        if instance["InstanceId"] == worker.instance_id:
            return bool(instance.get("ProtectedFromScaleIn"))
    return None


def _until(predicate: Callable[[], bool], timeout: float) -> float | None:
    """Seconds until `predicate` held, or None if it did not within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if predicate():
            return round(time.monotonic() - started, 1)
        time.sleep(1)
    return None


def protection_follows_the_tasks(
    cluster: Cluster, api: Api, worker: Instance, report: dict[str, Any]
) -> None:
    """The worker protects itself from scale-in while a task runs and clears it once idle, as the
    embedded Auto Scaling records it (SetInstanceProtection from turbine-worker-drain.sh)."""
    checks, figures = report["checks"], report["figures"]
    checks["idle_worker_not_protected"] = _until(lambda: _protected(cluster, worker) is False, 60) is not None
    run_id = api.trigger("rehearsal_long")
    api.wait_for_task("rehearsal_long", run_id, "sleep", {"running"}, 600)
    protected_after = _until(lambda: _protected(cluster, worker) is True, 45)
    checks["busy_worker_protected_from_scale_in"] = protected_after is not None
    figures["protected_seconds_after_task_started"] = protected_after
    api.wait_for_task("rehearsal_long", run_id, "sleep", {"success"}, 300)
    # Cleared after 30 s without a task (turbine-worker-drain.sh), checked every 5 s.
    released_after = _until(lambda: _protected(cluster, worker) is False, 90)
    # Only a worker that was protected can show that it lets go.
    checks["worker_unprotected_once_idle"] = protected_after is not None and released_after is not None
    figures["unprotected_seconds_after_task_ended"] = released_after


# The bound cfn/README.md states for a decision to add a worker: the next whole minute's invocation
# of the load function, then one 60 s alarm period.
SCALE_OUT_DECISION_BOUND = 120.0


def scale_out_from_zero(cluster: Cluster, api: Api, run_id: str, report: dict[str, Any]) -> None:
    """A task queued on an empty worker set: the deployed load function, alarms and policies, evaluated in
    simulated metric time (turbine_dev.aws.metric_time), decide to add a worker within the bound."""
    checks, figures = report["checks"], report["figures"]
    group = cluster.outputs["WorkerAutoScalingGroupName"]
    clients = {name: cluster.aws.client(name) for name in ("lambda", "cloudwatch", "autoscaling", "sqs")}
    # The drained worker has left; the group is at zero, as with the default MinGroupSize of 0.
    clients["autoscaling"].update_auto_scaling_group(AutoScalingGroupName=group, MinSize=0, DesiredCapacity=0)
    instance = api.call("GET", f"/api/v2/dags/rehearsal_celery/dagRuns/{run_id}/taskInstances/hello")
    queued_at = datetime.datetime.fromisoformat(instance.get("queued_when") or instance["start_date"])
    outcome = deployed_scale_out(
        clients, group, queued_at, as_role=lambda role, name: _as_role(cluster, role, name)
    )
    figures["scale_out_decision_seconds_of_metric_time"] = outcome.decision.seconds
    figures["scale_out_decision_bound_seconds"] = SCALE_OUT_DECISION_BOUND
    report["scale_out_from_zero"] = {
        "task_state": api.task_state("rehearsal_celery", run_id, "hello"),
        "queued_at": queued_at.isoformat(),
        "decided_at": outcome.decision.decided_at.isoformat() if outcome.decision.decided_at else None,
        "alarm": outcome.alarm,
        "desired_capacity_after": outcome.desired_capacity,
    }
    seconds = outcome.decision.seconds
    checks["queued_task_on_empty_workers_scales_out_within_bound"] = (
        seconds is not None and seconds <= SCALE_OUT_DECISION_BOUND and outcome.desired_capacity == 1
    )


def _as_role(cluster: Cluster, role_arn: str, function: str) -> dict[str, Any]:
    """The clients the load function calls AWS with: its execution role's credentials, as Lambda gives them,
    so that the embedded AWS evaluates the role's policies on each call (services/iam_enforcement.py)."""
    credentials = role_credentials.issue(
        cluster.workdir,
        role_credentials.Session(role=role_arn.rpartition("/")[2], label="cluster-load", session=function),
    )
    session = (credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["Token"])
    return {name: cluster.aws.client(name, session=session) for name in ("sqs", "autoscaling", "cloudwatch")}


def _default(cluster: Cluster, name: str) -> str:
    for template in cluster.templates.values():
        declared = template.get("Parameters", {}).get(name)
        if declared and "Default" in declared:
            return str(declared["Default"])
    return "600"
