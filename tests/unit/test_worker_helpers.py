"""Small helpers of the drift and worker operations: metric queries, merged status, the rate limit."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import pytest

from turbine_operator.core.api.spec import field_of
from turbine_operator.core.errors import SpecError
from turbine_operator.operations.fleet.rate_limits import FairTurns, TokenBucket
from turbine_operator.operations.fleet.status_effects import merged_status, observe
from turbine_operator.operations.fleet.workers import WatchedStack, load_query
from turbine_operator.operations.turbine_stack import StackResource

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


class _Watcher:
    """Records what status_effects asks of the worker watcher."""

    def __init__(self) -> None:
        self.watched: list[str] = []
        self.forgotten: list[str] = []

    def watch(self, stack: WatchedStack) -> None:
        self.watched.append(stack.uid)

    def forget(self, uid: str) -> None:
        self.forgotten.append(uid)


class _Metrics:
    def update(self, *_: object, **__: object) -> None:
        pass


@pytest.mark.parametrize(("suspend", "watched"), [(False, ["u-1"]), (True, [])])
def test_a_suspended_stack_is_not_watched_for_workers(suspend: bool, watched: list[str]) -> None:
    # Suspended means no AWS calls at all: the worker figures are read from AWS too.
    resource = StackResource(
        "data", "airflow", "u-1", 2, {"templateBucket": {"name": "templates"}, "suspend": suspend}, {}
    )
    status = {"outputs": {"WorkerAutoScalingGroupName": "group"}}
    watcher = _Watcher()

    observe(resource, status, cast(Any, _Metrics()), cast(Any, watcher), "us-east-1")

    assert watcher.watched == watched
    assert watcher.forgotten == ([] if watched else ["u-1"])


def test_a_suspended_stack_with_another_invalid_field_is_still_suspended() -> None:
    raw = {"templateBucket": {"name": "Not_A_Bucket"}, "suspend": True, "workers": {"maxSize": -1}}
    assert StackResource("data", "airflow", "u-1", 2, raw, {}).suspended
    assert not StackResource("data", "airflow", "u-1", 2, {**raw, "suspend": "yes"}, {}).suspended


@pytest.mark.parametrize(
    ("role_arn", "watched_with"),
    [
        (None, [None]),
        ("arn:aws:iam::123456789012:role/turbine", ["arn:aws:iam::123456789012:role/turbine"]),
        ("arn:aws:iam::1234:role/turbine", []),  # invalid: not read with the operator's own identity
    ],
)
def test_worker_figures_are_read_with_the_stacks_role_and_never_without_a_valid_one(
    role_arn: str | None, watched_with: list[str | None]
) -> None:
    spec = {"templateBucket": {"name": "templates"}, "roleArn": role_arn}
    resource = StackResource("data", "airflow", "u-1", 2, spec, {})
    roles: list[str | None] = []
    watcher = _Watcher()
    watcher.watch = lambda stack: roles.append(stack.role_arn)  # type: ignore[method-assign]

    observe(
        resource,
        {"outputs": {"WorkerAutoScalingGroupName": "g"}},
        cast(Any, _Metrics()),
        cast(Any, watcher),
        "r",
    )

    assert roles == watched_with
    assert watcher.forgotten == ([] if watched_with else ["u-1"])


def test_field_of_names_the_invalid_field() -> None:
    with pytest.raises(SpecError) as caught:
        field_of({"roleArn": 7}, "role_arn")
    assert caught.value.field == "spec.roleArn"
    assert field_of({}, "role_arn") is None
    assert field_of({"suspend": True}, "suspend") is True
    with pytest.raises(ValueError, match="read it from parse_spec"):
        field_of({"tags": {"aws:x": "v"}}, "tags")  # its check is a validator, not its type


def test_a_spec_without_region_keeps_the_region_its_stack_was_created_in() -> None:
    # A new default region for the operator must not re-target existing stacks.
    resource = StackResource(
        "data", "airflow", "u-1", 2, {"templateBucket": {"name": "templates"}}, {"region": "eu-west-1"}
    )
    assert resource.parsed_spec(default_region="us-east-1").region == "eu-west-1"
    fresh = dataclasses.replace(resource, status={})
    assert fresh.parsed_spec(default_region="us-east-1").region == "us-east-1"


# Drift detections for a fleet: the longest-waiting stack first, at the bucket's rate.


def test_fair_turns_serve_the_stalest_stacks_first_and_report_the_backlog() -> None:
    now = [0.0]
    seen: list[tuple[int, float]] = []
    bucket = TokenBucket(per_minute=60, burst=2, clock=lambda: now[0])
    assert bucket.try_acquire()  # a busy moment: both tokens taken
    assert bucket.try_acquire()
    turns = FairTurns(bucket, forget_after=30, observer=lambda *b: seen.append(b), clock=lambda: now[0])
    stacks = {f"stack-{i}": float(i) for i in range(10)}  # stack-9 has been due longest
    assert not any(turns.try_acquire(uid, overdue) for uid, overdue in stacks.items())
    now[0] = 2.0  # two tokens again; the ticks come in the same order as before
    granted = [uid for uid, overdue in stacks.items() if turns.try_acquire(uid, overdue)]
    assert granted == ["stack-8", "stack-9"]  # not the first two to ask: the two stalest
    assert turns.backlog() == (8, 7.0)  # stack-7 is now the stalest, due for 7 s
    assert seen[-1] == (8, 7.0)
    # A refused stack learns when its turn should come: stack-7 first, one token a second from now.
    assert turns.retry_in("stack-7") == 1.0
    assert turns.retry_in("stack-0") == 8.0  # seven stacks ahead of it
    assert turns.retry_in("stack-8") is None  # it got its turn
    # Stacks that stop asking (detected, deleted, no longer due) drop out forget_after seconds after
    # their turn should have come; stack-0 asked last at 2 s with its turn 8 s later.
    now[0] = 41.0
    assert turns.try_acquire("stack-0", 39.0)
    assert turns.backlog() == (0, 0.0)


def test_fair_turns_forget_a_stack_that_withdraws() -> None:
    bucket = TokenBucket(per_minute=6, burst=1, clock=lambda: 0.0)
    assert bucket.try_acquire()
    turns = FairTurns(bucket, forget_after=600, clock=lambda: 0.0)
    assert not turns.try_acquire("a", 5.0)
    assert turns.retry_in("a") == 10.0  # one token every 10 s
    turns.withdraw("a")  # its detection was disabled
    assert turns.retry_in("a") is None
    assert turns.backlog() == (0, 0.0)
