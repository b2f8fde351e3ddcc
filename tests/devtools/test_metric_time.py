"""Scaling decisions of the worker set in simulated metric time: the product's load function and the
policies and alarms exactly as turbine-workerset.yaml declares them, over moto's SQS, Auto Scaling and
CloudWatch with the embedded AWS's Auto Scaling rules (turbine_dev.aws.moto_autoscaling: a target tracking
policy creates its alarms, capacity stays within MinSize..MaxSize).

The bounds stated in cfn/README.md: a task queued on an empty group gets its first worker decided at
most 120 s after it was queued (the next whole minute's invocation, then one 60 s alarm period); a
backlog on running workers gets the workers it needs decided in one step, within 240 s (the
invocation, then the target tracking alarm's three 60 s periods).
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

import boto3
import pytest

import turbine_cluster_load
from turbine_dev.aws.metric_time import Alarm, GroupScaling, alarm_state, target_tracking_capacity
from turbine_operator.core.render.templates import load_template

from .in_process_aws import IN_PROCESS_REGION, WORKER_GROUP, create_worker_group

WORKERSET = Path(__file__).resolve().parents[2] / "cfn" / "templates" / "turbine-workerset.yaml"
REGION, QUEUE, GROUP = IN_PROCESS_REGION, "broker", WORKER_GROUP
FROM_ZERO_DECISION_BOUND = 120.0
BACKLOG_DECISION_BOUND = 240.0
QUEUED_AT = datetime.datetime(2026, 11, 26, 9, 0, 17, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


def _resolve(value: Any, names: dict[str, Any], mappings: dict[str, Any]) -> Any:
    """The template's Ref and Fn::FindInMap, as CloudFormation resolves them for this group."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return names[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::FindInMap"}:
        mapping, key, name = value["Fn::FindInMap"]
        return mappings[mapping][key][name]
    if isinstance(value, dict):
        return {key: _resolve(item, names, mappings) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve(item, names, mappings) for item in value]
    return value


def deploy_scaling(aws: dict[str, Any], growth: float = 0.9, shrink: float = 0.5) -> None:
    """The worker set's scaling policies and alarms, put as CloudFormation would put them."""
    template = load_template(WORKERSET.read_bytes(), str(WORKERSET))
    resources, mappings = template["Resources"], template["Mappings"]
    names: dict[str, Any] = {"WorkerGroup": GROUP, "GrowthThreshold": growth, "ShrinkThreshold": shrink}
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::AutoScaling::ScalingPolicy":
            properties = _resolve(resource["Properties"], names, mappings)
            optional = {
                key: properties[key]
                for key in ("AdjustmentType", "ScalingAdjustment", "TargetTrackingConfiguration")
                if key in properties
            }
            if "Cooldown" in properties:
                optional["Cooldown"] = int(properties["Cooldown"])
            if "EstimatedInstanceWarmup" in properties:
                optional["EstimatedInstanceWarmup"] = int(properties["EstimatedInstanceWarmup"])
            reply = aws["autoscaling"].put_scaling_policy(
                AutoScalingGroupName=GROUP,
                PolicyName=logical_id,
                PolicyType=properties["PolicyType"],
                **optional,
            )
            names[logical_id] = reply["PolicyARN"]
    for logical_id, resource in resources.items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            properties = _resolve(resource["Properties"], names, mappings)
            properties.pop("AlarmDescription", None)
            aws["cloudwatch"].put_metric_alarm(AlarmName=logical_id, **properties)


@pytest.fixture
def aws(in_process_aws: None) -> dict[str, Any]:
    clients: dict[str, Any] = {name: boto3.client(name, region_name=REGION) for name in ("sqs", "cloudwatch")}
    clients["sqs"].create_queue(QueueName=QUEUE)
    clients["autoscaling"] = create_worker_group(min_size=0, max_size=10, desired=0)
    return clients


def _scaling(aws: dict[str, Any], slots: int = 16, shrink: float = 0.5) -> GroupScaling:
    environ = {
        "QUEUE_NAME": QUEUE, "AUTO_SCALING_GROUP_NAME": GROUP, "SLOTS_PER_WORKER": str(slots),
        "SHRINK_THRESHOLD": str(shrink),
    }  # fmt: skip

    def invoke(now: datetime.datetime) -> Any:
        return turbine_cluster_load.handler({}, None, clock=lambda: now, clients=aws, environ=environ)

    return GroupScaling(aws, GROUP, invoke)


