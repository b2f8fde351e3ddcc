"""core and operations airflow.airflow_users: what the operator publishes for spec.airflow.users,
when, and what it writes to status; with a store that records the calls instead of AWS."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping
from typing import Any

import pytest

from turbine_operator.adapters.aws.stack_secrets import SecretValue
from turbine_operator.core.airflow.airflow_users import (
    REPORT_OUTPUT,
    SECRET_OUTPUT,
    UsersStep,
    desired_users,
    removed_users,
    users_status,
    users_step,
)
from turbine_operator.core.api.spec_additions import KeyRef
from turbine_operator.core.errors import AwsNotFound, SpecError
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.core.plan.scheduling import follow_up_due
from turbine_operator.core.render.references import Fetched, SourceKind
from turbine_operator.operations.airflow.airflow_users import STATUS_KEY, converge_users
from turbine_operator.operations.turbine_stack import Outcome
from unit.test_spec import MINIMAL, parse

ADA_PASSWORD = "correct horse battery staple"
ARN = "arn:aws:secretsmanager:eu-west-1:1:secret:x"
NOW = datetime.datetime(2026, 11, 26, 10, 0, tzinfo=datetime.UTC)


def spec_with(*names: str, role: str = "Viewer") -> Any:
    users = [
        {
            "username": name,
            "email": f"{name}@example.com",
            "role": role,
            "passwordSecretKeyRef": {"name": "users", "key": name},
        }
        for name in names
    ]
    return parse({**MINIMAL, "airflow": {"users": users}})


def fetched(version: str = "1", **passwords: str) -> dict[Any, Fetched]:
    return {
        (SourceKind.SECRET, "users", name): Fetched(password.encode(), f"fp-{name}-{version}")
        for name, password in passwords.items()
    }


def test_the_version_follows_declared_fields_and_secret_versions_never_passwords() -> None:
    one = desired_users(spec_with("ada"), fetched(ada=ADA_PASSWORD))
    assert one is not None
    same_version_other_password = desired_users(spec_with("ada"), fetched(ada="another"))
    new_secret_version = desired_users(spec_with("ada"), fetched("2", ada=ADA_PASSWORD))
    new_role = desired_users(spec_with("ada", role="Admin"), fetched(ada=ADA_PASSWORD))
    assert same_version_other_password is not None
    assert new_secret_version is not None
    assert new_role is not None
    # The Secret's object version stands for its content: a new password arrives with a new version.
    assert one.version == same_version_other_password.version
    assert len({one.version, new_secret_version.version, new_role.version}) == 3
    assert ADA_PASSWORD not in repr(one)


def test_no_users_field_means_no_management() -> None:
    assert desired_users(parse(MINIMAL), {}) is None


@pytest.mark.parametrize("password", ["", " padded", "x" * 257, b"\xff"])
def test_an_unusable_password_names_the_field(password: str | bytes) -> None:
    content = password if isinstance(password, bytes) else password.encode()
    with pytest.raises(SpecError) as caught:
        desired_users(spec_with("ada"), {(SourceKind.SECRET, "users", "ada"): Fetched(content, "fp")})
    assert caught.value.field == "spec.airflow.users[ada].passwordSecretKeyRef"


def test_the_document_carries_users_and_removals() -> None:
    desired = desired_users(spec_with("ada"), fetched(ada=ADA_PASSWORD))
    assert desired is not None
    document = json.loads(desired.document(["bob"]))
    assert document["version"] == desired.version
    assert document["users"][0] | {"password": "?"} == {
        "username": "ada",
        "email": "ada@example.com",
        "role": "Viewer",
        "firstName": "",
        "lastName": "",
        "password": "?",
    }
    assert document["users"][0]["password"] == ADA_PASSWORD
    assert document["removed"] == ["bob"]


def test_removed_users_come_from_the_previous_document_not_the_status() -> None:
    previous = {"version": "v1", "users": [{"username": "ada"}, {"username": "bob"}], "removed": ["carl"]}
    assert removed_users(previous, None, frozenset({"ada"})) == ["bob", "carl"]
    # A removal the scheduler reported done is not repeated: the name may belong to someone new.
    done = {"version": "v1", "removed": ["carl"]}
    assert removed_users(previous, done, frozenset({"ada"})) == ["bob"]
    stale = {"version": "v0", "removed": ["carl"]}
    assert removed_users(previous, stale, frozenset({"ada"})) == ["bob", "carl"]
    assert removed_users(None, None, frozenset({"ada"})) == []
    # Declared again: not removed.
    assert removed_users(previous, None, frozenset({"ada", "bob", "carl"})) == []


def test_steps() -> None:
    desired = desired_users(spec_with("ada"), fetched(ada=ADA_PASSWORD))
    assert desired is not None
    assert users_step(desired, {}, ARN) is UsersStep.PUBLISH
    assert (
        users_step(desired, {"version": "old", "appliedVersion": "old", "secretArn": ARN}, ARN)
        is UsersStep.PUBLISH
    )
    assert users_step(desired, {"version": desired.version, "secretArn": ARN}, ARN) is UsersStep.AWAIT_REPORT
    settled = {"version": desired.version, "appliedVersion": desired.version, "secretArn": ARN}
    assert users_step(desired, settled, ARN) is UsersStep.SETTLED
    # The stack was created again: its new secret holds nothing, whatever the status says.
    assert users_step(desired, settled, ARN + "-new") is UsersStep.PUBLISH


def test_a_failure_reason_quoting_a_password_is_masked() -> None:
    desired = desired_users(spec_with("ada"), fetched(ada=ADA_PASSWORD))
    assert desired is not None
    report = {
        "version": desired.version,
        "applied": [],
        "failed": [{"username": "ada", "reason": f"bad password {ADA_PASSWORD}"}],
        "unmanaged": ["admin"],
        "time": "2026-11-26T10:00:00Z",
    }
    status = users_status(desired, report, ARN)
    assert ADA_PASSWORD not in json.dumps(status)
    assert status["failed"] == [{"username": "ada", "reason": "bad password ****"}]
    assert status["appliedVersion"] == desired.version
    assert status["unmanaged"] == ["admin"]


class RecordingStore:
    def __init__(self, published: Mapping[str, Any] | None = None, report: Mapping[str, Any] | None = None):
        self.published_document = published
        self.report_document = report
        self.calls: list[str] = []
        self.written: str | None = None
        self.replaced: str | None = None

    def published(self, secret_arn: str) -> SecretValue:
        self.calls.append("GetSecretValue")
        return SecretValue(self.published_document, "secret-version-1")

    def publish(self, secret_arn: str, version: str, document: str, replaces: str) -> None:
        self.calls.append("PutSecretValue")
        self.written = document
        self.replaced = replaces

    def report(self, parameter: str) -> Mapping[str, Any] | None:
        self.calls.append("GetParameter")
        return self.report_document


STACK = ObservedStack(
    stack_id="id",
    name="s",
    status="CREATE_COMPLETE",
    status_reason=None,
    tags={},
    outputs={SECRET_OUTPUT: ARN, REPORT_OUTPUT: "/turbine/s/r"},
    termination_protection=False,
)


def converge(store: RecordingStore, status: Mapping[str, Any], *names: str, stack: Any = STACK) -> Outcome:
    desired = desired_users(spec_with(*names), fetched(**{name: f"{name}-pw" for name in names}))
    return converge_users(
        Outcome(status={"observedGeneration": 1}),
        desired,
        stack=stack,
        status=status,
        secrets=lambda: store,
        read_report=store.report,
        poll_interval=15.0,
        now=NOW,
    )


def test_first_publish_writes_the_document_and_follows_up() -> None:
    store = RecordingStore()
    outcome = converge(store, {}, "ada")
    assert store.calls == ["GetSecretValue", "PutSecretValue"]
    assert store.written is not None
    assert "ada-pw" in store.written
    users = outcome.status[STATUS_KEY]
    assert users["appliedVersion"] is None
    assert users["declared"] == 1
    assert outcome.status["observedGeneration"] == 1
    assert outcome.retry_after == 15.0
    assert "ada-pw" not in json.dumps(outcome.status)


def test_a_removed_user_is_taken_from_the_published_document() -> None:
    store = RecordingStore(published={"version": "v1", "users": [{"username": "ada"}, {"username": "bob"}]})
    converge(store, {"airflowUsers": {"version": "v1", "appliedVersion": "v1", "secretArn": ARN}}, "ada")
    assert store.calls == ["GetSecretValue", "GetParameter", "PutSecretValue"]
    assert store.written is not None
    assert json.loads(store.written)["removed"] == ["bob"]


def test_a_version_already_published_is_not_written_again() -> None:
    """The status was lost: the secret remembers, and the report is awaited."""
    first = RecordingStore()
    version = converge(first, {}, "ada").status[STATUS_KEY]["version"]
    store = RecordingStore(published={"version": version, "users": [{"username": "ada"}]})
    converge(store, {}, "ada")
    assert store.calls == ["GetSecretValue"]


def test_the_report_of_the_published_version_settles_the_users() -> None:
    version = converge(RecordingStore(), {}, "ada").status[STATUS_KEY]["version"]
    report = {
        "version": version,
        "applied": ["ada"],
        "failed": [],
        "unmanaged": [],
        "time": "2026-11-26T10:00:00Z",
    }
    store = RecordingStore(report=report)
    outcome = converge(store, {"airflowUsers": {"version": version, "secretArn": ARN}}, "ada")
    assert store.calls == ["GetParameter"]
    assert outcome.status[STATUS_KEY]["applied"] == ["ada"]
    assert outcome.retry_after is None
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "AirflowUsersApplied"
    settled = RecordingStore()
    assert (
        converge(settled, {"airflowUsers": outcome.status[STATUS_KEY]}, "ada").status.get(STATUS_KEY) is None
    )
    assert settled.calls == []


def test_failed_users_are_a_warning_event() -> None:
    version = converge(RecordingStore(), {}, "ada").status[STATUS_KEY]["version"]
    report = {
        "version": version,
        "applied": [],
        "failed": [{"username": "ada", "reason": "role X does not exist"}],
    }
    outcome = converge(
        RecordingStore(report=report), {"airflowUsers": {"version": version, "secretArn": ARN}}, "ada"
    )
    assert outcome.announcement is not None
    assert outcome.announcement.warning
    assert outcome.announcement.reason == "AirflowUsersFailed"


def test_no_stack_or_no_users_secret_yet_means_no_call() -> None:
    store = RecordingStore()
    assert STATUS_KEY not in converge(store, {}, "ada", stack=None).status
    older = ObservedStack("id", "s", "UPDATE_COMPLETE", None, {}, {}, False)
    assert STATUS_KEY not in converge(store, {}, "ada", stack=older).status
    assert store.calls == []


def test_dropping_the_users_field_clears_the_status() -> None:
    outcome = converge_users(
        Outcome(status={}), None, stack=STACK, status={"airflowUsers": {"version": "v"}},
        secrets=RecordingStore,
        read_report=RecordingStore().report,
        poll_interval=15.0,
        now=NOW,
    )  # fmt: skip
    assert outcome.status == {STATUS_KEY: None}


def test_pending_users_make_a_settled_stack_due_on_every_tick() -> None:
    now = datetime.datetime(2026, 11, 26, 10, 0, tzinfo=datetime.UTC)
    synced = {"lastSyncTime": "2026-11-26T09:59:50Z"}
    assert not follow_up_due(synced, now, 600)
    assert follow_up_due(
        {**synced, "airflowUsers": {"version": "v", "publishedTime": "2026-11-26T09:59:00Z"}}, now, 600
    )
    assert not follow_up_due({**synced, "airflowUsers": {"version": "v", "appliedVersion": "v"}}, now, 600)


def test_a_document_that_comes_back_replaces_the_current_secret_version() -> None:
    """A spec going A, B, A: A's token must differ the second time (AWS ignores a reused token)."""
    store = RecordingStore(published={"version": "B", "users": [{"username": "ada"}]})
    converge(store, {"airflowUsers": {"version": "B", "appliedVersion": "B", "secretArn": ARN}}, "ada")
    assert store.replaced == "secret-version-1"


