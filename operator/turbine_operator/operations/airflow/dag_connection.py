"""Publishes the git credentials of spec.airflow.dags to the stack's connection secret (the design is in
core/airflow/dag_connection.py) and records the published version in status.dags.credentialsVersion."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from turbine_operator.core.airflow.dag_connection import SECRET_OUTPUT, DesiredConnection
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.operations.airflow.secret_documents import SecretDocuments, clear
from turbine_operator.operations.turbine_stack import Outcome


def publish_connection(
    outcome: Outcome,
    desired: DesiredConnection | None,
    *,
    stack: ObservedStack | None,
    status: Mapping[str, Any],
    store: Callable[[], SecretDocuments],
) -> Outcome:
    written = status.get("dags") or {}
    if desired is None:
        # No credentials any more: the token leaves the secret every instance role can read.
        published_to = written.get("credentialsSecretArn")
        if not published_to:
            return outcome
        clear(store(), str(published_to))
        dags = {
            **(outcome.status.get("dags") or {}),
            "credentialsVersion": None,
            "credentialsSecretArn": None,
        }
        if outcome.status.get("dags", "absent") is None:
            return outcome  # status.dags is being removed as a whole
        return dataclasses.replace(outcome, status={**outcome.status, "dags": dags})
    arn = stack.outputs.get(SECRET_OUTPUT) if stack else None
    if not arn:
        return outcome
    if written.get("credentialsVersion") == desired.version and written.get("credentialsSecretArn") == arn:
        return outcome
    secrets = store()
    held = secrets.published(arn)
    if held.document is None or held.document.get("version") != desired.version:
        secrets.publish(arn, desired.version, desired.document, held.version_id)
    dags = {
        **(outcome.status.get("dags") or {}),
        "credentialsVersion": desired.version,
        "credentialsSecretArn": arn,
    }
    return dataclasses.replace(outcome, status={**outcome.status, "dags": dags})
