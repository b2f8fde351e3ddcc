"""The tags an Auto Scaling group's instance launches with, and what EC2 refuses of them.

Stand-in rules for the boot rehearsal (rehearsal/host/launch.py) and the template tests, not product code:
the product must launch under them, so the tests check it against the same functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

# CloudFormation's own tags on an Auto Scaling group and its instances (AWS::AutoScaling::AutoScalingGroup
# TagProperty, https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-autoscaling-autoscalinggroup-tagproperty.html)
STACK_NAME_TAG = "aws:cloudformation:stack-name"
STACK_ID_TAG = "aws:cloudformation:stack-id"
LOGICAL_ID_TAG = "aws:cloudformation:logical-id"
# Auto Scaling's own tag on every instance of a group ("Tag Auto Scaling groups and instances",
# https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-tagging.html).
GROUP_NAME_TAG = "aws:autoscaling:groupName"

# "View tags for your EC2 instances using instance metadata"
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/work-with-tags-in-IMDS.html): with tags allowed in
# instance metadata a key may hold only letters, digits and + - = . , _ : @ (no space, no /), and may not
# be ".", ".." or "_index"; "non-compliance will result in failed launches for new instances".
_METADATA_TAG_KEY = re.compile(r"[0-9a-zA-Z\-_+=,.@:]{1,255}")
_RESERVED_METADATA_TAG_KEYS = frozenset({".", "..", "_index"})
# EC2 refuses such a launch with InvalidParameterValue, worded as RunInstances words it (the pattern is
# printed with its backslash escaped).
_INVALID_METADATA_TAG_KEY = (
    "'{key}' is not a valid tag key. Tag keys must match pattern ([0-9a-zA-Z\\\\-_+=,.@:]{{1,255}}), "
    "and must not be a reserved name ('.', '..', '_index')"
)
# Auto Scaling records the refused launch as a failed activity, EC2's message followed by its own
# (as the group's activity history shows it; see DescribeScalingActivities).
_FAILED_LAUNCH_DESCRIPTION = "Launching a new EC2 instance. Status Reason: {reason}"
_FAILED_LAUNCH_SUFFIX = " Launching EC2 instance failed."

# "Tag your Amazon EC2 resources", Tag restrictions
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Using_Tags.html#tag-restrictions): at most 50 tags
# per resource, keys up to 128 and values up to 256 characters; aws: (in any case) is reserved for AWS,
# and its tags do not count toward the 50.
MAX_TAGS_PER_RESOURCE = 50
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 256
RESERVED_PREFIX = "aws:"


def is_reserved(key: str) -> bool:
    return key.lower().startswith(RESERVED_PREFIX)


def metadata_tag_key_error(key: str) -> str | None:
    """EC2's refusal of `key` on an instance that allows tags in its metadata, or None if EC2 takes it."""
    if _METADATA_TAG_KEY.fullmatch(key) and key not in _RESERVED_METADATA_TAG_KEYS:
        return None
    return _INVALID_METADATA_TAG_KEY.format(key=key)


def tag_limits_error(tags: Mapping[str, str]) -> str | None:
    """The EC2 tag restriction `tags` break, or None (see MAX_TAGS_PER_RESOURCE).

    The limit is refused as TagLimitExceeded, worded as EC2's reimplementations word it; no wording is
    known for the lengths, so those refusals say what they refuse.
    """
    counted = [key for key in tags if not is_reserved(key)]
    if len(counted) > MAX_TAGS_PER_RESOURCE:
        return "The maximum number of Tags for a resource has been reached."
    for key, value in tags.items():
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            return f"Tag key '{key}' is not 1 to {MAX_KEY_LENGTH} characters"
        if len(value) > MAX_VALUE_LENGTH:
            return f"The value of tag '{key}' is longer than {MAX_VALUE_LENGTH} characters"
    return None


def launch_error(tags: Mapping[str, str], metadata_tags: bool) -> str | None:
    """Why EC2 refuses to launch an instance with `tags`, or None; `metadata_tags` says whether the
    instance allows tags in its metadata (MetadataOptions.InstanceMetadataTags)."""
    if metadata_tags:
        for key in tags:
            if (error := metadata_tag_key_error(key)) is not None:
                return error
    return tag_limits_error(tags)


def failed_launch_activity(reason: str) -> dict[str, str]:
    """The Auto Scaling activity that records a launch EC2 refused for `reason`."""
    status = reason + _FAILED_LAUNCH_SUFFIX
    return {
        "StatusCode": "Failed",
        "StatusMessage": status,
        "Description": _FAILED_LAUNCH_DESCRIPTION.format(reason=status),
    }


def instance_tags(
    *,
    launch_template_tags: Mapping[str, str],
    group_tags: Iterable[Mapping[str, object]],
    stack_tags: Mapping[str, str],
    stack_name: str,
    stack_id: str,
    group_logical_id: str,
    group_name: str,
) -> dict[str, str]:
    """The tags an instance of the group launches with.

    - The launch template's instance TagSpecifications and the group's tags with PropagateAtLaunch are
      merged, the group's value winning a shared key ("Tag Auto Scaling groups and instances", EC2
      instance tagging lifecycle; the group adds aws:autoscaling:groupName).
    - Stack-level tags (a nested stack's are its parent's) reach the group's instances whatever
      PropagateAtLaunch says, with CloudFormation's aws:cloudformation: tags ("CloudFormation resource
      tagging", https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-resource-tags.html).
      Where the docs are silent (a key both on the stack and on the group) the group's own tag wins.
    """
    propagated = {
        str(tag["Key"]): str(tag["Value"])
        for tag in group_tags
        if str(tag.get("PropagateAtLaunch", "")).lower() == "true"
    }
    user_stack_tags = {key: value for key, value in stack_tags.items() if not is_reserved(key)}
    return {
        **launch_template_tags,
        **user_stack_tags,
        **propagated,
        STACK_NAME_TAG: stack_name,
        STACK_ID_TAG: stack_id,
        LOGICAL_ID_TAG: group_logical_id,
        GROUP_NAME_TAG: group_name,
    }


def metadata_served(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags the metadata service serves under tags/instance.

    The EC2 docs list only the tags you allow there and never say that AWS's own aws: tags are among
    them; taking the harsher reading, they are not served, so no script may depend on them.
    """
    return {key: value for key, value in tags.items() if not is_reserved(key)}