def _tasks(aws: dict[str, Any], queued: int, running: int = 0) -> None:
    url = aws["sqs"].get_queue_url(QueueName=QUEUE)["QueueUrl"]
    for first in range(0, queued + running, 10):
        count = min(10, queued + running - first)
        entries = [{"Id": str(i), "MessageBody": str(first + i)} for i in range(count)]
        aws["sqs"].send_message_batch(QueueUrl=url, Entries=entries)
    taken = 0
    while taken < running:
        reply = aws["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, running - taken))
        taken += len(reply.get("Messages", []))


def _workers(aws: dict[str, Any], count: int, busy: int = 0, max_size: int = 10) -> None:
    aws["autoscaling"].update_auto_scaling_group(
        AutoScalingGroupName=GROUP, MaxSize=max_size, DesiredCapacity=count
    )
    [group] = aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"
    ]
    if busy:
        aws["autoscaling"].set_instance_protection(
            AutoScalingGroupName=GROUP,
            InstanceIds=[i["InstanceId"] for i in group["Instances"]][:busy],
            ProtectedFromScaleIn=True,
        )


def _desired(aws: dict[str, Any]) -> int:
    [group] = aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
        "AutoScalingGroups"
    ]
    return int(group["DesiredCapacity"])


def _first_action(
    scaling: GroupScaling, horizon_minutes: int = 30, since: datetime.datetime = QUEUED_AT
) -> Any:
    scaling.run(since, bool, datetime.timedelta(minutes=horizon_minutes))
    return scaling.actions[0] if scaling.actions else None


def test_a_task_queued_on_an_empty_worker_set_gets_a_worker_decided_within_the_bound(
    aws: dict[str, Any],
) -> None:
    deploy_scaling(aws)
    _tasks(aws, queued=1)

    action = _first_action(_scaling(aws))

    assert action is not None
    assert action.alarm == "UnservedTasksAlarm"
    assert (action.at - QUEUED_AT).total_seconds() <= FROM_ZERO_DECISION_BOUND
    assert (action.desired_before, action.desired_after) == (0, 1)


@pytest.mark.parametrize(
    ("tasks", "running_workers", "max_size", "slots"),
    [(200, 2, 10, 16), (200, 1, 10, 16), (40, 1, 5, 4)],
    ids=["production-200-tasks-10x16", "production-from-one-worker", "rehearsal-40-tasks-5x4"],
)
def test_a_backlog_gets_the_workers_it_needs_in_the_first_decision(
    aws: dict[str, Any], tasks: int, running_workers: int, max_size: int, slots: int
) -> None:
    """Issue 24: one worker per 300 s cooldown, the load clamped at 1.0: 200 tasks on 2 of 10 x 16 slots
    took 8 cooldowns (40 minutes) to reach maxSize, and a backlog that needs more than about 7 new workers
    outlasts task_queued_timeout (2,400 s)."""
    deploy_scaling(aws)
    _workers(aws, running_workers, max_size=max_size)
    _tasks(aws, queued=tasks)
    scaling = _scaling(aws, slots=slots)

    first = _first_action(scaling)

    assert first is not None
    seconds = (first.at - QUEUED_AT).total_seconds()
    needed = min(max_size, math.ceil(tasks / (slots * 0.9)))
    print(  # the figures of the burst, for cfn/README.md
        f"burst {tasks} tasks on {running_workers} x {slots} slots, maxSize {max_size}: first decision after"
        f" {seconds:.0f} s of metric time by {first.alarm.split('-')[2]},"
        f" {first.desired_before} -> {first.desired_after} workers (needed {needed})"
    )
    assert first.policy_type == "TargetTrackingScaling"
    assert first.desired_after == needed == max_size
    assert seconds <= BACKLOG_DECISION_BOUND
    # The workers launched count as capacity at once: the policy does not ask for them again.
    scaling.run(first.at, lambda _: False, datetime.timedelta(minutes=10))
    assert [a for a in scaling.actions if a.desired_after != a.desired_before] == [first]


def test_the_policy_asks_in_proportion_and_stops_at_max_size() -> None:
    assert target_tracking_capacity(2, 200 / 32, 0.9, 10) == 10
    assert target_tracking_capacity(2, 200 / 32, 0.9, 100) == 14
    assert target_tracking_capacity(4, 1.0, 0.9, 10) == 5
    assert target_tracking_capacity(4, 0.9, 0.9, 10) == 4  # at the target: nothing to add
    assert target_tracking_capacity(0, 5.0, 0.9, 10) == 0  # nothing to scale in proportion


