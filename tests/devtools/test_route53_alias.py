"""An alias record to a load balancer as Route 53 creates and refuses it.

https://docs.aws.amazon.com/Route53/latest/APIReference/API_AliasTarget.html
https://docs.aws.amazon.com/Route53/latest/APIReference/API_ResourceRecordSet.html
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from turbine_dev.aws.embedded_aws import EmbeddedAws


def _subnets(aws: EmbeddedAws) -> list[str]:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.30.0.0/16")["Vpc"]["VpcId"]
    zones = [zone["ZoneName"] for zone in ec2.describe_availability_zones()["AvailabilityZones"][:2]]
    return [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.30.{index}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for index, zone in enumerate(zones)
    ]


def _template(subnets: list[str], zone_id: str, name: str, alias_zone: Any, **extra: Any) -> str:
    return json.dumps({
        "Resources": {
            "Balancer": {"Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
                         "Properties": {"Type": "application", "Scheme": "internal", "Subnets": subnets}},
            "Record": {"Type": "AWS::Route53::RecordSet", "Properties": {
                "HostedZoneId": zone_id, "Name": name, "Type": "A",
                "AliasTarget": {"DNSName": {"Fn::GetAtt": ["Balancer", "DNSName"]},
                                "HostedZoneId": alias_zone, "EvaluateTargetHealth": True},
                **extra}},
        }
    })  # fmt: skip


@pytest.fixture
def zone(strict_aws: EmbeddedAws) -> str:
    answer = strict_aws.client("route53").create_hosted_zone(
        Name="example.com", CallerReference=uuid.uuid4().hex
    )
    return str(answer["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def _create(aws: EmbeddedAws, template: str) -> None:
    aws.client("cloudformation").create_stack(StackName=f"s{uuid.uuid4().hex[:8]}", TemplateBody=template)


def test_an_alias_names_the_load_balancers_canonical_zone(strict_aws: EmbeddedAws, zone: str) -> None:
    subnets = _subnets(strict_aws)
    canonical = {"Fn::GetAtt": ["Balancer", "CanonicalHostedZoneID"]}
    _create(strict_aws, _template(subnets, zone, "airflow.example.com", canonical))
    with pytest.raises(ClientError) as refused:
        # The record's own zone is the usual mistake.
        _create(strict_aws, _template(subnets, zone, "ui.example.com", zone))
    message = refused.value.response["Error"]["Message"]
    assert message.startswith("Tried to create an alias that targets ")
    assert message.endswith(
        f"type A in zone {zone}, but the alias target name does not lie within the target zone"
    )


@pytest.mark.parametrize(
    ("name", "extra", "expected"),
    [
        (
            "airflow.example.org",
            {},
            "RRSet with DNS name airflow.example.org. is not permitted in zone example.com.",
        ),
        (
            "airflow.example.com",
            {"TTL": "60"},
            "Invalid request: Expected exactly one of [AliasTarget, all of [TTL, and ResourceRecords], or "
            "TrafficPolicyInstanceId], but found more than one in Change with [Action=CREATE, "
            "Name=airflow.example.com., Type=A, SetIdentifier=null]",
        ),
    ],
)
def test_records_route_53_refuses(
    strict_aws: EmbeddedAws, zone: str, name: str, extra: dict[str, Any], expected: str
) -> None:
    canonical = {"Fn::GetAtt": ["Balancer", "CanonicalHostedZoneID"]}
    with pytest.raises(ClientError) as refused:
        _create(strict_aws, _template(_subnets(strict_aws), zone, name, canonical, **extra))
    assert refused.value.response["Error"]["Message"] == expected
