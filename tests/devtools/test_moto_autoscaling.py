"""The embedded AWS's Auto Scaling keeps the rules the worker set relies on, as AWS words and documents
them (turbine_dev.aws.moto_autoscaling): target tracking creates its alarms, capacity stays within the
group's limits, and a scale-in with every instance protected lowers the desired capacity only."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.autoscaling.models import autoscaling_backends
from moto.core.models import DEFAULT_ACCOUNT_ID

from turbine_dev.aws import moto_autoscaling
from turbine_dev.aws.moto_autoscaling import TERMINATING

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


def test_a_scale_in_holds_the_instance_in_terminating_wait_until_its_lifecycle_action_completes(
    autoscaling: Any,
) -> None:
    """Issue 24's burst drains the workers a scale-in chose: with a termination lifecycle hook the instance
    stays in the group, no longer its capacity, until CompleteLifecycleAction; moto terminated it at once."""
    autoscaling.put_lifecycle_hook(
        AutoScalingGroupName=GROUP, LifecycleHookName="drain", LifecycleTransition=TERMINATING,
        HeartbeatTimeout=600, DefaultResult="CONTINUE",
    )  # fmt: skip
    busy, idle = [i["InstanceId"] for i in _group(autoscaling)["Instances"]]
    autoscaling.set_instance_protection(
        AutoScalingGroupName=GROUP, InstanceIds=[busy], ProtectedFromScaleIn=True
    )

    autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)

    group = _group(autoscaling)
    states = {i["InstanceId"]: i["LifecycleState"] for i in group["Instances"]}
    assert (group["DesiredCapacity"], states) == (1, {busy: "InService", idle: "Terminating:Wait"})
    backend = autoscaling_backends[DEFAULT_ACCOUNT_ID][REGION]
    # In service: there is no lifecycle action to complete.
    assert not moto_autoscaling.complete_termination(backend, GROUP, busy)
    assert moto_autoscaling.complete_termination(backend, GROUP, idle)
    assert [i["InstanceId"] for i in _group(autoscaling)["Instances"]] == [busy]
    ec2 = boto3.client("ec2", region_name=REGION)
    [reservation] = ec2.describe_instances(InstanceIds=[idle])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "terminated"


def test_a_template_s_lifecycle_hook_specifications_are_the_group_s_hooks(in_process_aws: None) -> None:
    template = {
        "Resources": {
            "Template": {"Type": "AWS::EC2::LaunchTemplate", "Properties": {"LaunchTemplateData": {
                "ImageId": "ami-12c6146b"}}},
            "Group": {"Type": "AWS::AutoScaling::AutoScalingGroup", "Properties": {
                "MinSize": "0", "MaxSize": "2", "AvailabilityZones": [f"{REGION}a"],
                "LaunchTemplate": {"LaunchTemplateId": {"Ref": "Template"},
                                   "Version": {"Fn::GetAtt": ["Template", "LatestVersionNumber"]}},
                "LifecycleHookSpecificationList": [{
                    "LifecycleHookName": "drain", "LifecycleTransition": TERMINATING,
                    "HeartbeatTimeout": "900", "DefaultResult": "CONTINUE"}],
            }},
        }
    }  # fmt: skip
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName="hooks", TemplateBody=json.dumps(template))
    [group] = [
        r["PhysicalResourceId"]
        for r in cloudformation.list_stack_resources(StackName="hooks")["StackResourceSummaries"]
        if r["LogicalResourceId"] == "Group"
    ]

    autoscaling = boto3.client("autoscaling", region_name=REGION)
    [hook] = autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=group)["LifecycleHooks"]

    assert (hook["LifecycleHookName"], hook["LifecycleTransition"], hook["HeartbeatTimeout"]) == (
        "drain", TERMINATING, 900,
    )  # fmt: skip
