"""spec.airflow.dags as Airflow's bundle list (core.render.dag_bundles), and the scheduler's report on it as
status.dags and events (core/airflow/dag_report.py, operations/airflow/dag_report.py)."""

from __future__ import annotations

import base64
import dataclasses
import datetime
import json
from collections.abc import Mapping
from typing import Any

from turbine_operator.adapters.aws.stack_secrets import SecretValue
from turbine_operator.core.airflow.dag_report import dags_announcement, dags_status
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.core.plan.scheduling import follow_up_due
from turbine_operator.core.render.dag_bundles import (
    dag_bucket_parameter,
    dag_bundle_config,
    dag_bundle_parameter,
)
from turbine_operator.operations.airflow.dag_report import observe_dags
from turbine_operator.operations.turbine_stack import Outcome
from unit.test_spec import MINIMAL, parse

REPO = "https://git.example.com/data/dags.git"
LOCAL = {
    "name": "dags-folder",
    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
    "kwargs": {},
}


def spec(dags: object) -> Any:
    return parse({**MINIMAL, "airflow": {"dags": dags}})


def test_no_dag_source_keeps_airflows_default() -> None:
    assert dag_bundle_config(parse(MINIMAL)) is None
    assert dag_bundle_parameter(parse(MINIMAL)) == ""
    assert dag_bucket_parameter(parse(MINIMAL)) == ""


def test_a_git_source_is_a_git_bundle_after_the_dags_folder() -> None:
    config = dag_bundle_config(
        spec({"git": {"url": REPO, "ref": "release", "subdir": "dags"}, "refreshSeconds": 30})
    )
    assert config == [
        LOCAL,
        {
            "name": "turbine-dags",
            "classpath": "airflow.providers.git.bundles.git.GitDagBundle",
            "kwargs": {"repo_url": REPO, "tracking_ref": "release", "subdir": "dags", "refresh_interval": 30},
        },
    ]


def test_an_s3_source_is_read_with_the_instance_role() -> None:
    source = spec({"s3": {"bucket": "dags-bucket", "prefix": "team/"}})
    assert dag_bundle_config(source) == [
        LOCAL,
        {
            "name": "turbine-dags",
            "classpath": "airflow.providers.amazon.aws.bundles.s3.S3DagBundle",
            "kwargs": {
                "bucket_name": "dags-bucket",
                "prefix": "team/",
                "aws_conn_id": None,
                "refresh_interval": 60,
            },
        },
    ]
    assert dag_bucket_parameter(source) == "dags-bucket"


def test_the_parameter_is_base64_of_the_config_so_an_env_file_keeps_it_intact() -> None:
    source = spec({"git": {"url": REPO}})
    parameter = dag_bundle_parameter(source)
    assert set(parameter) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
    assert json.loads(base64.b64decode(parameter)) == dag_bundle_config(source)


NOW = datetime.datetime(2026, 11, 26, 10, 0, tzinfo=datetime.UTC)
STACK = ObservedStack(
    "id", "s", "UPDATE_COMPLETE", None, {}, {"DagsReportParameter": "/turbine/s/dags-report"}, False
)
GOOD = {"revision": "a" * 40, "refreshed": "2026-11-26T09:59:00+00:00", "importErrors": []}
BROKEN = {
    "revision": "b" * 40,
    "refreshed": "2026-11-26T09:59:30+00:00",
    "importErrors": [{"file": "broken.py", "error": "ModuleNotFoundError: No module named 'x'"}],
}


def look(
    status: Mapping[str, Any], report: Mapping[str, Any] | None, *, watched: bool = True
) -> tuple[Outcome, list[str]]:
    reads: list[str] = []

    def read(parameter: str) -> Mapping[str, Any] | None:
        reads.append(parameter)
        return report

    outcome = observe_dags(
        Outcome(status={}), watched=watched, stack=STACK, status=status, read_report=read, now=NOW
    )
    return outcome, reads


def test_the_report_becomes_status_dags_with_an_event_for_a_new_revision() -> None:
    outcome, reads = look({}, GOOD)
    assert reads == ["/turbine/s/dags-report"]
    assert outcome.status["dags"] == {
        "revision": "a" * 40,
        "refreshedTime": "2026-11-26T09:59:00Z",
        "importErrors": [],
        "checkedTime": "2026-11-26T10:00:00Z",
    }
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "DagsDeployed"
    assert not outcome.announcement.warning


def test_a_broken_revision_is_a_warning_once() -> None:
    before = dags_status(GOOD, "2026-11-26T09:50:00Z")
    outcome, _ = look({"dags": before}, BROKEN)
    assert outcome.announcement is not None
    assert outcome.announcement.warning
    assert outcome.announcement.reason == "DagImportErrors"
    assert "broken.py" in outcome.announcement.message
    again = dags_status(BROKEN, "2026-11-26T10:02:00Z")
    assert dags_announcement(outcome.status["dags"], again) is None


def test_the_report_is_read_every_two_minutes_only() -> None:
    recent = {"dags": dags_status(GOOD, "2026-11-26T09:59:00Z")}
    _, reads = look(recent, GOOD)
    assert reads == []
    assert not follow_up_due({**recent, "lastSyncTime": "2026-11-26T09:59:00Z"}, NOW, 600)
    older = {"dags": dags_status(GOOD, "2026-11-26T09:57:59Z"), "lastSyncTime": "2026-11-26T09:59:00Z"}
    assert follow_up_due(older, NOW, 600)
    _, reads = look(older, GOOD)
    assert reads == ["/turbine/s/dags-report"]


