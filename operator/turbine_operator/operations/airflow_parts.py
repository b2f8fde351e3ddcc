"""What a reconcile does for Airflow itself once the stack is handled: the DAG report into status.dags, the
git credentials into the connection secret, and the users into the users secret. Each looks only when its
field is set and the stack has the output it needs."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from turbine_operator.adapters.aws_sessions import AwsSessions
from turbine_operator.adapters.reports import ReportReader
from turbine_operator.adapters.stack_secrets import StackSecrets
from turbine_operator.core.airflow_users import DesiredUsers
from turbine_operator.core.dag_connection import DesiredConnection
from turbine_operator.core.observations import ObservedStack
from turbine_operator.core.spec import TurbineStackSpec
from turbine_operator.operations.airflow_users import converge_users
from turbine_operator.operations.dag_connection import publish_connection
from turbine_operator.operations.dag_report import observe_dags
from turbine_operator.operations.turbine_stack import Outcome


@dataclasses.dataclass(frozen=True)
class AirflowParts:
    """What the spec asks of Airflow, as rendered with the fetched references."""

    users: DesiredUsers | None
    connection: DesiredConnection | None


def follow_airflow(
    outcome: Outcome,
    parts: AirflowParts,
    *,
    spec: TurbineStackSpec,
    stack: ObservedStack | None,
    status: Mapping[str, Any],
    sessions: AwsSessions,
    poll_interval: float,
    now: datetime.datetime,
) -> Outcome:
    def read_report(parameter: str) -> Mapping[str, Any] | None:
        # Clients built on use: a stack without users or DAGs never needs them.
        return ReportReader(sessions, spec.region, spec.role_arn).read(parameter)

    def secrets() -> StackSecrets:
        return StackSecrets(sessions, spec.region, spec.role_arn)

    outcome = observe_dags(
        outcome,
        watched=spec.airflow.dags is not None,
        stack=stack,
        status=status,
        read_report=read_report,
        now=now,
    )
    outcome = publish_connection(outcome, parts.connection, stack=stack, status=status, store=secrets)
    return converge_users(
        outcome,
        parts.users,
        stack=stack,
        status=status,
        secrets=secrets,
        read_report=read_report,
        poll_interval=poll_interval,
    )
