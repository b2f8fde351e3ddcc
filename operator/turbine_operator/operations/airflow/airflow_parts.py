"""What a reconcile does for Airflow itself once the stack is handled: the DAG report into status.dags, the
git credentials into the connection secret, and the users into the users secret. Each looks only when its
field is set and the stack has the output it needs."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.reports import ReportReader
from turbine_operator.adapters.aws.stack_secrets import StackSecrets
from turbine_operator.core.airflow.airflow_users import DesiredUsers
from turbine_operator.core.airflow.dag_connection import DesiredConnection
from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.errors import AwsError
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.core.report.reporting import Announcement
from turbine_operator.operations.airflow.airflow_users import converge_users
from turbine_operator.operations.airflow.dag_connection import publish_connection
from turbine_operator.operations.airflow.dag_report import observe_dags
from turbine_operator.operations.turbine_stack import Outcome

ERROR_KEY = "airflowError"


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

    try:
        followed = observe_dags(
            outcome,
            watched=spec.airflow.dags is not None,
            stack=stack,
            status=status,
            read_report=read_report,
            now=now,
        )
        followed = publish_connection(followed, parts.connection, stack=stack, status=status, store=secrets)
        followed = converge_users(
            followed,
            parts.users,
            stack=stack,
            status=status,
            secrets=secrets,
            read_report=read_report,
            poll_interval=poll_interval,
            now=now,
        )
    except AwsError as error:
        # The stack's own outcome stands (it may have just started an operation); this part is tried again
        # at the next reconcile, and said once, in status.airflowError and an event.
        message = f"the users, DAG credentials or DAG report could not be read or written: {error}"
        announcement = outcome.announcement
        if announcement is None and status.get(ERROR_KEY) != message:
            announcement = Announcement("AirflowPartsFailed", message, warning=True)
        return dataclasses.replace(
            outcome, status={**outcome.status, ERROR_KEY: message}, announcement=announcement
        )
    if ERROR_KEY in status:
        return dataclasses.replace(followed, status={**followed.status, ERROR_KEY: None})
    return followed