def test_another_key_of_the_same_secret_is_another_password() -> None:
    def version(key: str) -> str:
        raw = spec_with("ada")
        user = dataclasses.replace(
            raw.airflow.users[0], password_secret_key_ref=KeyRef(name="users", key=key)
        )
        airflow = dataclasses.replace(raw.airflow, users=(user,))
        desired = desired_users(dataclasses.replace(raw, airflow=airflow), {
            (SourceKind.SECRET, "users", key): Fetched(b"pw", "same-secret-version")
        })  # fmt: skip
        assert desired is not None
        return desired.version

    assert version("ada") != version("ada-new")


def test_a_pending_version_is_looked_for_on_every_tick_for_ten_minutes_only() -> None:
    pending = {"airflowUsers": {"version": "v", "publishedTime": "2026-11-26T09:55:00Z"}}
    synced = {"lastSyncTime": "2026-11-26T09:59:50Z"}
    assert follow_up_due({**pending, **synced}, NOW, 600)
    stale = {"airflowUsers": {"version": "v", "publishedTime": "2026-11-26T09:49:00Z"}}
    assert not follow_up_due({**stale, **synced}, NOW, 600)


def test_an_unapplied_version_clears_the_last_applied_time() -> None:
    desired = desired_users(spec_with("ada"), fetched(ada=ADA_PASSWORD))
    assert desired is not None
    assert users_status(desired, None, ARN)["appliedTime"] is None


