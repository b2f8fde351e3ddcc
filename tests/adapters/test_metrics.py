"""AWS request counting: every request by outcome, throttling counted apart, a 304 counted as a success."""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from prometheus_client import REGISTRY

from stubbed.aws import BUCKET, REGION
from turbine_operator.adapters.metrics import StackMetrics, observe_client
from turbine_operator.core.api.conditions import stalled_reason


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


def test_stalled_carries_the_stalled_conditions_reason_one_series_per_stack() -> None:
    conditions = [
        {"type": "Ready", "status": "False", "reason": "InvalidSpec"},
        {"type": "Stalled", "status": "True", "reason": "InvalidSpec"},
    ]
    metrics = StackMetrics()
    metrics.update("a", "team-a", "airflow", stalled=True, stalled_reason=stalled_reason(conditions))
    metrics.update("b", "team-b", "airflow", stalled=False, stalled_reason=stalled_reason(conditions[:1]))
    (family,) = [family for family in metrics.collect() if family.name == "turbine_stack_stalled"]
    assert sorted(
        (sample.labels["namespace"], sample.labels["reason"], sample.value) for sample in family.samples
    ) == [
        ("team-a", "InvalidSpec", 1.0),
        ("team-b", "", 0.0),
    ]
