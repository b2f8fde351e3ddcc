"""The rehearsal's users scenario: users declared in a TurbineStack spec log in with their Secrets' passwords.

The operator's own code publishes them (parse_spec, fetch_references, desired_users, converge_users with
the real StackSecrets and ReportReader against the embedded AWS); only the Kubernetes Secrets are held in
memory, as the operator's ObjectReader would return them. The scheduler instance applies each version with
the shipped turbine-airflow-users.py, and its report comes back into the status the operator would write.
"""

from __future__ import annotations

import datetime
import json
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from turbine_dev.rehearsal.cluster import BootFailure, Cluster
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.reports import ReportReader
from turbine_operator.adapters.aws.stack_secrets import StackSecrets
from turbine_operator.core.airflow.airflow_users import REPORT_OUTPUT, desired_users
from turbine_operator.core.api.spec import parse_spec
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.core.render.references import SourceKind, StoredObject
from turbine_operator.operations.airflow.airflow_users import STATUS_KEY, converge_users
from turbine_operator.operations.stack.references import fetch_references
from turbine_operator.operations.turbine_stack import Outcome

SECRET_NAME = "airflow-users"  # noqa: S105 - the name of a Secret object
APPLY_TIMEOUT = 300.0


class NamespaceSecrets:
    """The namespace's Secrets, as the operator's ObjectReader returns them."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.version = 0

    def set(self, **passwords: str) -> None:
        self.data = {key: value.encode() for key, value in passwords.items()}
        self.version += 1

    def read(self, kind: SourceKind, namespace: str, name: str) -> StoredObject | None:
        if kind is SourceKind.SECRET and name == SECRET_NAME:
            return StoredObject(uid="rehearsal-secret", resource_version=str(self.version), data=self.data)
        return None


def can_log_in(base: str, username: str, password: str) -> bool:
    request = urllib.request.Request(  # noqa: S310 - the rehearsal's own load balancer
        f"{base}/auth/token",
        data=json.dumps({"username": username, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
            return bool(json.loads(reply.read()).get("access_token"))
    except urllib.error.HTTPError as error:
        if error.code in (400, 401, 403, 404):
            return False
        raise


def _user(name: str, role: str) -> dict[str, Any]:
    return {
        "username": name,
        "email": f"{name}@example.com",
        "role": role,
        "firstName": name.title(),
        "passwordSecretKeyRef": {"name": SECRET_NAME, "key": name},
    }


class Operator:
    """converge_users as the reconciler calls it, with the status it would write kept here."""

    def __init__(self, cluster: Cluster, secrets_: NamespaceSecrets) -> None:
        self.cluster, self.objects = cluster, secrets_
        self.status: dict[str, Any] = {}
        self.outcomes: list[Outcome] = []
        sessions = AwsSessions()
        self.stack_secrets = StackSecrets(sessions, cluster.aws.region, None)
        self.read_report = ReportReader(sessions, cluster.aws.region, None).read
        self.stack = ObservedStack(
            stack_id=cluster.master_stack,
            name=cluster.master_stack,
            status="CREATE_COMPLETE",
            status_reason=None,
            tags={},
            outputs=dict(cluster.outputs),
            termination_protection=False,
        )

    def reconcile(self, users: list[dict[str, Any]]) -> dict[str, Any]:
        raw = {"templateBucket": {"name": "rehearsal"}, "airflow": {"users": users}}
        spec = parse_spec(raw, namespace="default", name="rehearsal", default_region=self.cluster.aws.region)
        desired = desired_users(spec, fetch_references(spec, "default", self.objects, None))
        outcome = converge_users(
            Outcome(status={}), desired, stack=self.stack, status=self.status,
            secrets=lambda: self.stack_secrets, read_report=self.read_report, poll_interval=15.0,
            now=datetime.datetime.now(datetime.UTC),
        )  # fmt: skip
        self.outcomes.append(outcome)
        if STATUS_KEY in outcome.status:
            self.status[STATUS_KEY] = outcome.status[STATUS_KEY]
        return dict(self.status.get(STATUS_KEY) or {})

    def until_applied(self, users: list[dict[str, Any]]) -> tuple[dict[str, Any], float]:
        started = time.monotonic()
        while True:
            status = self.reconcile(users)
            if status.get("appliedVersion") and status.get("appliedVersion") == status.get("version"):
                return status, round(time.monotonic() - started, 1)
            if time.monotonic() - started > APPLY_TIMEOUT:
                raise BootFailure(f"the scheduler applied no users in {APPLY_TIMEOUT:.0f} s: {status}")
            time.sleep(3)


def users_follow_the_spec(cluster: Cluster, base: str, report: dict[str, Any]) -> None:
    checks, figures = report["checks"], report["figures"]
    passwords = {name: secrets.token_urlsafe(12) for name in ("ada", "bob", "ada2", "eve")}
    store = NamespaceSecrets()
    operator = Operator(cluster, store)
    store.set(ada=passwords["ada"], bob=passwords["bob"])
    both = [_user("ada", "Admin"), _user("bob", "Viewer")]
    status, figures["users_applied_seconds"] = operator.until_applied(both)
    checks["declared_users_log_in_with_their_secret_passwords"] = can_log_in(
        base, "ada", passwords["ada"]
    ) and can_log_in(base, "bob", passwords["bob"])
    checks["users_outside_the_spec_are_reported_not_touched"] = (
        "admin" in status.get("unmanaged", []) and status.get("failed") == []
    )
    report["airflow_users_status"] = status

    store.set(ada=passwords["ada2"], bob=passwords["bob"])
    status, figures["password_change_applied_seconds"] = operator.until_applied(both)
    checks["changed_secret_changes_the_password"] = can_log_in(
        base, "ada", passwords["ada2"]
    ) and not can_log_in(base, "ada", passwords["ada"])

    status, figures["user_removal_applied_seconds"] = operator.until_applied([_user("ada", "Admin")])
    checks["user_removed_from_the_spec_cannot_log_in"] = not can_log_in(
        base, "bob", passwords["bob"]
    ) and can_log_in(base, "ada", passwords["ada2"])

    store.set(ada=passwords["ada2"], eve=passwords["eve"])
    status, _ = operator.until_applied([_user("ada", "Admin"), _user("eve", "NoSuchRole")])
    failed = {entry["username"]: entry["reason"] for entry in status.get("failed", [])}
    checks["a_user_with_an_unknown_role_fails_alone"] = "eve" in failed and "ada" in status.get("applied", [])
    report["airflow_users_failed"] = failed
    report["airflow_users_leaks"] = _leaks(cluster, operator, passwords.values())
    checks["no_user_password_in_report_status_events_or_logs"] = not report["airflow_users_leaks"]


def _leaks(cluster: Cluster, operator: Operator, passwords: Any) -> list[str]:
    """Where a password shows up outside the users secret: the report, status, events and logs."""
    ssm = cluster.aws.client("ssm")
    places: dict[str, Callable[[], str]] = {
        "report parameter": lambda: ssm.get_parameter(Name=cluster.outputs[REPORT_OUTPUT])["Parameter"][
            "Value"
        ],
        "status": lambda: json.dumps(operator.status),
        "events": lambda: json.dumps([repr(o.announcement) for o in operator.outcomes]),
        "instance logs": lambda: "\n".join(i.log(400) for i in cluster.instances),
    }
    found = []
    for place, read in places.items():
        text = read()
        found += [place for password in passwords if password in text]
    return sorted(set(found))