def test_dropping_the_users_field_empties_the_secret_once() -> None:
    store = RecordingStore(published={"version": "v", "users": [{"username": "ada", "password": "pw"}]})
    outcome = converge_users(
        Outcome(status={}), None, stack=STACK, status={"airflowUsers": {"version": "v", "secretArn": ARN}},
        secrets=lambda: store, read_report=store.report, poll_interval=15.0, now=NOW,
    )  # fmt: skip
    assert store.calls == ["GetSecretValue", "PutSecretValue"]
    assert store.written == "{}"
    assert outcome.status == {STATUS_KEY: None}
    store = RecordingStore(published=None)  # already empty: nothing written
    converge_users(
        Outcome(status={}), None, stack=STACK, status={"airflowUsers": {"version": "v", "secretArn": ARN}},
        secrets=lambda: store, read_report=store.report, poll_interval=15.0, now=NOW,
    )  # fmt: skip
    assert store.calls == ["GetSecretValue"]


class GoneStore(RecordingStore):
    """A stack secret that is gone: deleted with its stack outside the operator (`at="read"`), or between
    the read and the write (`at="write"`)."""

    def __init__(self, at: str) -> None:
        super().__init__(published={"version": "v", "users": [{"username": "ada", "password": "pw"}]})
        self.at = at

    def published(self, secret_arn: str) -> SecretValue:
        held = super().published(secret_arn)
        if self.at == "read":
            raise AwsNotFound("GetSecretValue", "ResourceNotFoundException", "can't find the secret")
        return held

    def publish(self, secret_arn: str, version: str, document: str, replaces: str) -> None:
        self.calls.append("PutSecretValue")
        raise AwsNotFound("PutSecretValue", "ResourceNotFoundException", "can't find the secret")


