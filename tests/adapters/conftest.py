"""Stubbed CloudFormation and S3 clients behind a real AwsSessions: no moto, no network."""

from __future__ import annotations

import pytest

from stubbed.aws import REGION, RecordingStubber
from stubbed.fixtures import aws_env, calls, cf_stub, s3_stub, sessions, shared_sessions
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.cloudformation import StackGateway

__all__ = ["aws_env", "calls", "cf_stub", "gateway", "s3_stub", "sessions", "shared_sessions"]


@pytest.fixture
def gateway(sessions: AwsSessions, cf_stub: RecordingStubber, s3_stub: RecordingStubber) -> StackGateway:
    """A gateway over the very clients the stubbers wrap (AwsSessions caches them per key)."""
    return StackGateway(sessions, REGION, None)
