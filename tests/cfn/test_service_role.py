"""The shipped CloudFormation service role grants what the templates' resource types need, and no more."""

from __future__ import annotations

import json

import pytest
import yaml

from turbine_dev.tooling import service_role
from turbine_operator.core.render.templates import load_template

SHIPPED = load_template(service_role.OUTPUT.read_bytes(), str(service_role.OUTPUT))


def shipped_actions() -> set[str]:
    return {
        action
        for resource in SHIPPED["Resources"].values()
        if resource["Type"] == "AWS::IAM::ManagedPolicy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        for action in statement["Action"]
    }


def test_the_shipped_role_is_the_one_the_templates_need_now() -> None:
    # A template change that adds or drops a resource type changes the role: `make service-role`.
    assert service_role.OUTPUT.read_text() == service_role.rendered()


def test_every_resource_type_of_the_templates_gets_every_permission_its_handlers_list() -> None:
    actions = shipped_actions()
    for resource_type in service_role.template_resource_types():
        missing = service_role.handler_permissions(resource_type) - actions
        assert not missing, f"{resource_type} needs {sorted(missing)}"


def test_every_permission_is_needed_by_some_resource_type() -> None:
    needed = set().union(*map(service_role.handler_permissions, service_role.template_resource_types()))
    assert shipped_actions() <= needed


def test_each_managed_policy_fits_the_iam_limit() -> None:
    for name, resource in SHIPPED["Resources"].items():
        if resource["Type"] == "AWS::IAM::ManagedPolicy":
            document = resource["Properties"]["PolicyDocument"]
            assert (
                len(json.dumps(document, separators=(",", ":"))) <= service_role.MANAGED_POLICY_MAX_CHARACTERS
            ), name


def test_iam_actions_reach_only_the_roles_of_the_stacks_the_role_serves() -> None:
    for resource in SHIPPED["Resources"].values():
        if resource["Type"] != "AWS::IAM::ManagedPolicy":
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            if any(action.startswith("iam:") for action in statement["Action"]):
                assert statement["Resource"] != "*"
                assert all("${StackNamePrefix}*" in arn["Fn::Sub"] for arn in statement["Resource"])


def test_a_new_resource_type_brings_its_permissions_and_an_unknown_one_is_refused() -> None:
    grown = service_role.service_role_template({"AWS::SQS::Queue", "AWS::SNS::Topic"})
    text = yaml.safe_dump(grown)
    assert "sns:CreateTopic" in text
    assert "sqs:CreateQueue" in text
    with pytest.raises(KeyError):
        service_role.handler_permissions("AWS::Nothing::Like")


def test_operation_names_that_are_no_iam_action_are_left_out() -> None:
    assert service_role.grantable("s3:PutBucketCORS")
    assert not service_role.grantable("s3:DeleteBucketCors")
    assert "s3:DeleteBucketCors" not in service_role.handler_permissions("AWS::S3::Bucket")
