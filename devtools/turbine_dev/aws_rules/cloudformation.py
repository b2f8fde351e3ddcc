"""What CloudFormation and S3 refuse of the operator's requests and of the templates it uploads."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from turbine_dev.aws_rules.refusals import Refusal, validation_error
from turbine_dev.aws_rules.rendered import RenderedStack

QUOTAS = "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html"
CREATE_STACK = "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html"
TAG = "https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Tag.html"
BUCKET_NAMES = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html"
OBJECT_KEYS = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html"

STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
LOGICAL_ID = re.compile(r"[A-Za-z0-9]+")
# Template body in an S3 object (TemplateURL): 1 MB; read as 1,000,000 bytes, the harsher of 10^6 and 2^20.
TEMPLATE_URL_BYTES = 1_000_000
# Template body in a request (TemplateBody of CreateStack, UpdateStack, CreateChangeSet, ValidateTemplate).
TEMPLATE_BODY_BYTES = 51_200
TEMPLATE_QUOTAS = {"Resources": 500, "Parameters": 200, "Outputs": 200, "Mappings": 200}
PARAMETER_VALUE_BYTES = 4096
NAME_CHARACTERS = 255
DESCRIPTION_BYTES = 1024
STACK_TAGS = 50
DYNAMIC_REFERENCES = 60
NESTED_OPERATION_RESOURCES = 2500


def check_stack_name(stack: RenderedStack) -> Iterator[Refusal]:
    """CreateStack's StackName: a letter, then letters, digits and hyphens, 128 at most (API_CreateStack)."""
    if not STACK_NAME.fullmatch(stack.stack_name):
        yield Refusal(
            "check_stack_name",
            "StackName",
            validation_error(
                stack.stack_name,
                "stackName",
                "Member must satisfy regular expression pattern: "
                "[a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*",
            ),
            CREATE_STACK,
        )
    if len(stack.stack_name) > 128:
        yield Refusal(
            "check_stack_name",
            "StackName",
            validation_error(
                stack.stack_name, "stackName", "Member must have length less than or equal to 128"
            ),
            CREATE_STACK,
        )


def check_stack_tags(stack: RenderedStack) -> Iterator[Refusal]:
    """CreateStack's Tags: at most 50; a key 1 to 128 characters not starting with aws:, a value 1 to 256
    (API_CreateStack, API_Tag)."""
    if len(stack.tags) > STACK_TAGS:
        yield Refusal(
            "check_stack_tags",
            "Tags",
            validation_error(
                f"{len(stack.tags)} tags", "tags", "Member must have length less than or equal to 50"
            ),
            CREATE_STACK,
        )
    for key, value in stack.tags.items():
        if not 1 <= len(key) <= 128:
            yield Refusal(
                "check_stack_tags",
                f"Tags.{key}",
                validation_error(key, "tags.member.key", "Member must have length less than or equal to 128"),
                TAG,
            )
        if key.lower().startswith("aws:"):
            yield Refusal("check_stack_tags", f"Tags.{key}", "Tag keys may not start with 'aws:'", TAG)
        if not 1 <= len(value) <= 256:
            yield Refusal(
                "check_stack_tags",
                f"Tags.{key}",
                validation_error(value, "tags.member.value", "Member must have length between 1 and 256"),
                TAG,
            )


def check_template_quotas(stack: RenderedStack) -> Iterator[Refusal]:
    """Each template: 1 MB from S3, at most 500 resources, 200 parameters, 200 outputs, 200 mappings, names of
    255 characters, a 1,024-byte description ("Understand CloudFormation quotas")."""
    for path, body in stack.files.items():
        if not path.startswith("templates/"):
            continue
        if len(body) > TEMPLATE_URL_BYTES:
            yield Refusal(
                "check_template_quotas",
                path,
                f"Template may not exceed {TEMPLATE_URL_BYTES} bytes in size.",
                QUOTAS,
            )
        template = stack.template(path)
        for section, most in TEMPLATE_QUOTAS.items():
            count = len(template.get(section) or {})
            if count > most:
                yield Refusal(
                    "check_template_quotas",
                    f"{path} {section}",
                    f"Template format error: Number of {section.lower()}, {count}, is greater than maximum "
                    f"allowed, {most}",
                    QUOTAS,
                )
            for name in template.get(section) or {}:
                if len(str(name)) > NAME_CHARACTERS:
                    yield Refusal(
                        "check_template_quotas",
                        f"{path} {section}.{str(name)[:40]}...",
                        f"Template format error: {section} name longer than {NAME_CHARACTERS} characters",
                        QUOTAS,
                    )
        if len(str(template.get("Description", "")).encode()) > DESCRIPTION_BYTES:
            yield Refusal(
                "check_template_quotas",
                f"{path} Description",
                f"Template format error: Description longer than {DESCRIPTION_BYTES} bytes",
                QUOTAS,
            )
        for logical_id in template.get("Resources") or {}:
            if not LOGICAL_ID.fullmatch(str(logical_id)):
                yield Refusal(
                    "check_template_quotas",
                    f"{path} {logical_id}",
                    f"Template format error: Resource name {logical_id} is non alphanumeric.",
                    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/resources-section-structure.html",
                )


