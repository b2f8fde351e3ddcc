"""AWS request counting: every request by outcome, throttling counted apart, a 304 counted as a success."""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from prometheus_client import REGISTRY

from stubbed.aws import BUCKET, REGION
from turbine_operator.adapters.metrics import observe_client


def _count(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.usefixtures("aws_env")
@pytest.mark.parametrize(
    ("code", "outcome", "throttled"),
    [
        (None, "ok", False),
        ("304", "ok", False),
        ("AccessDenied", "error", False),
        ("SlowDown", "throttled", True),
        ("ThrottlingException", "throttled", True),
        ("RequestThrottled", "throttled", True),
    ],
)
def test_each_request_is_counted_by_outcome(code: str | None, outcome: str, throttled: bool) -> None:
    client: Any = boto3.session.Session().client("s3", region_name=REGION)
    observe_client(client)
    labels = {"service": "s3", "operation": "HeadBucket"}
    before = _count("turbine_aws_requests_total", **labels, outcome=outcome)
    throttled_before = _count("turbine_aws_throttled_requests_total", **labels)
    with Stubber(client) as stub:
        if code is None:
            stub.add_response("head_bucket", {}, {"Bucket": BUCKET})
        else:
            stub.add_client_error("head_bucket", code, "", 400, expected_params={"Bucket": BUCKET})
        with contextlib.suppress(client.exceptions.ClientError):
            client.head_bucket(Bucket=BUCKET)
    assert _count("turbine_aws_requests_total", **labels, outcome=outcome) == before + 1
    assert _count("turbine_aws_throttled_requests_total", **labels) == throttled_before + int(throttled)
