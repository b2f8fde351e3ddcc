"""An Auto Scaling group's rolling update as CloudFormation accepts it, and the Turbine groups' own.

https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatepolicy.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-creationpolicy.html
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.aws.moto_update_policy import refusal


def group_template(max_size: int, min_in_service: int, pause: str = "PT30M") -> str:
    return json.dumps({
        "Resources": {
            "Template": {"Type": "AWS::EC2::LaunchTemplate", "Properties": {
                "LaunchTemplateData": {"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}}},
            "Group": {
                "Type": "AWS::AutoScaling::AutoScalingGroup",
                "UpdatePolicy": {"AutoScalingRollingUpdate": {
                    "MinInstancesInService": min_in_service, "MaxBatchSize": 1, "PauseTime": pause}},
                "Properties": {
                    "MinSize": "1", "MaxSize": str(max_size), "DesiredCapacity": "1",
                    "AvailabilityZones": ["us-east-1a"],
                    "LaunchTemplate": {"LaunchTemplateId": {"Ref": "Template"},
                                       "Version": {"Fn::GetAtt": ["Template", "LatestVersionNumber"]}},
                },
            },
        }
    })  # fmt: skip


def test_min_instances_in_service_at_max_size_is_refused_as_aws_words_it(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    with pytest.raises(ClientError) as refused:
        cloudformation.create_stack(StackName=f"s{uuid.uuid4().hex[:8]}", TemplateBody=group_template(1, 1))
    assert refused.value.response["Error"]["Message"] == (
        "MinInstancesInService must be less than the autoscaling group's MaxSize"
    )
    # One more instance of room lets the rolling update launch the replacement first.
    cloudformation.create_stack(StackName=f"s{uuid.uuid4().hex[:8]}", TemplateBody=group_template(2, 1))


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            {
                "UpdatePolicy": {"AutoScalingRollingUpdate": {"PauseTime": "PT1H"}},
                "Properties": {"MaxSize": 2},
            },
            None,
        ),
        (
            {
                "UpdatePolicy": {"AutoScalingRollingUpdate": {"PauseTime": "PT61M"}},
                "Properties": {"MaxSize": 2},
            },
            "The maximum PauseTime is one hour (PT1H)",
        ),
        (
            {"CreationPolicy": {"ResourceSignal": {"Timeout": "PT12H1S"}}, "Properties": {"MaxSize": 2}},
            "The maximum ResourceSignal Timeout is 12 hours (PT12H)",
        ),
        (
            {"UpdatePolicy": {"AutoScalingRollingUpdate": {}}, "Properties": {"MaxSize": 1}},
            None,
        ),  # MinInstancesInService defaults to 0
    ],
)
def test_pause_and_signal_timeouts_within_aws_limits(resource: dict[str, Any], expected: str | None) -> None:
    assert refusal(resource) == expected
