"""The embedded AWS's SQS refuses a visibility timeout AWS refuses, worded as AWS words it
(turbine_dev.aws.moto_sqs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from turbine_dev.aws import moto_sqs


@pytest.fixture
def sqs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    moto_sqs.install()
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1")


@pytest.mark.parametrize("seconds", ["43201", "-1", "86400"])
def test_a_visibility_timeout_beyond_twelve_hours_or_below_zero_is_refused(sqs: Any, seconds: str) -> None:
    with pytest.raises(ClientError) as refused:
        sqs.create_queue(QueueName="broker", Attributes={"VisibilityTimeout": seconds})
    assert refused.value.response["Error"]["Code"] == "InvalidAttributeValue"
    assert refused.value.response["Error"]["Message"] == "Invalid value for the parameter VisibilityTimeout."

    url = sqs.create_queue(QueueName="broker")["QueueUrl"]
    with pytest.raises(ClientError) as refused:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": seconds})
    assert refused.value.response["Error"]["Code"] == "InvalidAttributeValue"


@pytest.mark.parametrize("seconds", ["0", "43200"])
def test_the_limits_themselves_are_accepted(sqs: Any, seconds: str) -> None:
    url = sqs.create_queue(QueueName="broker", Attributes={"VisibilityTimeout": seconds})["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attributes["VisibilityTimeout"] == seconds
