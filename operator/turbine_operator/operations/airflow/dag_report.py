"""Copies the scheduler's report on the DAG bundle into status.dags (design: core.airflow.dag_report)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping
from typing import Any

from turbine_operator.core.airflow.dag_report import (
    REPORT_OUTPUT,
    STATUS_KEY,
    dags_announcement,
    dags_check_due,
    dags_status,
)
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.operations.turbine_stack import Outcome


def observe_dags(
    outcome: Outcome,
    *,
    watched: bool,
    stack: ObservedStack | None,
    status: Mapping[str, Any],
    read_report: Callable[[str], Mapping[str, Any] | None],
    now: datetime.datetime,
) -> Outcome:
    """`outcome` with status.dags refreshed when spec.airflow.dags is set (`watched`) and a look is due."""
    if not watched:
        return _with(outcome, None, None) if STATUS_KEY in status else outcome
    if not dags_check_due(status, now):
        return outcome
    parameter = stack.outputs.get(REPORT_OUTPUT) if stack else None
    before: Mapping[str, Any] = status.get(STATUS_KEY) or {}
    # Without the report's output yet (a stack still being created), the look is stamped all the same, so
    # it is not due again on every tick.
    after = dags_status(read_report(parameter) if parameter else None, now.isoformat().replace("+00:00", "Z"))
    return _with(outcome, after, dags_announcement(before, after))


def _with(outcome: Outcome, dags: Mapping[str, Any] | None, announcement: Any) -> Outcome:
    return dataclasses.replace(
        outcome,
        status={**outcome.status, STATUS_KEY: dags},
        announcement=outcome.announcement or announcement,
    )
