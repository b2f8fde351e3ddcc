"""The stack's own Secrets Manager secrets the operator writes documents to: the Airflow users
(core/airflow/airflow_users.py) and the DAG repository's git connection (core/airflow/dag_connection.py)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Mapping
from typing import Any

from turbine_operator.adapters.aws.aws_errors import aws_call
from turbine_operator.adapters.aws.aws_sessions import AwsSessions

# A secret version's ClientRequestToken, from the document's version and the version it replaces: a retried
# PutSecretValue repeats it and creates nothing (API_PutSecretValue), and a document that comes back after
# another one (a spec going A, B, A) gets a new token, since AWS ignores a reused token with the same value
# and refuses it with another (ResourceExistsException).
_TOKEN_NAMESPACE = uuid.UUID("5c3f7c1e-8a39-4a51-9a0c-2f8f3e1b7d11")


@dataclasses.dataclass(frozen=True)
class SecretValue:
    document: Mapping[str, Any] | None  # None: no document of ours (no version) yet
    version_id: str  # Secrets Manager's id of the current secret version

    def __repr__(self) -> str:
        return f"SecretValue(version={self.document.get('version') if self.document else None!r})"


class StackSecrets:
    def __init__(self, sessions: AwsSessions, region: str, role_arn: str | None) -> None:
        self._secrets = sessions.client("secretsmanager", region, role_arn)

    def published(self, secret_arn: str) -> SecretValue:
        """The document the secret holds now, and its secret version."""
        with aws_call("GetSecretValue"):
            answer = self._secrets.get_secret_value(SecretId=secret_arn)
        try:
            document = json.loads(answer.get("SecretString") or "")
        except ValueError:
            document = None
        ours = document if isinstance(document, dict) and document.get("version") else None
        return SecretValue(ours, str(answer.get("VersionId") or ""))

    def publish(self, secret_arn: str, version: str, document: str, replaces: str) -> None:
        """Writes `document` (of `version`) as the current value, over the secret version `replaces`."""
        token = str(uuid.uuid5(_TOKEN_NAMESPACE, f"{version}/{replaces}"))
        with aws_call("PutSecretValue"):
            self._secrets.put_secret_value(
                SecretId=secret_arn, SecretString=document, ClientRequestToken=token
            )
