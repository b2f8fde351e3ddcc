"""The rehearsal's DAG-source scenario: DAGs from the private git repository of spec.airflow.dags.

The stack was created with the repository as its turbine-dags bundle (run.py). Its token is published as
the operator does (publish_credentials), after the instances booted, as on AWS: the DAG processor started
with an empty connection and turbine-dags-connection.sh restarts it. A DAG of the first commit then runs to
success, fetched with the token; a new commit is picked up with no stack update and a run after it runs the
new code; a commit with a broken DAG reaches the status the operator writes, through the scheduler's report
and the operator's own observe_dags against the embedded AWS.
"""

from __future__ import annotations

import datetime
import time
import urllib.error
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from turbine_dev.rehearsal.cluster import BootFailure, Cluster
from turbine_dev.rehearsal.services.dag_repository import BROKEN_DAG, MARKER, SECRET, git_dag
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.reports import ReportReader
from turbine_operator.adapters.aws.stack_secrets import StackSecrets
from turbine_operator.core.airflow.dag_connection import desired_connection
from turbine_operator.core.airflow.dag_report import STATUS_KEY
from turbine_operator.core.api.spec import parse_spec
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.core.render.references import SourceKind, StoredObject
from turbine_operator.operations.airflow.dag_connection import publish_connection
from turbine_operator.operations.airflow.dag_report import observe_dags
from turbine_operator.operations.stack.references import fetch_references
from turbine_operator.operations.turbine_stack import Outcome

if TYPE_CHECKING:
    from turbine_dev.rehearsal.scenarios import Api

DAG = "rehearsal_git"
TIMEOUT = 300.0


def _until(what: str, probe: Callable[[], Any], timeout: float = TIMEOUT) -> tuple[Any, float]:
    started = time.monotonic()
    while True:
        try:
            value = probe()
        except urllib.error.HTTPError:
            value = None
        if value:
            return value, round(time.monotonic() - started, 1)
        if time.monotonic() - started > timeout:
            raise BootFailure(f"not within {timeout:.0f} s: {what}")
        time.sleep(2)


def _dag_at(api: Api, revision: str) -> bool:
    return bool(api.call("GET", f"/api/v2/dags/{DAG}").get("bundle_version") == revision)


def _run(api: Api, report: dict[str, Any]) -> tuple[str, str, str]:
    """Triggers the DAG; returns the run's state, its pinned revision and its task log."""
    run_id = api.trigger(DAG)
    state = api.wait_for_task(DAG, run_id, "which", {"success", "failed"}, 600)
    pinned = str(api.call("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}").get("bundle_version"))

    # The worker uploads the log as the task's log handler closes, which may follow the state change.
    def marked_log() -> str:
        text = api.log(DAG, run_id, "which")
        return text if MARKER in text else ""

    try:
        log, _ = _until("the task's log", marked_log, 120)
    except BootFailure:
        log = api.log(DAG, run_id, "which")
    report.setdefault("git_runs", []).append({"state": state, "pinned": pinned, "marker": MARKER in log})
    return state, pinned, log


class Operator:
    """observe_dags as the reconciler calls it, with the status it would write kept here."""

    def __init__(self, cluster: Cluster) -> None:
        self.read = ReportReader(AwsSessions(), cluster.aws.region, None).read
        self.stack = ObservedStack(
            stack_id=cluster.master_stack, name=cluster.master_stack, status="CREATE_COMPLETE",
            status_reason=None, tags={}, outputs=dict(cluster.outputs), termination_protection=False,
        )  # fmt: skip
        self.status: dict[str, Any] = {}
        self.announcements: list[Any] = []

    def look(self) -> dict[str, Any]:
        # Every look is due here; the operator's own pace is DAGS_CHECK_SECONDS.
        status = {STATUS_KEY: {**(self.status.get(STATUS_KEY) or {}), "checkedTime": None}}
        outcome = observe_dags(
            Outcome(status={}), watched=True, stack=self.stack, status=status, read_report=self.read,
            now=datetime.datetime.now(datetime.UTC),
        )  # fmt: skip
        if outcome.announcement is not None:
            self.announcements.append(outcome.announcement)
        self.status[STATUS_KEY] = outcome.status[STATUS_KEY]
        return dict(self.status[STATUS_KEY])


