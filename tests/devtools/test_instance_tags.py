"""The stand-in's rules for an instance's tags (turbine_dev.strict.instance_tags), against the AWS pages they
come from (named in the module)."""

from __future__ import annotations

import pytest

from turbine_dev.strict.instance_tags import (
    GROUP_NAME_TAG,
    failed_launch_activity,
    instance_tags,
    launch_error,
    metadata_served,
    metadata_tag_key_error,
)
from turbine_operator.core.naming import ownership_tags

EC2_REFUSAL = (
    "'turbine.dev/owner-uid' is not a valid tag key. Tag keys must match pattern "
    "([0-9a-zA-Z\\\\-_+=,.@:]{1,255}), and must not be a reserved name ('.', '..', '_index')"
)


@pytest.mark.parametrize("key", ["turbine.dev/owner-uid", "cost center", "a/b", ".", "..", "_index", "é", ""])
def test_a_key_with_a_slash_a_space_or_a_reserved_name_is_refused_in_instance_metadata(key: str) -> None:
    assert metadata_tag_key_error(key) is not None


@pytest.mark.parametrize("key", ["Name", "team", "a+b=c,d.e_f:g@h-i", "...", "_index2", GROUP_NAME_TAG])
def test_letters_digits_and_the_listed_characters_are_taken(key: str) -> None:
    assert metadata_tag_key_error(key) is None


def test_ec2_words_the_refusal_as_run_instances_does_and_auto_scaling_records_a_failed_activity() -> None:
    assert metadata_tag_key_error("turbine.dev/owner-uid") == EC2_REFUSAL
    activity = failed_launch_activity(EC2_REFUSAL)
    assert activity["StatusCode"] == "Failed"
    assert activity["StatusMessage"] == EC2_REFUSAL + " Launching EC2 instance failed."
    assert activity["Description"] == (
        f"Launching a new EC2 instance. Status Reason: {EC2_REFUSAL} Launching EC2 instance failed."
    )


def test_the_operators_tags_launch_only_without_tags_in_instance_metadata() -> None:
    tags = {**ownership_tags("default", "airflow", "uid"), "cost center": "42"}
    assert launch_error(tags, metadata_tags=False) is None
    assert launch_error(tags, metadata_tags=True) is not None


def test_fifty_tags_of_ones_own_launch_and_aws_tags_do_not_count() -> None:
    tags = {f"k{i}": "v" for i in range(50)}
    assert launch_error({**tags, "aws:cloudformation:stack-name": "s"}, metadata_tags=False) is None
    assert launch_error({**tags, "k50": "v"}, metadata_tags=False) == (
        "The maximum number of Tags for a resource has been reached."
    )
    assert launch_error({"k": "v" * 257}, metadata_tags=False) is not None
    assert launch_error({"k" * 129: "v"}, metadata_tags=False) is not None


def test_an_instance_carries_the_stack_the_group_and_the_launch_templates_tags() -> None:
    tags = instance_tags(
        launch_template_tags={"Name": "from-template", "only": "template"},
        group_tags=[
            {"Key": "Name", "Value": "from-group", "PropagateAtLaunch": True},
            {"Key": "group-only", "Value": "x", "PropagateAtLaunch": False},
        ],
        stack_tags={"team": "data", "aws:cloudformation:stack-name": "parent"},
        stack_name="nested",
        stack_id="arn:aws:cloudformation:us-east-1:123456789012:stack/nested/1",
        group_logical_id="WorkerGroup",
        group_name="nested-WorkerGroup-1",
    )
    assert tags == {
        "Name": "from-group",  # the group's value wins over the launch template's
        "only": "template",
        "team": "data",  # stack-level tags whatever PropagateAtLaunch says
        "aws:cloudformation:stack-name": "nested",
        "aws:cloudformation:stack-id": "arn:aws:cloudformation:us-east-1:123456789012:stack/nested/1",
        "aws:cloudformation:logical-id": "WorkerGroup",
        "aws:autoscaling:groupName": "nested-WorkerGroup-1",
    }
    assert metadata_served(tags) == {"Name": "from-group", "only": "template", "team": "data"}
