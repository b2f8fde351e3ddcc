"""Reconciler and Deleter over a real AwsSessions whose CloudFormation and S3 clients are stubbed."""

from __future__ import annotations

import pytest

from stubbed.aws import REGION, SOURCES, RecordingStubber
from stubbed.cluster import ObjectsInMemory
from stubbed.fixtures import calls, cf_stub, s3_stub, sessions, shared_sessions
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.operations.stack.deletion import Deleter
from turbine_operator.operations.stack.reconcile import Reconciler

from .harness import NOW, StubbedAws

__all__ = [
    "aws",
    "calls",
    "cf_stub",
    "deleter",
    "objects",
    "reconciler",
    "s3_stub",
    "sessions",
    "settings",
    "shared_sessions",
]


@pytest.fixture
def aws(
    sessions: AwsSessions, cf_stub: RecordingStubber, s3_stub: RecordingStubber, calls: list[str]
) -> StubbedAws:
    """Fresh stubbers (and call log) per test over the package's shared clients."""
    return StubbedAws(sessions, cf_stub, s3_stub, calls)


@pytest.fixture
def settings() -> OperatorSettings:
    return OperatorSettings(default_region=REGION, poll_interval=15.0)


@pytest.fixture
def objects() -> ObjectsInMemory:
    return ObjectsInMemory()


@pytest.fixture
def reconciler(aws: StubbedAws, settings: OperatorSettings, objects: ObjectsInMemory) -> Reconciler:
    return Reconciler(aws.sessions, SOURCES, settings, objects, clock=lambda: NOW)


@pytest.fixture
def deleter(aws: StubbedAws, settings: OperatorSettings, objects: ObjectsInMemory) -> Deleter:
    return Deleter(aws.sessions, settings, objects, clock=lambda: NOW)
