"""The stack's own Secrets Manager secrets the operator writes documents to: the Airflow users
(core/airflow_users.py) and the DAG repository's git connection (core/dag_connection.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from turbine_operator.adapters.aws_errors import aws_call
from turbine_operator.adapters.aws_sessions import AwsSessions

# Turns a document version into the ClientRequestToken of its secret version: a retried PutSecretValue
# with the same token and value creates nothing (API_PutSecretValue).
_TOKEN_NAMESPACE = uuid.UUID("5c3f7c1e-8a39-4a51-9a0c-2f8f3e1b7d11")


class StackSecrets:
    def __init__(self, sessions: AwsSessions, region: str, role_arn: str | None) -> None:
        self._secrets = sessions.client("secretsmanager", region, role_arn)

    def published(self, secret_arn: str) -> Mapping[str, Any] | None:
        """The document the secret holds now, or None when it holds none of ours yet (no version)."""
        with aws_call("GetSecretValue"):
            text = self._secrets.get_secret_value(SecretId=secret_arn).get("SecretString") or ""
        try:
            document = json.loads(text)
        except ValueError:
            return None
        return document if isinstance(document, dict) and document.get("version") else None

    def publish(self, secret_arn: str, version: str, document: str) -> None:
        token = str(uuid.uuid5(_TOKEN_NAMESPACE, version))
        with aws_call("PutSecretValue"):
            self._secrets.put_secret_value(
                SecretId=secret_arn, SecretString=document, ClientRequestToken=token
            )
