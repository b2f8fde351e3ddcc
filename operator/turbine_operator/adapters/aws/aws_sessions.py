"""boto3 clients per (service, region, role), created once and shared across handler threads.

Clients are thread-safe once created; sessions are not, so creation happens under a lock.
An assumed role gets refreshable credentials, so hour-long stack operations never see an
expired token.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials

from turbine_operator.adapters.aws.aws_errors import aws_call

ROLE_SESSION_NAME = "turbine-operator"
# As many pooled connections per client as there are handler threads (kopf's executor): with botocore's
# default of 10, threads beyond the tenth wait for a connection or open throwaway ones.
CONNECTIONS_PER_CLIENT = 32
ASSUMED_ROLE_SECONDS = 3600


class AwsSessions:
    def __init__(self, *, max_attempts: int = 5, observer: Any = None) -> None:
        # Standard retry mode retries throttling and 5xx with capped backoff before we ever see them.
        self._config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            user_agent_extra="turbine-operator",
            max_pool_connections=CONNECTIONS_PER_CLIENT,
        )
        self._lock = threading.Lock()
        self._sessions: dict[str | None, boto3.Session] = {}
        self._clients: dict[tuple[str, str, str | None], Any] = {}
        self._observer = observer

    def client(self, service: str, region: str, role_arn: str | None = None) -> Any:
        key = (service, region, role_arn)
        with self._lock:
            if key not in self._clients:
                # botocore may refuse a region or a profile before any request: a domain error like the rest.
                with aws_call("CreateClient"):
                    session = self._session(role_arn, region)
                    client = session.client(service, region_name=region, config=self._config)  # type: ignore[call-overload]
                if self._observer is not None:
                    self._observer(client)
                self._clients[key] = client
            return self._clients[key]

    def _session(self, role_arn: str | None, region: str) -> boto3.Session:
        if role_arn not in self._sessions:
            base = self._sessions.setdefault(None, boto3.Session())
            if role_arn is None:
                return base
            self._sessions[role_arn] = self._assumed_session(base, role_arn, region)
        return self._sessions[role_arn]

    def _assumed_session(self, base: boto3.Session, role_arn: str, region: str) -> boto3.Session:
        sts = base.client("sts", region_name=region, config=self._config)

        def fetch() -> dict[str, str]:
            with aws_call("AssumeRole"):
                reply = sts.assume_role(
                    RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME, DurationSeconds=ASSUMED_ROLE_SECONDS
                )
            credentials = reply["Credentials"]
            return {
                "access_key": credentials["AccessKeyId"],
                "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"],
                "expiry_time": credentials["Expiration"].isoformat(),
            }

        refreshable = RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
        )
        core = botocore.session.get_session()
        # botocore has no public setter; this is how its own assume-role provider installs credentials.
        core._credentials = refreshable  # type: ignore[attr-defined]
        return boto3.Session(botocore_session=core)
