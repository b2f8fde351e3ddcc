"""A DynamoDB table the embedded AWS's CloudFormation creates keeps its TimeToLiveSpecification, as on AWS
(turbine_dev.aws.moto_cfn_resources): Celery's result backend, finding TTL enabled on its attribute, then
never calls UpdateTimeToLive, which the instance roles do not allow."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from turbine_dev.aws import moto_cfn_resources


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    moto_cfn_resources.install()
    with mock_aws():
        yield


def table(ttl: dict[str, Any] | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if ttl is not None:
        properties["TimeToLiveSpecification"] = ttl
    return {"Resources": {"Results": {"Type": "AWS::DynamoDB::Table", "Properties": properties}}}


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        ({"AttributeName": "ttl", "Enabled": True}, {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}),
        (
            {"AttributeName": "ttl", "Enabled": "true"},
            {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"},
        ),
        ({"AttributeName": "ttl", "Enabled": False}, {"TimeToLiveStatus": "DISABLED"}),
        (None, {"TimeToLiveStatus": "DISABLED"}),
    ],
)
def test_the_table_keeps_its_time_to_live(
    aws: None, ttl: dict[str, Any] | None, expected: dict[str, str]
) -> None:
    cloudformation = boto3.client("cloudformation")
    cloudformation.create_stack(StackName="results", TemplateBody=json.dumps(table(ttl)))
    [resource] = cloudformation.describe_stack_resources(StackName="results")["StackResources"]
    described = boto3.client("dynamodb").describe_time_to_live(TableName=resource["PhysicalResourceId"])
    assert described["TimeToLiveDescription"] == expected
