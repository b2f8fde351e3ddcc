"""Publishes the git credentials of spec.airflow.dags to the stack's connection secret (the design is in
core/dag_connection.py) and records the published version in status.dags.credentialsVersion."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from turbine_operator.core.dag_connection import SECRET_OUTPUT, DesiredConnection
from turbine_operator.core.observations import ObservedStack
from turbine_operator.operations.secret_documents import SecretDocuments
from turbine_operator.operations.turbine_stack import Outcome


def publish_connection(
    outcome: Outcome,
    desired: DesiredConnection | None,
    *,
    stack: ObservedStack | None,
    status: Mapping[str, Any],
    store: Callable[[], SecretDocuments],
) -> Outcome:
    arn = stack.outputs.get(SECRET_OUTPUT) if stack and desired else None
    if desired is None or not arn or (status.get("dags") or {}).get("credentialsVersion") == desired.version:
        return outcome
    secrets = store()
    previous = secrets.published(arn)
    if previous is None or previous.get("version") != desired.version:
        secrets.publish(arn, desired.version, desired.document)
    dags = {**(outcome.status.get("dags") or {}), "credentialsVersion": desired.version}
    return dataclasses.replace(outcome, status={**outcome.status, "dags": dags})
