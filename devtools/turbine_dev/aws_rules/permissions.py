"""What IAM refuses of the roles and policies, and what CodeDeploy's service role must hold."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from turbine_dev.aws_rules.refusals import Refusal
from turbine_dev.aws_rules.rendered import RenderedStack, known, resources
from turbine_dev.aws_rules.template_values import Scope

IAM_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
CODEDEPLOY_ROLE = (
    "https://docs.aws.amazon.com/codedeploy/latest/userguide/getting-started-create-service-role.html"
)
ROLE_POLICY_CHARACTERS = 10_240
MANAGED_POLICY_CHARACTERS = 6_144
TRUST_POLICY_CHARACTERS = 2_048
MANAGED_POLICIES_PER_ROLE = 10
# What an ARN or name only AWS knows takes in a policy, as in the user data (instances.UNKNOWN_VALUE).
UNKNOWN_ARN = "x" * 256
# AWSCodeDeployRole lacks these; a group launched from a launch template needs them
# ("Step 2: Create a service role for CodeDeploy").
LAUNCH_TEMPLATE_ACTIONS = ("ec2:RunInstances", "ec2:CreateTags", "iam:PassRole")


def policy_characters(document: Any) -> int:
    """IAM does not count white space when calculating the size of a policy (IAM and AWS STS quotas)."""
    return len("".join(json.dumps(document, separators=(",", ":")).split()))


def _role_policies(scope: Scope) -> dict[str, list[Any]]:
    """Each role's inline policy documents, its own and those of AWS::IAM::Policy resources naming it."""
    bounded = scope.bounded(UNKNOWN_ARN)
    documents: dict[str, list[Any]] = {}
    for logical_id, role in resources(scope, "AWS::IAM::Role"):
        policies = bounded.resolve(role["Properties"].get("Policies", []))
        documents[logical_id] = [policy["PolicyDocument"] for policy in policies]
    for _, policy in resources(scope, "AWS::IAM::Policy"):
        for role in policy["Properties"].get("Roles", []):
            if isinstance(role, Mapping) and role.get("Ref") in documents:
                documents[role["Ref"]].append(bounded.resolve(policy["Properties"]["PolicyDocument"]))
    return documents


def check_policy_sizes(stack: RenderedStack) -> Iterator[Refusal]:
    """A role's inline policies total at most 10,240 characters, a managed policy 6,144, a trust policy 2,048
    (default), at most 10 managed policies a role (default) (IAM and AWS STS quotas)."""
    for path, scope in stack.scopes():
        for role_id, documents in _role_policies(scope).items():
            size = sum(policy_characters(document) for document in documents)
            if size > ROLE_POLICY_CHARACTERS:
                yield Refusal(
                    "check_policy_sizes",
                    f"{path} {role_id}",
                    f"LimitExceeded: Maximum policy size of {ROLE_POLICY_CHARACTERS} bytes exceeded for role "
                    f"({size} characters)",
                    IAM_QUOTAS,
                )
        bounded = scope.bounded(UNKNOWN_ARN)
        for logical_id, role in resources(scope, "AWS::IAM::Role"):
            trust = policy_characters(bounded.resolve(role["Properties"]["AssumeRolePolicyDocument"]))
            if trust > TRUST_POLICY_CHARACTERS:
                yield Refusal(
                    "check_policy_sizes",
                    f"{path} {logical_id} AssumeRolePolicyDocument",
                    f"LimitExceeded: Cannot exceed quota for ACLSizePerRole: {TRUST_POLICY_CHARACTERS}",
                    IAM_QUOTAS,
                )
            attached = known(scope, role["Properties"].get("ManagedPolicyArns")) or []
            if len(attached) > MANAGED_POLICIES_PER_ROLE:
                yield Refusal(
                    "check_policy_sizes",
                    f"{path} {logical_id} ManagedPolicyArns",
                    f"LimitExceeded: Cannot exceed quota for PoliciesPerRole: {MANAGED_POLICIES_PER_ROLE}",
                    IAM_QUOTAS,
                )
        for logical_id, policy in resources(scope, "AWS::IAM::ManagedPolicy"):
            size = policy_characters(bounded.resolve(policy["Properties"]["PolicyDocument"]))
            if size > MANAGED_POLICY_CHARACTERS:
                yield Refusal(
                    "check_policy_sizes",
                    f"{path} {logical_id}",
                    f"LimitExceeded: Cannot exceed quota for PolicySize: {MANAGED_POLICY_CHARACTERS}",
                    IAM_QUOTAS,
                )


def _allowed_actions(documents: list[Any]) -> set[str]:
    actions: set[str] = set()
    for document in documents:
        for statement in document.get("Statement", []):
            if statement.get("Effect") == "Allow":
                action = statement.get("Action", [])
                actions.update([action] if isinstance(action, str) else action)
    return actions


def _grants(actions: set[str], wanted: str) -> bool:
    service = wanted.partition(":")[0]
    return any(
        granted in ("*", f"{service}:*", wanted)
        or (granted.endswith("*") and wanted.startswith(granted[:-1]))
        for granted in actions
    )


def check_codedeploy_role(stack: RenderedStack) -> Iterator[Refusal]:
    """A deployment group over Auto Scaling groups built from launch templates needs a service role that may
    ec2:RunInstances, ec2:CreateTags and iam:PassRole, which AWSCodeDeployRole does not grant ("Step 2: Create
    a service role for CodeDeploy")."""
    for path, scope in stack.scopes():
        policies = _role_policies(scope)
        for logical_id, group in resources(scope, "AWS::CodeDeploy::DeploymentGroup"):
            if not group["Properties"].get("AutoScalingGroups"):
                continue
            role = group["Properties"].get("ServiceRoleArn", {})
            name = role.get("Fn::GetAtt", [""])[0] if isinstance(role, Mapping) else ""
            granted = _allowed_actions(policies.get(str(name), []))
            for action in LAUNCH_TEMPLATE_ACTIONS:
                if not _grants(granted, action):
                    yield Refusal(
                        "check_codedeploy_role",
                        f"{path} {logical_id} ServiceRoleArn",
                        f"The service role {name} may not {action}: if you create your Auto Scaling "
                        "group with a "
                        "launch template, you must add the following permissions: ec2:RunInstances, "
                        "ec2:CreateTags, iam:PassRole",
                        CODEDEPLOY_ROLE,
                    )


CHECKS = (check_policy_sizes, check_codedeploy_role)
