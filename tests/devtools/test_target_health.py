"""Target health as Elastic Load Balancing reports it: never healthy before a passing check.

https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from turbine_dev.aws.embedded_aws import EmbeddedAws


def _target_group(aws: EmbeddedAws, **health_check: Any) -> str:
    vpc = aws.client("ec2").create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    created = aws.client("elbv2").create_target_group(
        Name=f"tg-{len(health_check)}",
        Protocol="HTTP",
        Port=8080,
        VpcId=vpc,
        TargetType="instance",
        **health_check,
    )
    return str(created["TargetGroups"][0]["TargetGroupArn"])


def test_a_registered_instance_is_initial_until_a_health_check_passes(strict_aws: EmbeddedAws) -> None:
    ec2, elbv2 = strict_aws.client("ec2"), strict_aws.client("elbv2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    [instance] = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
    group = _target_group(strict_aws)
    elbv2.register_targets(TargetGroupArn=group, Targets=[{"Id": instance["InstanceId"]}])
    [health] = elbv2.describe_target_health(TargetGroupArn=group, Targets=[{"Id": instance["InstanceId"]}])[
        "TargetHealthDescriptions"
    ]
    assert health["TargetHealth"]["State"] == "initial"
    assert health["TargetHealth"]["Reason"] == "Elb.RegistrationInProgress"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"HealthCheckIntervalSeconds": 10, "HealthCheckTimeoutSeconds": 10},
         "Health check interval must be greater than the timeout."),
        ({"HealthCheckIntervalSeconds": 4},
         "1 validation error detected: Value '4' at 'healthCheckIntervalSeconds' failed to satisfy "
         "constraint: Member must have value greater than or equal to 5"),
        ({"HealthyThresholdCount": 11},
         "1 validation error detected: Value '11' at 'healthyThresholdCount' failed to satisfy "
         "constraint: Member must have value less than or equal to 10"),
        ({"Matcher": {"HttpCode": "200-599"}},
         "Health check matcher HTTP code '200-599' must be within 200-499"),
    ],
)  # fmt: skip
def test_health_checks_elastic_load_balancing_refuses(
    strict_aws: EmbeddedAws, settings: dict[str, Any], message: str
) -> None:
    """Through CloudFormation, as the templates create them (botocore checks the ranges client-side)."""
    vpc = strict_aws.client("ec2").create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    properties = {"Protocol": "HTTP", "Port": 8080, "VpcId": vpc, "TargetType": "instance", **settings}
    template = {
        "Resources": {"Group": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": properties}}
    }
    with pytest.raises(ClientError) as refused:
        strict_aws.client("cloudformation").create_stack(
            StackName=f"s{uuid.uuid4().hex[:8]}", TemplateBody=json.dumps(template)
        )
    assert refused.value.response["Error"]["Message"] == message


def test_a_templates_target_group_attributes_apply(strict_aws: EmbeddedAws) -> None:
    """The deregistration delay the template sets is the one the target group drains for."""
    vpc = strict_aws.client("ec2").create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
    properties = {
        "Protocol": "HTTP", "Port": 8080, "VpcId": vpc, "TargetType": "instance",
        "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}],
    }  # fmt: skip
    template = {
        "Resources": {"Group": {"Type": "AWS::ElasticLoadBalancingV2::TargetGroup", "Properties": properties}}
    }
    strict_aws.client("cloudformation").create_stack(
        StackName=f"s{uuid.uuid4().hex[:8]}", TemplateBody=json.dumps(template)
    )
    elbv2 = strict_aws.client("elbv2")
    [group] = [g for g in elbv2.describe_target_groups()["TargetGroups"] if g["VpcId"] == vpc]
    attributes = elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])["Attributes"]
    assert {a["Key"]: a["Value"] for a in attributes}["deregistration_delay.timeout_seconds"] == "30"


def test_an_instance_auto_scaling_terminates_drains_from_its_target_groups(strict_aws: EmbeddedAws) -> None:
    ec2, elbv2, autoscaling = (strict_aws.client(name) for name in ("ec2", "elbv2", "autoscaling"))
    group_arn = _target_group(strict_aws)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    template = ec2.create_launch_template(
        LaunchTemplateName=f"lt-{uuid.uuid4().hex[:6]}", LaunchTemplateData={"ImageId": image}
    )["LaunchTemplate"]["LaunchTemplateId"]
    name = f"asg-{uuid.uuid4().hex[:6]}"
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name, MinSize=1, MaxSize=2, DesiredCapacity=1, AvailabilityZones=["us-east-1a"],
        LaunchTemplate={"LaunchTemplateId": template}, TargetGroupARNs=[group_arn],
    )  # fmt: skip
    [instance] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][
        0
    ]["Instances"]
    autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=instance["InstanceId"], ShouldDecrementDesiredCapacity=True
    )
    [health] = elbv2.describe_target_health(
        TargetGroupArn=group_arn, Targets=[{"Id": instance["InstanceId"]}]
    )["TargetHealthDescriptions"]
    assert (health["TargetHealth"]["State"], health["TargetHealth"]["Reason"]) == (
        "draining", "Target.DeregistrationInProgress",
    )  # fmt: skip
