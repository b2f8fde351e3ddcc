"""A request botocore refuses to send (its parameter validation) is a permanent domain error, not a crash.

A real client (no Stubber, whose hooks run before the validation) and a loopback endpoint where
nothing listens: had the request been sent, the error would be a transient connection failure.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from stubbed.aws import REGION, isolate_aws_environment, render_desired, spec
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.cloudformation import StackGateway
from turbine_operator.core.errors import AwsValidationError
from turbine_operator.core.naming import change_set_name
from turbine_operator.core.plan.planning import ChangeSetKind


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[StackGateway]:
    isolate_aws_environment(monkeypatch, tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{holder.getsockname()[1]}")
        yield StackGateway(AwsSessions(max_attempts=1), REGION, None)


def test_an_empty_tag_value_is_refused_as_a_validation_error(gateway: StackGateway) -> None:
    desired = dataclasses.replace(render_desired(spec()), tags={"team": ""})

    with pytest.raises(AwsValidationError) as caught:
        gateway.create_change_set(desired, change_set_name(desired.hash), ChangeSetKind.CREATE, "token")

    assert caught.value.code == "ParamValidationError"
    assert "Tags" in caught.value.message
