"""Request limits the embedded CloudFormation enforces as AWS does, where moto takes any size.

A TemplateBody of more than 51,200 bytes is refused by CreateStack, UpdateStack, CreateChangeSet and
ValidateTemplate; a larger template must come from S3 (TemplateURL), where 1 MB is the most: read as
1,000,000 bytes, the harsher of 10^6 and 2^20 (AWS's reply to a larger one is not documented; this one names
the limit).
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ValidateTemplate.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import responses
from moto.cloudformation.exceptions import ValidationError

from turbine_dev.aws_rules.cloudformation import TEMPLATE_BODY_BYTES, TEMPLATE_URL_BYTES

_TEMPLATE_ACTIONS = ("create_stack", "update_stack", "create_change_set", "validate_template")


def _refuse_large_bodies(original: Any) -> Any:
    def limited(self: Any) -> Any:
        body = self._get_param("TemplateBody")
        if body is not None and len(body.encode()) > TEMPLATE_BODY_BYTES:
            raise ValidationError(
                message="1 validation error detected: Value at 'templateBody' failed to satisfy constraint: "
                f"Member must have length less than or equal to {TEMPLATE_BODY_BYTES}"
            )
        return original(self)

    return limited


def _refuse_large_objects(original: Any) -> Any:
    def limited(self: Any, template_url: str) -> Any:
        body = original(self, template_url)
        if len(str(body).encode()) > TEMPLATE_URL_BYTES:
            raise ValidationError(message=f"Template may not exceed {TEMPLATE_URL_BYTES} bytes in size.")
        return body

    return limited


def install() -> None:
    """After strict_cfn.install(): wraps its handlers, so the limit comes first."""
    response_class: Any = responses.CloudFormationResponse
    for name in _TEMPLATE_ACTIONS:
        setattr(response_class, name, _refuse_large_bodies(getattr(response_class, name)))
    response_class._get_stack_from_s3_url = _refuse_large_objects(response_class._get_stack_from_s3_url)