def check_dynamic_references(stack: RenderedStack) -> Iterator[Refusal]:
    """At most 60 dynamic references ({{resolve:...}}) in a stack template ("Understand CloudFormation
    quotas")."""
    for path, body in stack.files.items():
        count = body.count(b"{{resolve:") if path.startswith("templates/") else 0
        if count > DYNAMIC_REFERENCES:
            yield Refusal(
                "check_dynamic_references",
                path,
                f"Template format error: {count} dynamic references; the maximum is {DYNAMIC_REFERENCES}",
                QUOTAS,
            )


def check_nested_stack_resources(stack: RenderedStack) -> Iterator[Refusal]:
    """A nested stack operation creates, updates or deletes at most 2,500 resources ("Understand
    CloudFormation quotas": Nested stacks): every resource of the stack and its nested stacks counts."""
    count = sum(len(scope.template.get("Resources") or {}) for _, scope in stack.scopes())
    if count > NESTED_OPERATION_RESOURCES:
        yield Refusal(
            "check_nested_stack_resources",
            stack.master,
            f"{count} resources in the stack and its nested stacks; a nested stack operation handles at most "
            f"{NESTED_OPERATION_RESOURCES}",
            QUOTAS,
        )


def check_parameter_values(stack: RenderedStack) -> Iterator[Refusal]:
    """A parameter value of 4,096 bytes at most ("Understand CloudFormation quotas")."""
    for name, value in stack.parameters.items():
        size = len(value.encode())
        if size > PARAMETER_VALUE_BYTES:
            yield Refusal(
                "check_parameter_values",
                f"Parameters.{name}",
                f"Parameter value for parameter name {name} is {size} bytes; the maximum is "
                f"{PARAMETER_VALUE_BYTES} bytes",
                QUOTAS,
            )


def check_bucket_name(stack: RenderedStack) -> Iterator[Refusal]:
    """General purpose bucket names: 3 to 63 lowercase letters, digits, dots and hyphens, starting and ending
    with a letter or digit, not an IP address, not xn--, sthree- or amzn-s3-demo-, not ending -s3alias or
    --ol-s3 ("General purpose bucket naming rules")."""
    name = stack.bucket
    reasons = []
    if not 3 <= len(name) <= 63:
        reasons.append("Bucket names must be between 3 (min) and 63 (max) characters long.")
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name):
        reasons.append(
            "Bucket names can consist only of lowercase letters, numbers, dots (.), and hyphens (-), "
            "and must "
            "begin and end with a letter or number."
        )
    if ".." in name:
        reasons.append("Bucket names must not contain two adjacent periods.")
    try:
        ipaddress.IPv4Address(name)
        reasons.append("Bucket names must not be formatted as an IP address (for example, 192.168.5.4).")
    except ValueError:
        pass
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")):
        reasons.append("Bucket names must not start with the prefix xn--, sthree- or amzn-s3-demo-.")
    if name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3")):
        reasons.append("Bucket names must not end with the suffix -s3alias, --ol-s3, .mrap or --x-s3.")
    for reason in reasons:
        yield Refusal("check_bucket_name", "QSS3BucketName", f"InvalidBucketName: {reason}", BUCKET_NAMES)


def check_object_keys(stack: RenderedStack) -> Iterator[Refusal]:
    """An object key is at most 1,024 bytes of UTF-8 ("Naming Amazon S3 objects")."""
    for path in stack.files:
        key = stack.key_prefix + path
        if len(key.encode()) > 1024:
            yield Refusal("check_object_keys", key, "KeyTooLongError: Your key is too long", OBJECT_KEYS)


CHECKS = (
    check_stack_name,
    check_stack_tags,
    check_template_quotas,
    check_dynamic_references,
    check_nested_stack_resources,
    check_parameter_values,
    check_bucket_name,
    check_object_keys,
)
