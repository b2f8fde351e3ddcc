"""Worker groups are read 100 names per DescribeAutoScalingGroups (MaxRecords 100), not 50."""

from __future__ import annotations

from typing import Any

from stubbed.aws import REGION, RecordingStubber
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.workers import WorkersGateway


def _group(name: str) -> dict[str, Any]:
    return {
        "AutoScalingGroupName": name,
        "MinSize": 1,
        "MaxSize": 4,
        "DesiredCapacity": 2,
        "DefaultCooldown": 300,
        "AvailabilityZones": ["us-east-1a"],
        "HealthCheckType": "EC2",
        "CreatedTime": "2026-11-01T00:00:00Z",
        "Instances": [],
    }


def test_a_fleet_of_groups_is_read_a_hundred_at_a_time(sessions: AwsSessions, calls: list[str]) -> None:
    names = [f"workers-{index:03d}" for index in range(150)]
    stubber = RecordingStubber(sessions.client("autoscaling", REGION), calls)
    for chunk in (names[:100], names[100:]):
        stubber.add_response(
            "describe_auto_scaling_groups",
            {"AutoScalingGroups": [_group(name) for name in chunk]},
            {"AutoScalingGroupNames": chunk, "MaxRecords": 100},
        )
    with stubber:
        groups = WorkersGateway(sessions, REGION, None).groups(names)
    stubber.assert_no_pending_responses()
    assert calls == ["DescribeAutoScalingGroups", "DescribeAutoScalingGroups"]
    assert sorted(groups) == names
    assert groups["workers-149"].desired == 2
