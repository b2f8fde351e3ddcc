"""Reconciler and Deleter over a real AwsSessions whose CloudFormation and S3 clients are stubbed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from turbine_operator.adapters.aws_sessions import AwsSessions
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.operations.deletion import Deleter
from turbine_operator.operations.reconcile import Reconciler

from .harness import NOW, REGION, SOURCES, RecordingStubber, StubbedAws


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
def aws(shared_sessions: AwsSessions) -> Iterator[StubbedAws]:
    """Fresh stubbers (and call log) per test over the package's shared clients."""
    sessions = shared_sessions
    calls: list[str] = []
    cloudformation = RecordingStubber(sessions.client("cloudformation", REGION), calls)
    s3 = RecordingStubber(sessions.client("s3", REGION), calls)
    with cloudformation, s3:
        yield StubbedAws(sessions, cloudformation, s3, calls)


@pytest.fixture
def settings() -> OperatorSettings:
    return OperatorSettings(default_region=REGION, poll_interval=15.0)


@pytest.fixture
def reconciler(aws: StubbedAws, settings: OperatorSettings) -> Reconciler:
    return Reconciler(aws.sessions, SOURCES, settings, clock=lambda: NOW)


@pytest.fixture
def deleter(aws: StubbedAws, settings: OperatorSettings) -> Deleter:
    return Deleter(aws.sessions, settings, clock=lambda: NOW)
