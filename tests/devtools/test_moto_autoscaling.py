"""The embedded AWS's Auto Scaling keeps the rules the worker set relies on, as AWS words and documents
them (turbine_dev.aws.moto_autoscaling): target tracking creates its alarms, capacity stays within the
group's limits, and a scale-in with every instance protected lowers the desired capacity only."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from .in_process_aws import IN_PROCESS_REGION, WORKER_GROUP, create_worker_group

REGION, GROUP = IN_PROCESS_REGION, WORKER_GROUP


@pytest.fixture
def autoscaling(in_process_aws: None) -> Any:
    return create_worker_group(min_size=1, max_size=4, desired=2)


def _group(autoscaling: Any) -> dict[str, Any]:
    [group] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])["AutoScalingGroups"]
    return dict(group)


@pytest.mark.parametrize(
    ("desired", "message"),
    [
        (5, "New SetDesiredCapacity value 5 is above max value 4 for the AutoScalingGroup."),
        (0, "New SetDesiredCapacity value 0 is below min value 1 for the AutoScalingGroup."),
    ],
)
def test_set_desired_capacity_outside_the_limits_is_refused(
    autoscaling: Any, desired: int, message: str
) -> None:
    with pytest.raises(ClientError) as refused:
        autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=desired)

    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert refused.value.response["Error"]["Message"] == message
    assert _group(autoscaling)["DesiredCapacity"] == 2


def test_a_policy_stays_within_the_limits(autoscaling: Any) -> None:
    for name, adjustment in (("grow", 5), ("shrink", -5)):
        autoscaling.put_scaling_policy(
            AutoScalingGroupName=GROUP, PolicyName=name, PolicyType="SimpleScaling",
            AdjustmentType="ChangeInCapacity", ScalingAdjustment=adjustment,
        )  # fmt: skip

    autoscaling.execute_policy(AutoScalingGroupName=GROUP, PolicyName="grow")
    assert _group(autoscaling)["DesiredCapacity"] == 4
    autoscaling.execute_policy(AutoScalingGroupName=GROUP, PolicyName="shrink")
    assert _group(autoscaling)["DesiredCapacity"] == 1


def test_a_scale_in_with_every_instance_protected_lowers_the_desired_capacity_and_terminates_none(
    autoscaling: Any,
) -> None:
    instances = [i["InstanceId"] for i in _group(autoscaling)["Instances"]]
    autoscaling.set_instance_protection(
        AutoScalingGroupName=GROUP, InstanceIds=instances, ProtectedFromScaleIn=True
    )
    autoscaling.put_scaling_policy(
        AutoScalingGroupName=GROUP, PolicyName="shrink", PolicyType="SimpleScaling",
        AdjustmentType="ChangeInCapacity", ScalingAdjustment=-1,
    )  # fmt: skip

    autoscaling.execute_policy(AutoScalingGroupName=GROUP, PolicyName="shrink")

    group = _group(autoscaling)
    assert group["DesiredCapacity"] == 1
    assert sorted(i["InstanceId"] for i in group["Instances"]) == sorted(instances)


@pytest.mark.parametrize(
    ("disable_scale_in", "kinds"), [(True, ["AlarmHigh"]), (False, ["AlarmHigh", "AlarmLow"])]
)
def test_a_target_tracking_policy_creates_the_alarms_that_invoke_it(
    autoscaling: Any, disable_scale_in: bool, kinds: list[str]
) -> None:
    metric = {
        "Namespace": "Turbine", "MetricName": "SlotDemand", "Statistic": "Average",
        "Dimensions": [{"Name": "AutoScalingGroupName", "Value": GROUP}],
    }  # fmt: skip
    reply = autoscaling.put_scaling_policy(
        AutoScalingGroupName=GROUP, PolicyName="track", PolicyType="TargetTrackingScaling",
        TargetTrackingConfiguration={
            "TargetValue": 0.9, "DisableScaleIn": disable_scale_in, "CustomizedMetricSpecification": metric,
        },
    )  # fmt: skip

    assert reply["PolicyARN"].endswith(f":autoScalingGroupName/{GROUP}:policyName/track")
    names = [alarm["AlarmName"] for alarm in reply["Alarms"]]
    assert [name.split("-")[2] for name in names] == kinds
    assert all(name.startswith(f"TargetTracking-{GROUP}-") for name in names)
    described = boto3.client("cloudwatch", region_name=REGION).describe_alarms(AlarmNames=names)[
        "MetricAlarms"
    ]
    by_kind = {alarm["AlarmName"].split("-")[2]: alarm for alarm in described}
    high = by_kind["AlarmHigh"]
    assert (high["MetricName"], high["Threshold"], high["ComparisonOperator"]) == (
        "SlotDemand", 0.9, "GreaterThanThreshold",
    )  # fmt: skip
    assert (high["Period"], high["EvaluationPeriods"], high["DatapointsToAlarm"]) == (60, 3, 3)
    assert high["AlarmActions"] == [reply["PolicyARN"]]
    if "AlarmLow" in by_kind:
        low = by_kind["AlarmLow"]
        assert low["Threshold"] == pytest.approx(0.81)
        assert low["ComparisonOperator"] == "LessThanThreshold"
        assert (low["EvaluationPeriods"], low["DatapointsToAlarm"]) == (15, 15)