def test_dropping_the_source_clears_the_status_without_a_call() -> None:
    outcome, reads = look({"dags": dags_status(GOOD, "2026-11-26T09:00:00Z")}, GOOD, watched=False)
    assert outcome.status == {"dags": None}
    assert reads == []


def test_a_missing_report_reads_as_nothing_deployed_yet() -> None:
    outcome, _ = look({}, None)
    assert outcome.status["dags"]["revision"] is None
    assert outcome.announcement is None


TOKEN = "ghp_not-a-real-token"


def with_token(version: str = "1") -> tuple[Any, dict[Any, Any]]:
    from turbine_operator.core.render.references import Fetched, SourceKind  # noqa: PLC0415

    source = spec(
        {"git": {"url": REPO, "credentials": {"passwordSecretKeyRef": {"name": "git", "key": "token"}}}}
    )
    return source, {(SourceKind.SECRET, "git", "token"): Fetched(f"{TOKEN}\n".encode(), f"fp-{version}")}


def test_credentials_become_the_turbine_dags_connection_and_the_bundle_uses_it() -> None:
    from turbine_operator.core.airflow.dag_connection import desired_connection  # noqa: PLC0415

    source, fetched = with_token()
    connection = desired_connection(source, fetched)
    assert connection is not None
    assert TOKEN not in repr(connection)
    assert TOKEN not in connection.version
    assert json.loads(connection.document) == {
        "conn_type": "git",
        "host": REPO,
        "login": "git",
        "password": TOKEN,
        "version": connection.version,
    }
    [_, git] = dag_bundle_config(source) or []
    assert git["kwargs"]["git_conn_id"] == "turbine_dags"
    # A new Secret version is a new connection version; no credentials, no connection.
    other = desired_connection(*with_token("2"))
    assert other is not None
    assert other.version != connection.version
    assert desired_connection(spec({"git": {"url": REPO}}), {}) is None
    assert (
        "git_conn_id"
        not in (dag_bundle_config(spec({"git": {"url": REPO}})) or [{}, {"kwargs": {}}])[1]["kwargs"]
    )


def test_the_connection_is_published_once_per_version() -> None:
    from turbine_operator.core.airflow.dag_connection import desired_connection  # noqa: PLC0415
    from turbine_operator.operations.airflow.dag_connection import publish_connection  # noqa: PLC0415

    connection = desired_connection(*with_token())
    assert connection is not None
    stack = ObservedStack("id", "s", "UPDATE_COMPLETE", None, {}, {"DagsConnectionSecretArn": "arn:x"}, False)
    calls: list[str] = []

    class Store:
        def published(self, secret_arn: str) -> SecretValue:
            calls.append(f"GetSecretValue {secret_arn}")
            return SecretValue(None, "v0")

        def publish(self, secret_arn: str, version: str, document: str, replaces: str) -> None:
            calls.append(f"PutSecretValue {secret_arn} {version} over {replaces}")

    outcome = publish_connection(
        Outcome(status={"dags": {"revision": "r"}}), connection, stack=stack, status={}, store=Store
    )
    assert calls == ["GetSecretValue arn:x", f"PutSecretValue arn:x {connection.version} over v0"]
    assert outcome.status["dags"] == {
        "revision": "r",
        "credentialsVersion": connection.version,
        "credentialsSecretArn": "arn:x",
    }
    assert TOKEN not in json.dumps(outcome.status)
    calls.clear()
    publish_connection(Outcome(status={}), connection, stack=stack, status=outcome.status, store=Store)
    assert calls == []
    # A new connection secret (the stack created again) is written again.
    other = dataclasses.replace(stack, outputs={"DagsConnectionSecretArn": "arn:y"})
    publish_connection(Outcome(status={}), connection, stack=other, status=outcome.status, store=Store)
    assert calls[-1] == f"PutSecretValue arn:y {connection.version} over v0"


def test_a_stack_without_the_report_output_is_stamped_not_looked_at_every_tick() -> None:
    bare = ObservedStack("id", "s", "CREATE_IN_PROGRESS", None, {}, {}, False)
    outcome = observe_dags(
        Outcome(status={}), watched=True, stack=bare, status={}, read_report=lambda _: None, now=NOW
    )
    assert outcome.status["dags"]["checkedTime"] == "2026-11-26T10:00:00Z"


def test_dropping_the_credentials_empties_the_connection_secret() -> None:
    from turbine_operator.operations.airflow.dag_connection import publish_connection  # noqa: PLC0415

    written: list[str] = []

    class Store:
        def published(self, secret_arn: str) -> SecretValue:
            return SecretValue({"version": "v", "password": TOKEN}, "v1")

        def publish(self, secret_arn: str, version: str, document: str, replaces: str) -> None:
            written.append(f"{secret_arn} {document} over {replaces}")

    status = {"dags": {"credentialsVersion": "v", "credentialsSecretArn": "arn:x"}}
    outcome = publish_connection(Outcome(status={}), None, stack=STACK, status=status, store=Store)
    assert written == ["arn:x {} over v1"]
    assert outcome.status["dags"] == {"credentialsVersion": None, "credentialsSecretArn": None}
