"""A TemplateBody of more than 51,200 bytes is refused, as AWS refuses it; a larger template comes from S3.

https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ValidateTemplate.html
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.aws_rules.cloudformation import TEMPLATE_BODY_BYTES, TEMPLATE_URL_BYTES

from .templates import queue_template


def _template_of(size: int) -> str:
    """The queue template padded to exactly `size` bytes with a metadata string."""
    template = json.loads(queue_template())
    template["Metadata"] = {"Padding": ""}
    padding = size - len(json.dumps(template).encode())
    template["Metadata"]["Padding"] = "p" * padding
    body = json.dumps(template)
    assert len(body.encode()) == size
    return body


def test_a_template_body_of_51200_bytes_is_taken_and_one_more_is_refused(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.validate_template(TemplateBody=_template_of(TEMPLATE_BODY_BYTES))
    calls: tuple[Callable[[str], Any], ...] = (
        lambda body: cloudformation.validate_template(TemplateBody=body),
        lambda body: cloudformation.create_stack(StackName="large", TemplateBody=body),
        lambda body: cloudformation.create_change_set(
            StackName="large", ChangeSetName="large", TemplateBody=body, ChangeSetType="CREATE"
        ),
    )
    for call in calls:
        with pytest.raises(ClientError) as refused:
            call(_template_of(TEMPLATE_BODY_BYTES + 1))
        assert refused.value.response["Error"]["Code"] == "ValidationError"
        assert (
            "Member must have length less than or equal to 51200"
            in refused.value.response["Error"]["Message"]
        )


def test_a_template_in_s3_of_a_million_bytes_is_taken_and_one_more_is_refused(
    strict_aws: EmbeddedAws,
) -> None:
    s3, cloudformation = strict_aws.client("s3"), strict_aws.client("cloudformation")
    s3.create_bucket(Bucket="templates")
    for size in (TEMPLATE_URL_BYTES, TEMPLATE_URL_BYTES + 1):
        s3.put_object(Bucket="templates", Key=f"{size}.json", Body=_template_of(size).encode())
    url = "https://templates.s3.us-east-1.amazonaws.com/{}.json"  # the virtual-hosted form the operator uses
    cloudformation.create_stack(StackName="largest", TemplateURL=url.format(TEMPLATE_URL_BYTES))
    with pytest.raises(ClientError) as refused:
        cloudformation.create_stack(StackName="larger", TemplateURL=url.format(TEMPLATE_URL_BYTES + 1))
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert refused.value.response["Error"]["Message"] == "Template may not exceed 1000000 bytes in size."
