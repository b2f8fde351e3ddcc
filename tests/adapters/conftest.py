"""Stubbed CloudFormation and S3 clients behind a real AwsSessions: no moto, no network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from turbine_operator.adapters.aws_sessions import AwsSessions
from turbine_operator.adapters.cloudformation import StackGateway

from .stubbing import REGION, RecordingStubber


def isolate_aws_environment(monkeypatch: pytest.MonkeyPatch, scratch: Path) -> None:
    """Dummy credentials, a default region and nothing that points boto3 elsewhere."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(scratch / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(scratch / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_CLOUDFORMATION"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws_environment(monkeypatch, tmp_path)


@pytest.fixture(scope="package")
def shared_sessions(tmp_path_factory: pytest.TempPathFactory) -> AwsSessions:
    """One AwsSessions for the package, its clients created once (that is most of a test's cost).

    Clients resolve credentials, region and endpoint when they are created, so the isolated
    environment is needed only then. The production retry configuration is kept on purpose: a
    Stubber answers in the before-call event, above botocore's retry handler, so a queued
    Throttling error is raised on the first attempt (no backoff sleeps, no need to queue it once
    per attempt).
    """
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_aws_environment(monkeypatch, tmp_path_factory.mktemp("aws"))
        sessions = AwsSessions()
        for service in ("cloudformation", "s3"):
            sessions.client(service, REGION)
    return sessions


@pytest.fixture
def calls() -> list[str]:
    """Every operation the stubbers answered, in order, across services."""
    return []


@pytest.fixture
def sessions(shared_sessions: AwsSessions) -> AwsSessions:
    return shared_sessions


@pytest.fixture
def cf_stub(sessions: AwsSessions, calls: list[str]) -> Iterator[RecordingStubber]:
    stubber = RecordingStubber(sessions.client("cloudformation", REGION), calls)
    with stubber:
        yield stubber


@pytest.fixture
def s3_stub(sessions: AwsSessions, calls: list[str]) -> Iterator[RecordingStubber]:
    stubber = RecordingStubber(sessions.client("s3", REGION), calls)
    with stubber:
        yield stubber


@pytest.fixture
def gateway(sessions: AwsSessions, cf_stub: RecordingStubber, s3_stub: RecordingStubber) -> StackGateway:
    """A gateway over the very clients the stubbers wrap (AwsSessions caches them per key)."""
    return StackGateway(sessions, REGION, None)