class RepositorySecret:
    """The namespace's Secret holding the repository's token, as the operator's ObjectReader returns it."""

    def __init__(self, token: str) -> None:
        self.token = token

    def read(self, kind: SourceKind, namespace: str, name: str) -> StoredObject | None:
        if kind is SourceKind.SECRET and name == SECRET:
            return StoredObject(
                uid="rehearsal-token", resource_version="1", data={"token": self.token.encode()}
            )
        return None


def publish_credentials(cluster: Cluster, report: dict[str, Any]) -> None:
    """What the operator does once the stack exists: the token goes to the stack's connection secret."""
    repository = cluster.dags
    assert repository is not None
    raw = {"templateBucket": {"name": "rehearsal"}, "airflow": {"dags": repository.spec()}}
    spec = parse_spec(raw, namespace="default", name="rehearsal", default_region=cluster.aws.region)
    fetched = fetch_references(spec, "default", RepositorySecret(repository.token), None)
    outcome = publish_connection(
        Outcome(status={}),
        desired_connection(spec, fetched),
        stack=Operator(cluster).stack,
        status={},
        store=lambda: StackSecrets(AwsSessions(), cluster.aws.region, None),
    )
    report["dag_credentials_version"] = outcome.status["dags"]["credentialsVersion"]


def dags_follow_the_repository(cluster: Cluster, api: Api, report: dict[str, Any]) -> None:
    checks, figures = report["checks"], report["figures"]
    repository = cluster.dags
    if repository is None:
        raise BootFailure("the rehearsal's stack has no DAG repository")
    first = report["git_revisions"][0]
    # As on AWS: the operator publishes the token once the stack exists, after the scheduler booted, so the
    # DAG processor first met an empty connection (turbine-dags-connection.sh restarts it).
    publish_credentials(cluster, report)
    _, figures["credentials_to_dag_seconds"] = _until("the first commit's DAG", lambda: _dag_at(api, first))
    state, pinned, log = _run(api, report)
    checks["dag_from_git_runs_to_success"] = state == "success" and f"{MARKER}-v1" in log and pinned == first
    # The server refuses requests without the token: these fetches came from the published credentials.
    assert repository.server is not None
    figures["authenticated_git_fetches"] = repository.server.authenticated_fetches()
    checks["private_repository_read_with_the_published_credentials"] = figures[
        "authenticated_git_fetches"
    ] > 0 and repository.token not in "\n".join(i.log(400) for i in cluster.instances)

    second = repository.commit({f"{DAG}.py": git_dag("v2")}, "v2")
    report["git_revisions"].append(second)
    _, figures["git_commit_to_dag_seconds"] = _until("the second commit's DAG", lambda: _dag_at(api, second))
    state, pinned, log = _run(api, report)
    checks["new_commit_runs_the_new_version"] = (
        state == "success" and f"{MARKER}-v2" in log and pinned == second
    )

    operator = Operator(cluster)
    third = repository.commit({"broken.py": BROKEN_DAG}, "a broken DAG")
    report["git_revisions"].append(third)

    def reported() -> dict[str, Any] | None:
        status = operator.look()
        files = {entry["file"] for entry in status.get("importErrors") or []}
        return status if status.get("revision") == third and "broken.py" in files else None

    status, figures["broken_commit_to_status_seconds"] = _until("the broken DAG in status", reported)
    report["dags_status"] = status
    warned = [a for a in operator.announcements if a.reason == "DagImportErrors" and a.warning]
    checks["broken_commit_reported_in_status_and_events"] = bool(warned)
    report["dags_events"] = [f"{a.reason}: {a.message}" for a in operator.announcements]
