"""`s3Url` templates against the embedded S3: an unchanged object is answered 304 and served from memory."""

from __future__ import annotations

from typing import Any

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.cloudformation import StackGateway
from turbine_operator.adapters.aws.s3_objects import RememberedObjects

pytestmark = [pytest.mark.integration]

BUCKET, KEY = "turbine-shared-templates", "lake/template.yaml"


def test_an_unchanged_object_is_not_downloaded_again(
    template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    s3 = aws_environment.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    statuses: list[int] = []

    def record_status(client: Any) -> None:
        def after_call(http_response: Any, **_: Any) -> None:
            statuses.append(http_response.status_code)

        client.meta.events.register("after-call.s3.GetObject", after_call)

    gateway = StackGateway(AwsSessions(observer=record_status), "us-east-1", None, RememberedObjects())
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"Resources: {}\n")
    first = [gateway.read_object(BUCKET, KEY) for _ in range(2)]
    s3.put_object(Bucket=BUCKET, Key=KEY, Body=b"Resources: {A: 1}\n")
    second = [gateway.read_object(BUCKET, KEY) for _ in range(2)]
    s3.delete_object(Bucket=BUCKET, Key=KEY)
    assert first == [b"Resources: {}\n"] * 2
    assert second == [b"Resources: {A: 1}\n"] * 2
    assert gateway.read_object(BUCKET, KEY) is None
    assert statuses == [200, 304, 200, 304, 404]
