"""Small helpers of the drift and worker operations: metric queries, merged status, the rate limit."""

from __future__ import annotations

import pytest

from turbine_operator.operations.observing import merged_status
from turbine_operator.operations.rate_limits import TokenBucket
from turbine_operator.operations.workers import load_query

UID = "6f1c0d3e-8a40-4c57-9a0e-6d2d5b1c2f10"


def test_load_query_reads_the_metric_and_its_dimensions_from_the_outputs() -> None:
    outputs = {
        "ClusterLoadMetricNamespace": "Turbine",
        "ClusterLoadMetricName": "ClusterLoad",
        "ClusterLoadMetricDimensions": "AutoScalingGroupName=workers-1, Stack = s",
    }
    query = load_query(UID, outputs)
    assert query is not None
    assert (query.namespace, query.metric) == ("Turbine", "ClusterLoad")
    assert query.dimensions == (("AutoScalingGroupName", "workers-1"), ("Stack", "s"))
    # GetMetricData ids must start with a lowercase letter and hold only letters, digits and underscores.
    assert query.query_id[0].islower()
    assert query.query_id.replace("_", "").isalnum()


@pytest.mark.parametrize("missing", ["ClusterLoadMetricNamespace", "ClusterLoadMetricName"])
def test_no_query_without_the_metric_outputs(missing: str) -> None:
    outputs = {"ClusterLoadMetricNamespace": "Turbine", "ClusterLoadMetricName": "ClusterLoad"}
    del outputs[missing]
    assert load_query(UID, outputs) is None


def test_merged_status_applies_a_merge_patch_one_level_deep() -> None:
    before = {"stackStatus": "CREATE_COMPLETE", "drift": {"specInSync": True, "detectionId": "d1"}, "gone": 1}
    patch = {
        "stackStatus": "UPDATE_COMPLETE",
        "drift": {"detectionId": None, "lastCheckTime": "t"},
        "gone": None,
    }
    assert merged_status(before, patch) == {
        "stackStatus": "UPDATE_COMPLETE",
        "drift": {"specInSync": True, "lastCheckTime": "t"},
    }


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(per_minute=6, burst=2, clock=lambda: now[0])
    assert [bucket.try_acquire() for _ in range(3)] == [True, True, False]
    now[0] = 9.0  # 6 per minute is one every 10 s
    assert not bucket.try_acquire()
    now[0] = 10.0
    assert bucket.try_acquire()
