"""Stubbed CloudFormation and S3 clients behind a real AwsSessions: no moto, no network.

A conftest imports these fixtures (and lists them in its `__all__`) to use them in its package;
`shared_sessions` is then package-scoped to that package.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from turbine_operator.adapters.aws.aws_sessions import AwsSessions

from .aws import REGION, RecordingStubber, isolate_aws_environment


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
    """A fresh stubber per test over the package's shared CloudFormation client."""
    stubber = RecordingStubber(sessions.client("cloudformation", REGION), calls)
    with stubber:
        yield stubber


@pytest.fixture
def s3_stub(sessions: AwsSessions, calls: list[str]) -> Iterator[RecordingStubber]:
    """A fresh stubber per test over the package's shared S3 client."""
    stubber = RecordingStubber(sessions.client("s3", REGION), calls)
    with stubber:
        yield stubber
