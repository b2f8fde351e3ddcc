"""What EC2 refuses of the instances the launch templates describe: tags, tags in instance metadata, user
data and metadata options."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from turbine_dev.aws_rules.refusals import Refusal, out_of_range, validation_error
from turbine_dev.aws_rules.rendered import RenderedStack, known, resources
from turbine_dev.aws_rules.template_values import Scope
from turbine_dev.strict.instance_tags import is_reserved, metadata_tag_key_error

TAG_RESTRICTIONS = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions"
TAGS_IN_METADATA = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/work-with-tags-in-IMDS.html"
USER_DATA = "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-add-user-data.html"
METADATA_OPTIONS = (
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/"
    "aws-properties-ec2-launchtemplate-metadataoptions.html"
)
SECURITY_GROUP = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-ec2-securitygroup.html"

TAGS_PER_RESOURCE = 50
USER_DATA_BYTES = 16 * 1024
# What stands for a value only AWS knows (a secret's ARN, a queue's name) when user data is measured: the
# names the stack gives are built from stack names of at most 128 characters, and AWS's ARNs around them
# add about 100, so 256 characters each.
UNKNOWN_VALUE = "x" * 256
# VPC security group descriptions: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*
GROUP_DESCRIPTION = re.compile(r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]*")


def _tags(value: Any) -> dict[str, str]:
    return (
        {str(tag["Key"]): str(tag.get("Value", "")) for tag in value or []} if isinstance(value, list) else {}
    )


def instance_tags(stack: RenderedStack, scope: Scope, group: Mapping[str, Any]) -> tuple[dict[str, str], Any]:
    """The tags an instance of an Auto Scaling group launches with, and its launch template's data.

    Stack tags reach the group and, with PropagateAtLaunch, its instances: AWS says propagation "can vary by
    resource" ("Resource tag"), so the harsher reading is that they all arrive. The group's own tags with
    PropagateAtLaunch merge over the launch template's instance tags ("Tag Auto Scaling groups and
    instances"), and Auto Scaling adds aws:autoscaling:groupName.
    """
    properties = group["Properties"]
    reference = properties.get("LaunchTemplate", {}).get("LaunchTemplateId", {})
    template = (
        scope.template["Resources"].get(reference.get("Ref", ""), {}) if isinstance(reference, dict) else {}
    )
    raw = template.get("Properties", {}).get("LaunchTemplateData", {})
    # Resolved part by part: the user data holds values only AWS knows, the rest does not.
    bounded = scope.bounded(UNKNOWN_VALUE)
    data = {key: bounded.resolve(raw[key]) for key in ("TagSpecifications", "MetadataOptions") if key in raw}
    tags: dict[str, str] = {}
    for specification in data.get("TagSpecifications", []):
        if specification.get("ResourceType") == "instance":
            tags.update(_tags(specification.get("Tags")))
    tags.update(stack.tags)
    own = scope.bounded(UNKNOWN_VALUE).resolve(properties.get("Tags")) or []
    tags.update(
        {
            str(tag["Key"]): str(tag["Value"])
            for tag in own
            if str(tag.get("PropagateAtLaunch")).lower() == "true"
        }
    )
    tags["aws:autoscaling:groupName"] = "(the group's name)"
    return tags, data


def _groups(stack: RenderedStack) -> Iterator[tuple[str, Scope, str, Mapping[str, Any]]]:
    for path, scope in stack.scopes():
        for logical_id, group in resources(scope, "AWS::AutoScaling::AutoScalingGroup"):
            yield path, scope, logical_id, group


def check_tags_per_resource(stack: RenderedStack) -> Iterator[Refusal]:
    """At most 50 tags per resource, aws: ones not counted ("Tag your Amazon EC2 resources": Tag
    restrictions): the stack's tags with a resource's own, and an instance's from its group and launch
    template."""
    for path, scope in stack.scopes():
        for logical_id, resource in scope.template.get("Resources", {}).items():
            # Tag values only AWS knows still count.
            own = scope.bounded(UNKNOWN_VALUE).resolve(resource.get("Properties", {}).get("Tags"))
            if not scope.resource_exists(resource) or not isinstance(own, list):
                continue
            tags = {**stack.tags, **_tags(own)}
            counted = [key for key in tags if not is_reserved(key)]
            if len(counted) > TAGS_PER_RESOURCE:
                yield Refusal(
                    "check_tags_per_resource",
                    f"{path} {logical_id}",
                    f"TagLimitExceeded: {len(counted)} tags; the maximum number of tags per resource is 50",
                    TAG_RESTRICTIONS,
                )
    for path, scope, logical_id, group in _groups(stack):
        tags, _ = instance_tags(stack, scope, group)
        counted = [key for key in tags if not is_reserved(key)]
        if len(counted) > TAGS_PER_RESOURCE:
            yield Refusal(
                "check_tags_per_resource",
                f"{path} {logical_id} instances",
                f"TagLimitExceeded: {len(counted)} tags; the maximum number of tags per resource is 50",
                TAG_RESTRICTIONS,
            )


def metadata_tag_key_refusal(key: str) -> str | None:
    """Why EC2 refuses an instance tag key while tags in instance metadata are allowed, or None."""
    if metadata_tag_key_error(key) is None:  # the rule the rehearsal's launches apply too
        return None
    return (
        f"Instance tag key '{key}' is not allowed with tags in instance metadata: keys can only use letters "
        "(a-z, A-Z), numbers (0-9), and + - = . , _ : @, can't contain spaces or /, and can't comprise only "
        ". (one period), .. (two periods), or _index; non-compliance will result in failed launches"
    )


def check_tags_in_metadata(stack: RenderedStack) -> Iterator[Refusal]:
    """With InstanceMetadataTags enabled, an instance tag key may not hold / or spaces, and more ("View tags
    for your EC2 instances using instance metadata"); a launch with such a tag fails. aws: tags are AWS's
    own."""
    for path, scope, logical_id, group in _groups(stack):
        tags, data = instance_tags(stack, scope, group)
        # Left out, the account's default applies, which may allow them (as the rehearsal's launches read it).
        if data.get("MetadataOptions", {}).get("InstanceMetadataTags") == "disabled":
            continue
        for key in tags:
            reason = None if is_reserved(key) else metadata_tag_key_refusal(key)
            if reason:
                yield Refusal(
                    "check_tags_in_metadata", f"{path} {logical_id} instances", reason, TAGS_IN_METADATA
                )


def check_user_data(stack: RenderedStack) -> Iterator[Refusal]:
    """User data is limited to 16 KB, in raw form, before it is base64-encoded ("Run commands when you launch
    an EC2 instance with user data input")."""
    for path, scope in stack.scopes():
        bounded = scope.bounded(UNKNOWN_VALUE)
        for logical_id, template in resources(scope, "AWS::EC2::LaunchTemplate"):
            user_data = template["Properties"]["LaunchTemplateData"].get("UserData")
            size = len(str(bounded.resolve(user_data)).encode()) if user_data is not None else 0
            if size > USER_DATA_BYTES:
                yield Refusal(
                    "check_user_data",
                    f"{path} {logical_id} UserData",
                    f"InvalidParameterValue: User data is limited to 16384 bytes ({size} bytes before "
                    "base64)",
                    USER_DATA,
                )


def check_metadata_options(stack: RenderedStack) -> Iterator[Refusal]:
    """MetadataOptions: HttpPutResponseHopLimit 1 to 64, HttpTokens optional or required, InstanceMetadataTags
    enabled or disabled (AWS::EC2::LaunchTemplate MetadataOptions)."""
    allowed = {"HttpTokens": {"optional", "required"}, "InstanceMetadataTags": {"enabled", "disabled"}}
    for path, scope in stack.scopes():
        for logical_id, template in resources(scope, "AWS::EC2::LaunchTemplate"):
            options = known(scope, template["Properties"]["LaunchTemplateData"].get("MetadataOptions")) or {}
            hops = options.get("HttpPutResponseHopLimit")
            message = None if hops is None else out_of_range(int(hops), "httpPutResponseHopLimit", 1, 64)
            if message:
                yield Refusal("check_metadata_options", f"{path} {logical_id}", message, METADATA_OPTIONS)
            for name, values in allowed.items():
                if name in options and options[name] not in values:
                    yield Refusal(
                        "check_metadata_options",
                        f"{path} {logical_id}",
                        validation_error(
                            options[name],
                            name[0].lower() + name[1:],
                            f"Member must satisfy enum value set: {sorted(values)}",
                        ),
                        METADATA_OPTIONS,
                    )


def check_security_groups(stack: RenderedStack) -> Iterator[Refusal]:
    """GroupDescription: up to 255 characters of a-z, A-Z, 0-9, spaces and ._-:/()#,@[]+=&;{}!$* in a VPC
    (AWS::EC2::SecurityGroup)."""
    for path, scope in stack.scopes():
        for logical_id, group in resources(scope, "AWS::EC2::SecurityGroup"):
            description = known(scope, group["Properties"].get("GroupDescription"))
            if description is None:
                continue
            if len(description) > 255 or not GROUP_DESCRIPTION.fullmatch(description):
                yield Refusal(
                    "check_security_groups",
                    f"{path} {logical_id} GroupDescription",
                    "GroupDescription: Constraints: Up to 255 characters in length. Valid characters: "
                    "a-z, A-Z, "
                    "0-9, spaces, and ._-:/()#,@[]+=&;{}!$*",
                    SECURITY_GROUP,
                )


CHECKS = (
    check_tags_per_resource,
    check_tags_in_metadata,
    check_user_data,
    check_metadata_options,
    check_security_groups,
)
