"""The git credentials of spec.airflow.dags.git.credentials, as the Airflow connection turbine_dags.

The operator writes the connection, credential included, to the stack's own Secrets Manager secret (output
DagsConnectionSecretArn, named <cluster stack>/connections/turbine_dags) and nowhere else. Every role reads
it through Airflow's Secrets Manager backend, limited to that one connection id: workers at each task, the
DAG processor when it starts, which turbine-dags-connection.sh on the scheduler does whenever the secret
gets a new version (the first one arrives after the scheduler booted). No instance is replaced.

Like the users document (airflow_users.py here), its version is derived from the declared fields and the
Secret's object version, never from the credential, so the status can show it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.errors import SpecError
from turbine_operator.core.render.references import Fetched, SourceKind, content_of

SECRET_OUTPUT = "DagsConnectionSecretArn"  # noqa: S105 - an output name, not a password
CREDENTIALS = "spec.airflow.dags.git.credentials"


@dataclasses.dataclass(frozen=True)
class DesiredConnection:
    version: str
    document: str = dataclasses.field(repr=False)


def desired_connection(spec: TurbineStackSpec, fetched: Mapping[Any, Fetched]) -> DesiredConnection | None:
    """The connection to publish, or None when the repository needs no credentials."""
    git = spec.airflow.dags.git if spec.airflow.dags else None
    if git is None or git.credentials is None:
        return None
    credentials = git.credentials
    connection: dict[str, Any] = {"conn_type": "git", "host": git.url}
    ref = credentials.password_secret_key_ref or credentials.ssh_private_key_secret_key_ref
    assert ref is not None  # exactly one, as the model checks
    if credentials.password_secret_key_ref is not None:
        field = f"{CREDENTIALS}.passwordSecretKeyRef"
        value = content_of(fetched, SourceKind.SECRET, credentials.password_secret_key_ref, field)
        assert value is not None
        connection |= {"login": credentials.username, "password": _text(value, field).strip()}
        kind = "password"
    else:
        field = f"{CREDENTIALS}.sshPrivateKeySecretKeyRef"
        value = content_of(fetched, SourceKind.SECRET, credentials.ssh_private_key_secret_key_ref, field)
        assert value is not None
        connection |= {"login": credentials.username, "extra": {"private_key": _text(value, field)}}
        kind = "ssh"
    version = hashlib.sha256(
        json.dumps([git.url, credentials.username, kind, ref.name, ref.key, value.fingerprint]).encode()
    ).hexdigest()[:24]
    return DesiredConnection(version, json.dumps({**connection, "version": version}, sort_keys=True))


def _text(value: Fetched, field: str) -> str:
    try:
        text = value.content.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(field, "the credential is not UTF-8 text") from None
    if not text.strip():
        raise SpecError(field, "the credential is empty")
    return text
