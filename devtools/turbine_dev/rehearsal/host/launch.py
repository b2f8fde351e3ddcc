"""An Auto Scaling group's instance launched as EC2 would launch it, from what the embedded AWS holds.

The group's launch template gives the user data, the instance profile and whether tags are allowed in
instance metadata; its tags are those AWS would give it (turbine_dev.strict.instance_tags) from the launch
template, the group and the stack the group is in; a launch EC2 would refuse is refused with the
failed activity Auto Scaling would record.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

from turbine_dev.strict import instance_tags


class LaunchRefused(AssertionError):
    """EC2 refused the launch; the message is Auto Scaling's failed activity."""

    def __init__(self, group: str, activity: dict[str, str]) -> None:
        super().__init__(f"{group}: {activity['StatusCode']}: {activity['Description']}")
        self.activity = activity


@dataclasses.dataclass(frozen=True)
class Launch:
    user_data: str
    profile_arn: str  # the launch template's instance profile, which EC2 associates at launch
    tags: dict[str, str]
    metadata_tags: bool

    def metadata(self) -> dict[str, str] | None:
        """What the metadata service serves under tags/instance; None when the launch template does not
        allow tags in instance metadata (the category is then absent)."""
        return instance_tags.metadata_served(self.tags) if self.metadata_tags else None


def stack_tags(cloudformation: Any, stack: str) -> tuple[str, dict[str, str]]:
    """(stack id, stack-level tags) of `stack`; a nested stack carries its parent's ("CloudFormation
    resource tagging"; the embedded AWS passes them on, moto_cfn_resources)."""
    [described] = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return str(described["StackId"]), {tag["Key"]: tag["Value"] for tag in described.get("Tags", [])}


def launch(aws: Any, stack: str, group_logical_id: str, group: str) -> Launch:
    """The launch of an instance of `group` (logical id `group_logical_id` in `stack`)."""
    autoscaling, ec2 = aws.client("autoscaling"), aws.client("ec2")
    [described] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    template = described["LaunchTemplate"]
    [version] = ec2.describe_launch_template_versions(
        LaunchTemplateId=template["LaunchTemplateId"], Versions=[str(template.get("Version") or "$Latest")]
    )["LaunchTemplateVersions"]
    data = version["LaunchTemplateData"]
    profile = str(data.get("IamInstanceProfile", {}).get("Arn", ""))
    stack_id, tags_of_stack = stack_tags(aws.client("cloudformation"), stack)
    tags = instance_tags.instance_tags(
        launch_template_tags={
            tag["Key"]: tag["Value"]
            for specification in data.get("TagSpecifications", [])
            if specification.get("ResourceType") == "instance"
            for tag in specification.get("Tags", [])
        },
        group_tags=described.get("Tags", []),
        stack_tags=tags_of_stack,
        stack_name=stack,
        stack_id=stack_id,
        group_logical_id=group_logical_id,
        group_name=group,
    )
    # Left out, the option is the account's default (ModifyInstanceMetadataDefaults, "Configure the
    # instance metadata options": launch parameters first, then the AMI's, then the account's), which
    # anyone may set to enabled; the harsher reading takes it as enabled.
    metadata_tags = data.get("MetadataOptions", {}).get("InstanceMetadataTags") != "disabled"
    refused = instance_tags.launch_error(tags, metadata_tags)
    if refused is not None:
        raise LaunchRefused(group, instance_tags.failed_launch_activity(refused))
    return Launch(
        user_data=base64.b64decode(data["UserData"]).decode(),
        profile_arn=profile,
        tags=tags,
        metadata_tags=metadata_tags,
    )
