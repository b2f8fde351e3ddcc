"""Every Auto Scaling group of the stack the operator renders launches its instances, with the
operator's turbine.dev/ tags and user tags the CRD accepts (a space, a slash): the stand-in launches
them as EC2 would (turbine_dev.rehearsal.host.launch), from what the embedded AWS holds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from turbine_templates import SCRIPTS_DIR, load_templates

from turbine_dev.rehearsal.cluster import create_stack
from turbine_dev.rehearsal.host.launch import LaunchRefused, launch
from turbine_operator.core.naming import OWNER_UID_TAG

MANIFEST = Path(__file__).resolve().parents[2] / "examples" / "turbine-stack.yaml"
# Accepted by the CRD (1 to 128 characters, not aws: or turbine.dev/), refused in instance metadata.
USER_TAGS = {"cost center": "4711", "team/owner": "data-platform"}


def groups(aws: Any, stack: str) -> list[tuple[str, str, str]]:
    """(stack, logical id, name) of every Auto Scaling group under `stack`, nested stacks included."""
    cloudformation = aws.client("cloudformation")
    found = []
    for resource in cloudformation.list_stack_resources(StackName=stack)["StackResourceSummaries"]:
        if resource["ResourceType"] == "AWS::CloudFormation::Stack":
            found += groups(aws, resource["PhysicalResourceId"])
        elif resource["ResourceType"] == "AWS::AutoScaling::AutoScalingGroup":
            found.append((stack, resource["LogicalResourceId"], resource["PhysicalResourceId"]))
    return found


@pytest.mark.integration
def test_every_group_launches_with_the_operators_and_the_users_tags(
    embedded_aws: Any, tmp_path: Path
) -> None:
    document = yaml.safe_load(MANIFEST.read_text())
    document["spec"]["tags"] = USER_TAGS
    manifest = tmp_path / "turbine-stack.yaml"
    manifest.write_text(yaml.safe_dump(document))
    stack, _, _ = create_stack(embedded_aws, manifest, "turbine-launch-bundle")

    launched = {}
    for nested, logical_id, group in groups(embedded_aws, stack):
        try:
            launched[logical_id] = launch(embedded_aws, nested, logical_id, group)
        except LaunchRefused as refused:
            pytest.fail(str(refused))
    assert sorted(launched) == ["SchedulerGroup", "WebserverGroup", "WorkerGroup"]
    for logical_id, instance in launched.items():
        # The tags of the stack the operator created, reaching the instance through the nested stacks.
        assert instance.tags[OWNER_UID_TAG] == "rehearsal", logical_id
        assert {key: instance.tags[key] for key in USER_TAGS} == USER_TAGS, logical_id
        assert instance.tags["aws:cloudformation:logical-id"] == logical_id


def test_no_instance_reads_tags_from_its_metadata_and_none_may() -> None:
    """Each launch template keeps tags out of instance metadata, explicitly (left out, the account's
    default applies), and nothing on the instances asks the metadata service for them."""
    templates = load_templates()
    for name, template in templates.items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::EC2::LaunchTemplate":
                options = resource["Properties"]["LaunchTemplateData"]["MetadataOptions"]
                assert options["InstanceMetadataTags"] == "disabled", (name, logical_id)
    scripts = {path.name: path.read_text() for path in sorted(SCRIPTS_DIR.iterdir()) if path.is_file()}
    assert "tags/instance" not in repr(templates)
    assert [name for name, text in scripts.items() if "tags/instance" in text] == []
