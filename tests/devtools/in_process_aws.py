"""moto in the test's own process, with the embedded AWS's Auto Scaling rules, holding a worker group: for
the tests of those rules and of the worker set's scaling in metric time."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from turbine_dev.aws import moto_autoscaling

IN_PROCESS_REGION, WORKER_GROUP = "us-east-1", "workers"


@pytest.fixture
def in_process_aws(moto_in_process: None) -> None:
    """moto in this process (tests/conftest.py), with the embedded AWS's Auto Scaling rules."""
    moto_autoscaling.install()


def create_worker_group(min_size: int, max_size: int, desired: int) -> Any:
    """The group WORKER_GROUP from a launch template, in one zone; returns the Auto Scaling client."""
    ec2 = boto3.client("ec2", region_name=IN_PROCESS_REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ec2.create_launch_template(LaunchTemplateName=WORKER_GROUP, LaunchTemplateData={"ImageId": image})
    client = boto3.client("autoscaling", region_name=IN_PROCESS_REGION)
    client.create_auto_scaling_group(
        AutoScalingGroupName=WORKER_GROUP, LaunchTemplate={"LaunchTemplateName": WORKER_GROUP},
        MinSize=min_size, MaxSize=max_size, DesiredCapacity=desired,
        AvailabilityZones=[f"{IN_PROCESS_REGION}a"],
    )  # fmt: skip
    return client
