"""The IAM resources of a user's additional template, held to the rule of spec.additionalPolicies.

A nested template is created with the stack's service role, or without one with the operator's own
identity, so an `AWS::IAM::Policy` in it that grants `*` to `!Ref WorkerRoleName` is the same administrator
access an additional policy would be: it needs the same opt-in, spec.allowAdministratorPolicies. Every
policy document a template can declare is read (the policy resources' PolicyDocument, the Policies of roles,
users and groups, managed policies attached by ARN), and so are the resources that make credentials.

What a template computes at deploy time cannot be read here, so the harsher reading applies: an intrinsic
function (`!Sub`, `!If`, `!Ref`, ...) where an action or resource stands may be any action or resource, and a
policy document that is itself computed may grant anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from turbine_operator.core.access.administrator_access import administrator_grant

# CloudFormation resource types whose PolicyDocument property is an identity policy
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/AWS_IAM.html).
_DOCUMENT_TYPES = (
    "AWS::IAM::Policy",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::RolePolicy",
    "AWS::IAM::UserPolicy",
    "AWS::IAM::GroupPolicy",
)
# Types with inline Policies ([{PolicyName, PolicyDocument}]) and ManagedPolicyArns.
_PRINCIPAL_TYPES = ("AWS::IAM::Role", "AWS::IAM::User", "AWS::IAM::Group")
# Resources that hand out credentials or membership: escalation whatever their properties say (IAM User
# Guide, "Manage access keys for IAM users" and "Add and remove users in an IAM user group").
_CREDENTIAL_TYPES = {
    "AWS::IAM::AccessKey": "makes access keys for an IAM user",
    "AWS::IAM::UserToGroupAddition": "adds IAM users to a group, which hands them the group's policies",
}
# AWS managed policies that grant administrator access by the rule of core.access.administrator_access: every
# action (or a NotAction) on every resource, or an escalation action such as iam:* or iam:PassRole on every
# role (AWS Managed Policy Reference). Customer managed policies attached by ARN cannot be read here.
_ADMINISTRATOR_MANAGED_POLICIES = frozenset(
    {
        "AdministratorAccess",
        "AdministratorAccess-Amplify",
        "IAMFullAccess",
        "PowerUserAccess",
        "AWSLambda_FullAccess",
        "AmazonSSMFullAccess",
    }
)
_STATEMENT_LISTS = ("Action", "NotAction", "Resource", "NotResource")


def administrator_resources(template: Mapping[str, Any]) -> Iterator[str]:
    """Each way the template grants administrator access, in words naming the resource."""
    resources = template.get("Resources")
    for name, declaration in (resources if isinstance(resources, Mapping) else {}).items():
        if not isinstance(declaration, Mapping):
            continue
        kind = declaration.get("Type")
        properties = declaration.get("Properties")
        properties = properties if isinstance(properties, Mapping) else {}
        where = f"its resource {str(name)[:64]} ({kind})"
        if kind in _CREDENTIAL_TYPES:
            yield f"{where} {_CREDENTIAL_TYPES[str(kind)]}"
        elif kind in _DOCUMENT_TYPES:
            yield from _document_grants(properties.get("PolicyDocument"), where)
        elif kind in _PRINCIPAL_TYPES:
            policies = properties.get("Policies")
            for index, policy in enumerate(policies if isinstance(policies, list) else []):
                document = policy.get("PolicyDocument") if isinstance(policy, Mapping) else policy
                yield from _document_grants(document, f"{where} Policies[{index}]")
            yield from _managed_grants(properties.get("ManagedPolicyArns"), where)


def _computed(value: object) -> bool:
    """Whether the value is an intrinsic function (`{"Ref": ...}`, `{"Fn::If": ...}`), or not a map at all."""
    if not isinstance(value, Mapping):
        return True
    return len(value) == 1 and all(key == "Ref" or str(key).startswith("Fn::") for key in value)


def _document_grants(document: object, where: str) -> Iterator[str]:
    if _computed(document):
        yield f"{where} has a policy document computed at deploy time"
        return
    assert isinstance(document, Mapping)
    statements = document.get("Statement")
    if isinstance(statements, Mapping) and not _computed(statements):
        statements = [statements]
    if not isinstance(statements, list):
        yield f"{where} has statements computed at deploy time"
        return
    for index, statement in enumerate(statements):
        if _computed(statement):
            yield f"{where} statement {index} is computed at deploy time"
            continue
        grant = administrator_grant(_as_written_or_anything(statement))
        if grant is not None:
            yield f"{where} statement {index} {grant.what}"


def _as_written_or_anything(statement: Mapping[str, Any]) -> dict[str, Any]:
    """The statement with every computed action or resource read as `*`."""
    read = dict(statement)
    for key in _STATEMENT_LISTS:
        if key not in read:
            continue
        value = read[key]
        items = value if isinstance(value, list) else [value]
        read[key] = [item if isinstance(item, str) else "*" for item in items]
    return read


def _managed_grants(arns: object, where: str) -> Iterator[str]:
    for arn in arns if isinstance(arns, list) else []:
        if not isinstance(arn, str):
            continue
        # arn:<partition>:iam::aws:policy[/<path>]/<name>: the account field `aws` marks AWS managed.
        fields = arn.split(":", 5)
        if len(fields) == 6 and fields[4] == "aws":
            policy_name = fields[5].rsplit("/", 1)[-1]
            if policy_name in _ADMINISTRATOR_MANAGED_POLICIES:
                yield f"{where} attaches the AWS managed policy {policy_name}"
