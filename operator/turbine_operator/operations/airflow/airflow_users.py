"""Converges the Airflow users of a reconciled stack: publishes the declared users to the stack's secret
and copies the scheduler's report into status.airflowUsers (the design: core/airflow/airflow_users.py)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping
from typing import Any

from turbine_operator.core.airflow.airflow_users import (
    REPORT_OUTPUT,
    SECRET_OUTPUT,
    DesiredUsers,
    UsersStep,
    removed_users,
    users_announcement,
    users_status,
    users_step,
)
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.core.plan.scheduling import users_pending
from turbine_operator.operations.airflow.secret_documents import SecretDocuments, clear
from turbine_operator.operations.turbine_stack import Outcome

STATUS_KEY = "airflowUsers"


def converge_users(
    outcome: Outcome,
    desired: DesiredUsers | None,
    *,
    stack: ObservedStack | None,
    status: Mapping[str, Any],
    secrets: Callable[[], SecretDocuments],
    read_report: Callable[[str], Mapping[str, Any] | None],
    poll_interval: float,
    now: datetime.datetime,
) -> Outcome:
    """`outcome` with the users' status, event and follow-up added."""
    if desired is None:
        # The spec leaves users alone: the passwords leave the secret, and the status forgets them.
        published_to = (status.get(STATUS_KEY) or {}).get("secretArn")
        if published_to:
            clear(secrets(), str(published_to))
        return _with(outcome, None) if STATUS_KEY in status else outcome
    outputs = stack.outputs if stack else {}
    arn, parameter = outputs.get(SECRET_OUTPUT), outputs.get(REPORT_OUTPUT)
    if not arn or not parameter:
        return outcome  # no stack yet, or one from before the users secret: the next reconcile looks again
    current: Mapping[str, Any] = status.get(STATUS_KEY) or {}
    step = users_step(desired, current, arn)
    if step is UsersStep.SETTLED:
        return outcome
    report = None
    if step is UsersStep.PUBLISH:
        documents = secrets()
        held = documents.published(arn)
        previous = held.document
        if previous is None or previous.get("version") != desired.version:
            before = read_report(parameter) if previous else None
            removed = removed_users(previous, before, desired.names)
            documents.publish(arn, desired.version, desired.document(removed), held.version_id)
    else:
        report = read_report(parameter)
    written = users_status(desired, report, arn)
    if step is UsersStep.PUBLISH:
        written["publishedTime"] = now.isoformat().replace("+00:00", "Z")
    followed = _with(outcome, written, users_announcement(desired, report))
    if written.get("appliedVersion") != desired.version and users_pending(
        {STATUS_KEY: {**current, **written}}, now
    ):
        # Looked at again on the close timer's ceiling until the scheduler reports it.
        retry = min(outcome.retry_after or poll_interval, poll_interval)
        followed = dataclasses.replace(followed, retry_after=retry)
    return followed


def _with(outcome: Outcome, users: Mapping[str, Any] | None, announcement: Any = None) -> Outcome:
    return dataclasses.replace(
        outcome,
        status={**outcome.status, STATUS_KEY: users},
        announcement=outcome.announcement or announcement,
    )