@pytest.mark.parametrize("at", ["read", "write"])
def test_dropping_the_users_field_when_the_secret_is_gone_is_done(at: str) -> None:
    """Nothing is left to empty: not an error reported and tried again at every resync."""
    store = GoneStore(at)
    outcome = converge_users(
        Outcome(status={}), None, stack=None, status={"airflowUsers": {"version": "v", "secretArn": ARN}},
        secrets=lambda: store, read_report=store.report, poll_interval=15.0, now=NOW,
    )  # fmt: skip
    assert outcome.status == {STATUS_KEY: None}
    assert store.calls == (["GetSecretValue"] if at == "read" else ["GetSecretValue", "PutSecretValue"])


def test_a_user_list_too_large_for_a_secret_names_the_field() -> None:
    names = [f"user{i:03}" for i in range(100)]
    big = "é" * 250  # 1,500 bytes once JSON-escaped
    with pytest.raises(SpecError) as caught:
        desired_users(spec_with(*names), fetched(**dict.fromkeys(names, big)))
    assert caught.value.field == "spec.airflow.users"
    assert big not in str(caught.value)


def test_an_aws_failure_of_the_airflow_parts_keeps_the_stacks_outcome() -> None:
    from turbine_operator.core.errors import AwsAccessDenied  # noqa: PLC0415
    from turbine_operator.operations.airflow.airflow_parts import AirflowParts, follow_airflow  # noqa: PLC0415

    class Refusing:
        def client(self, *_: object) -> object:
            raise AwsAccessDenied("GetSecretValue", "AccessDenied", "not allowed")

    desired = desired_users(spec_with("ada"), fetched(ada=ADA_PASSWORD))
    stack_outcome = Outcome(
        status={"observedGeneration": 3, "stackStatus": "UPDATE_IN_PROGRESS"}, retry_after=0.5
    )
    followed = follow_airflow(
        stack_outcome, AirflowParts(desired, None), spec=spec_with("ada"), stack=STACK, status={},
        sessions=Refusing(), poll_interval=15.0, now=NOW,  # type: ignore[arg-type]
    )  # fmt: skip
    assert followed.status["stackStatus"] == "UPDATE_IN_PROGRESS"
    assert followed.retry_after == 0.5
    assert "not allowed" in followed.status["airflowError"]
    assert followed.announcement is not None
    assert followed.announcement.reason == "AirflowPartsFailed"
    again = follow_airflow(
        Outcome(status={}), AirflowParts(desired, None), spec=spec_with("ada"), stack=STACK,
        status=followed.status, sessions=Refusing(), poll_interval=15.0, now=NOW,  # type: ignore[arg-type]
    )  # fmt: skip
    assert again.announcement is None  # said once