def test_an_idle_worker_is_not_grown_and_goes_after_fifteen_low_minutes(aws: dict[str, Any]) -> None:
    deploy_scaling(aws)
    _workers(aws, 1)

    first = _first_action(_scaling(aws))

    assert first is not None
    assert first.alarm == "RemovableWorkersAlarm"
    assert (first.desired_before, first.desired_after) == (1, 0)
    assert 15 * 60 <= (first.at - QUEUED_AT).total_seconds() <= 16 * 60


def test_busy_workers_with_free_slots_are_not_shrunk_and_their_desired_capacity_does_not_drift(
    aws: dict[str, Any],
) -> None:
    """Issue 24: two workers each running a long task are a load of 1/16, at or below ShrinkThreshold, so
    the shrink alarm fired; Auto Scaling lowers the desired capacity even when every instance is
    protected, and later growth only refilled it. Nothing may be removable while none is idle."""
    deploy_scaling(aws)
    _workers(aws, 2, busy=2)
    _tasks(aws, queued=0, running=2)
    scaling = _scaling(aws)

    scaling.run(QUEUED_AT, lambda _: False, datetime.timedelta(minutes=45))

    assert scaling.actions == []
    assert _desired(aws) == 2


def test_a_dead_task_neither_grows_an_empty_group_nor_keeps_a_worker(aws: dict[str, Any]) -> None:
    deploy_scaling(aws)
    _tasks(aws, queued=0, running=1)  # received by a worker that is gone: in flight for 12 hours

    assert _first_action(_scaling(aws), horizon_minutes=45) is None
    _workers(aws, 1)  # a worker in its place, idle
    first = _first_action(_scaling(aws), since=QUEUED_AT + 46 * MINUTE)
    assert first is not None
    assert (first.alarm, first.desired_after) == ("RemovableWorkersAlarm", 0)


def _alarm(logical_id: str) -> Alarm:
    template = load_template(WORKERSET.read_bytes(), str(WORKERSET))
    metric = template["Mappings"]["ClusterLoadMetric"]["Metric"]
    names = {"WorkerGroup": GROUP, "StartPolicy": "start", "ShrinkPolicy": "shrink"}
    properties = _resolve(template["Resources"][logical_id]["Properties"], names, template["Mappings"])
    assert properties["Namespace"] == metric["Namespace"]
    return Alarm.described({**properties, "AlarmName": logical_id})


def _publish(aws: dict[str, Any], minute: datetime.datetime, value: float) -> None:
    aws["cloudwatch"].put_metric_data(
        Namespace="Turbine",
        MetricData=[
            {
                "MetricName": turbine_cluster_load.UNSERVED_METRIC,
                "Dimensions": [{"Name": "AutoScalingGroupName", "Value": GROUP}],
                "Timestamp": minute,
                "Value": value,
            }
        ],
    )


def test_a_minute_the_load_function_skipped_reuses_the_minute_before(aws: dict[str, Any]) -> None:
    # AWS: with enough datapoints in the evaluation range, the most recent real ones are evaluated and
    # TreatMissingData is ignored; so a skipped minute does not end an ALARM.
    alarm = _alarm("UnservedTasksAlarm")
    minute = QUEUED_AT.replace(second=0)
    _publish(aws, minute, 1.0)

    assert alarm_state(aws["cloudwatch"], alarm, minute + MINUTE) == "ALARM"
    assert alarm_state(aws["cloudwatch"], alarm, minute + 2 * MINUTE) == "ALARM"


def test_with_no_datapoint_in_the_evaluation_range_missing_data_does_not_breach(aws: dict[str, Any]) -> None:
    alarm = _alarm("UnservedTasksAlarm")
    assert alarm.treat_missing_data == "notBreaching"
    minute = QUEUED_AT.replace(second=0)
    _publish(aws, minute, 1.0)

    assert alarm_state(aws["cloudwatch"], alarm, minute) == "OK"  # the datapoint's period has not ended
    assert alarm_state(aws["cloudwatch"], alarm, minute + 10 * MINUTE) == "OK"


def test_the_template_names_the_figures_the_function_publishes() -> None:
    metric = load_template(WORKERSET.read_bytes(), str(WORKERSET))["Mappings"]["ClusterLoadMetric"]["Metric"]
    assert metric["DemandName"] == turbine_cluster_load.DEMAND_METRIC
    assert metric["UnservedName"] == turbine_cluster_load.UNSERVED_METRIC
    assert metric["RemovableName"] == turbine_cluster_load.REMOVABLE_METRIC
