"""Scaling decisions of the worker set in simulated metric time: the product's load function and the
alarms exactly as turbine-workerset.yaml declares them, over moto's SQS, Auto Scaling and CloudWatch.

The bound stated in cfn/README.md: a decision to add a worker comes at most 120 s after the task that
needs it was queued (the next whole minute's invocation, then one 60 s alarm period).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto import mock_aws

import turbine_cluster_load
from turbine_dev.metric_time import Alarm, alarm_state, time_to_alarm

WORKERSET = Path(__file__).resolve().parents[2] / "cfn" / "templates" / "turbine-workerset.yaml"
REGION, QUEUE, GROUP = "us-east-1", "broker", "workers"
SCALE_OUT_DECISION_BOUND = 120.0
QUEUED_AT = datetime.datetime(2026, 11, 26, 9, 0, 17, tzinfo=datetime.UTC)


class _CloudFormationTags(yaml.SafeLoader):
    """Reads the template's short-form tags (!Ref, !FindInMap, ...) as plain values."""


_CloudFormationTags.add_multi_constructor("!", lambda loader, suffix, node: None)


def template_alarm(logical_id: str, threshold: float) -> Alarm:
    alarm = yaml.load(WORKERSET.read_text(), _CloudFormationTags)["Resources"][logical_id]["Properties"]  # noqa: S506
    return Alarm.described(
        {**alarm, "AlarmName": logical_id, "Namespace": "Turbine", "MetricName": "ClusterLoad",
         "Dimensions": [{"Name": "AutoScalingGroupName", "Value": GROUP}], "Threshold": threshold}
    )  # fmt: skip


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        clients: dict[str, Any] = {
            name: boto3.client(name, region_name=REGION) for name in ("sqs", "autoscaling", "cloudwatch")
        }
        clients["sqs"].create_queue(QueueName=QUEUE)
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.create_launch_template(LaunchTemplateName="workers", LaunchTemplateData={"ImageId": image})
        clients["autoscaling"].create_auto_scaling_group(
            AutoScalingGroupName=GROUP, LaunchTemplate={"LaunchTemplateName": "workers"},
            MinSize=0, MaxSize=10, DesiredCapacity=0, AvailabilityZones=[f"{REGION}a"],
        )  # fmt: skip
        yield clients


def _invoke(aws: dict[str, Any]) -> Any:
    environ = {"QUEUE_NAME": QUEUE, "AUTO_SCALING_GROUP_NAME": GROUP, "SLOTS_PER_WORKER": "16"}
    return lambda now: turbine_cluster_load.handler({}, None, clock=lambda: now, clients=aws, environ=environ)


def _tasks(aws: dict[str, Any], queued: int, running: int = 0) -> None:
    url = aws["sqs"].get_queue_url(QueueName=QUEUE)["QueueUrl"]
    for index in range(queued + running):
        aws["sqs"].send_message(QueueUrl=url, MessageBody=str(index))
    taken = 0
    while taken < running:
        reply = aws["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, running - taken))
        taken += len(reply.get("Messages", []))


def test_a_task_queued_on_an_empty_worker_set_gets_a_worker_decided_within_the_bound(
    aws: dict[str, Any],
) -> None:
    _tasks(aws, queued=1)

    decision = time_to_alarm(
        _invoke(aws), aws["cloudwatch"], template_alarm("LoadAboveGrowthThresholdAlarm", 0.9), QUEUED_AT
    )

    assert decision.seconds is not None
    assert decision.seconds <= SCALE_OUT_DECISION_BOUND
    assert decision.invocations == 2  # 09:01 publishes 1.0; the 09:01-09:02 period breaches at 09:02


def test_a_full_cluster_gets_another_worker_decided_within_the_bound(aws: dict[str, Any]) -> None:
    aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
    _tasks(aws, queued=1, running=16)

    decision = time_to_alarm(
        _invoke(aws), aws["cloudwatch"], template_alarm("LoadAboveGrowthThresholdAlarm", 0.9), QUEUED_AT
    )

    assert decision.seconds is not None
    assert decision.seconds <= SCALE_OUT_DECISION_BOUND


def test_an_idle_worker_is_not_grown_and_goes_after_fifteen_low_minutes(aws: dict[str, Any]) -> None:
    aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
    invoke = _invoke(aws)

    grow = time_to_alarm(
        invoke, aws["cloudwatch"], template_alarm("LoadAboveGrowthThresholdAlarm", 0.9), QUEUED_AT
    )
    shrink = time_to_alarm(
        invoke, aws["cloudwatch"], template_alarm("LoadBelowShrinkThresholdAlarm", 0.5), QUEUED_AT
    )

    assert grow.decided_at is None
    assert shrink.seconds is not None
    assert 15 * 60 <= shrink.seconds <= 16 * 60


def test_a_busy_worker_with_free_slots_reads_as_low_load_so_protection_must_keep_it(
    aws: dict[str, Any],
) -> None:
    # Two long tasks on a 16-slot worker are a load of 0.125: the shrink alarm fires. What keeps this
    # worker is its scale-in protection (turbine-worker-drain.sh), not the load (cfn/README.md).
    aws["autoscaling"].set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)
    _tasks(aws, queued=0, running=2)

    shrink = time_to_alarm(
        _invoke(aws), aws["cloudwatch"], template_alarm("LoadBelowShrinkThresholdAlarm", 0.5), QUEUED_AT
    )

    assert shrink.decided_at is not None


def _publish(aws: dict[str, Any], minute: datetime.datetime, load: float) -> None:
    aws["cloudwatch"].put_metric_data(
        Namespace="Turbine",
        MetricData=[
            {
                "MetricName": "ClusterLoad",
                "Dimensions": [{"Name": "AutoScalingGroupName", "Value": GROUP}],
                "Timestamp": minute,
                "Value": load,
            }
        ],
    )


def test_a_minute_the_load_function_skipped_reuses_the_minute_before(aws: dict[str, Any]) -> None:
    # AWS: with enough datapoints in the evaluation range, the most recent real ones are evaluated and
    # TreatMissingData is ignored; so a skipped minute does not end an ALARM.
    alarm = template_alarm("LoadAboveGrowthThresholdAlarm", 0.9)
    minute = QUEUED_AT.replace(second=0)
    _publish(aws, minute, 1.0)

    assert alarm_state(aws["cloudwatch"], alarm, minute + datetime.timedelta(minutes=1)) == "ALARM"
    assert alarm_state(aws["cloudwatch"], alarm, minute + datetime.timedelta(minutes=2)) == "ALARM"


def test_with_no_datapoint_in_the_evaluation_range_missing_data_does_not_breach(aws: dict[str, Any]) -> None:
    alarm = template_alarm("LoadAboveGrowthThresholdAlarm", 0.9)
    assert alarm.treat_missing_data == "notBreaching"
    minute = QUEUED_AT.replace(second=0)
    _publish(aws, minute, 1.0)

    assert alarm_state(aws["cloudwatch"], alarm, minute) == "OK"  # the datapoint's period has not ended
    assert alarm_state(aws["cloudwatch"], alarm, minute + datetime.timedelta(minutes=10)) == "OK"
