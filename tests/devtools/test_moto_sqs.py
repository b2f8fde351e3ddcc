"""The embedded AWS's SQS refuses a visibility timeout AWS refuses, worded as AWS words it
(turbine_dev.aws.moto_sqs)."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from turbine_dev.aws import moto_sqs


@pytest.fixture
def sqs(moto_in_process: None) -> Any:
    moto_sqs.install()
    return boto3.client("sqs", region_name="us-east-1")


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


def test_a_template_queue_name_over_80_characters_fails_the_stack_as_sqs_refuses_it(sqs: Any) -> None:
    """moto's CloudFormation cut such a name to 80 characters and made a queue the template did not name."""
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    template = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: {name}\n"
    cloudformation.create_stack(StackName="fits", TemplateBody=template.format(name="q" * 80))
    assert [url.rsplit("/", 1)[-1] for url in sqs.list_queues()["QueueUrls"]] == ["q" * 80]
    with pytest.raises(ClientError) as refused:
        cloudformation.create_stack(StackName="too-long", TemplateBody=template.format(name="r" * 81))
    assert "1 to 80 in length" in str(refused.value)
    assert [url.rsplit("/", 1)[-1] for url in sqs.list_queues()["QueueUrls"]] == ["q" * 80]
