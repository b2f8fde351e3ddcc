"""What the operations need of the stack's own secrets (adapters/aws/stack_secrets.py), as a protocol, so the
users and the git connection are published the same way and tested without AWS."""

from __future__ import annotations

from typing import Protocol

from turbine_operator.adapters.aws.stack_secrets import SecretValue
from turbine_operator.core.errors import AwsNotFound


class SecretDocuments(Protocol):
    def published(self, secret_arn: str) -> SecretValue:
        """The JSON document the secret holds (None when none with a version) and its secret version."""

    def publish(self, secret_arn: str, version: str, document: str, replaces: str) -> None:
        """Writes `document` as the secret's current value over the secret version `replaces`."""


def clear(secrets: SecretDocuments, secret_arn: str) -> None:
    """Empties a stack secret the spec no longer fills, so no password or token outlives its field.

    A secret that is gone (its stack deleted outside the operator, or the secret scheduled for deletion)
    holds nothing to empty: that is done, not an error to report and try again at every resync."""
    try:
        held = secrets.published(secret_arn)
        if held.document is not None:
            secrets.publish(secret_arn, "cleared", "{}", held.version_id)
    except AwsNotFound:
        return
