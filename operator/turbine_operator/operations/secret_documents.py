"""What the operations need of the stack's own secrets (adapters/stack_secrets.py), as a protocol, so the
users and the git connection are published the same way and tested without AWS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class SecretDocuments(Protocol):
    def published(self, secret_arn: str) -> Mapping[str, Any] | None:
        """The JSON document the secret holds, or None when it holds none with a version."""

    def publish(self, secret_arn: str, version: str, document: str) -> None:
        """Writes `document` as the secret's current value, idempotently for one version."""
