"""docs/iam-policy.json allows every AWS call the operator makes, and nothing it does not need.

Two sources of calls:
- static: every boto3 client method called in operator/turbine_operator/adapters/ (the only boto3 user),
  paginators included, mapped to API operations by botocore's service model (here);
- recorded: the operator's own turbine_aws_requests_total counter during the full create, update and delete
  runs of test_rbac_runtime.py (checked there), and for the whole pytest session by the hook in conftest.py.
"""

from __future__ import annotations

from .support import (
    allowing_statements,
    disallowed,
    iam_action,
    load_policy,
    resource_fits,
    static_aws_calls,
)

# Needed although the operator never calls them itself.
INDIRECT_ACTIONS = {
    "s3:GetObject": "CloudFormation reads TemplateURL and the nested templates with the caller's credentials",
    "iam:PassRole": "CreateChangeSet, ContinueUpdateRollback and DeleteStack pass spec.serviceRoleArn",
}


def test_every_aws_call_in_the_adapters_is_allowed() -> None:
    calls = static_aws_calls()
    # The scan must see the adapters' calls at all, or this test would pass vacuously.
    assert {
        ("cloudformation", "DescribeStacks"),
        ("cloudformation", "CreateChangeSet"),
        ("cloudformation", "ExecuteChangeSet"),
        ("cloudformation", "DeleteStack"),
        ("cloudformation", "DescribeStackEvents"),
        ("s3", "ListObjectsV2"),
        ("s3", "PutObject"),
        ("sts", "AssumeRole"),
    } <= calls
    assert disallowed(load_policy(), calls) == []


def test_policy_allows_nothing_the_operator_does_not_use() -> None:
    policy = load_policy()
    used = {iam_action(service, operation) for service, operation in static_aws_calls()} | set(
        INDIRECT_ACTIONS
    )
    granted: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, (
            "no NotAction/NotResource"
        )
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert not [action for action in actions if "*" in action], "no wildcard actions"
        granted |= set(actions)
    assert sorted(granted - used) == []
    assert sorted(used - granted) == []


def test_roles_are_passed_only_to_cloudformation_and_resources_are_scoped() -> None:
    policy = load_policy()
    (pass_role,) = allowing_statements(policy, "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "cloudformation.amazonaws.com"}}
    assert resource_fits(pass_role, "iam:PassRole")
    assert pass_role["Resource"] != "*"
    (assume,) = allowing_statements(policy, "sts:AssumeRole")
    assert assume["Resource"].startswith("arn:aws:iam::")
    assert assume["Resource"] != "*"
    for action in (
        "cloudformation:CreateChangeSet",
        "cloudformation:DeleteStack",
        "s3:PutObject",
        "s3:ListBucket",
    ):
        (statement,) = allowing_statements(policy, action)
        assert statement["Resource"] != "*", f"{action} must be scoped to stacks or the template bucket"
    # Only actions without resource-level permissions get Resource "*".
    unscoped = {
        action
        for statement in policy["Statement"]
        if statement["Resource"] == "*"
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert unscoped == {
        "cloudformation:DescribeStackDriftDetectionStatus",
        "cloudformation:ListStacks",
        "cloudformation:ValidateTemplate",
        "autoscaling:DescribeAutoScalingGroups",
        "cloudwatch:GetMetricData",
    }


def test_the_evaluator_refuses_what_the_policy_does_not_allow() -> None:
    policy = load_policy()
    assert disallowed(policy, [("cloudformation", "CreateStack")]) == [
        "cloudformation.CreateStack: no statement allows cloudformation:CreateStack"
    ]
    assert disallowed(policy, [("s3", "DeleteObject")]) != []
    assert disallowed(policy, [("s3", "ListObjectsV2")]) == []
