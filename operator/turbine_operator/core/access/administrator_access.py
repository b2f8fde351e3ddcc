"""Whether one IAM policy statement grants administrator access, judged by what it effectively allows.

A statement is administrator access when it is an Allow and either
- it allows every action (Action `*` or `*:*`, or any NotAction, which allows every action it does not
  list) on every resource (Resource `*` or an ARN pattern that matches any resource, such as
  `arn:aws:*:*:*:*`, or any NotResource that does not exclude every resource); or
- it allows an action with which a role can grant itself more (attach or write a policy, pass or assume a
  role, make credentials, run code or commands as another role: ESCALATION below) on any resource of the
  kind that action acts on. Named resources count too: the policy is attached to the stack's own roles, so
  `iam:PutRolePolicy` on `arn:aws:iam::<account>:role/<stack>-*` lets the worker role write itself any
  policy, and `iam:PassRole` or `sts:AssumeRole` on a named role hands out whatever that role holds, which
  nothing here can see (the harsher reading).

Patterns are matched the way IAM matches them (`*` any run of characters, `?` one; action names ignore
case). "Matches any resource" is tested with probes: ARNs naming resources no one would write by name.
Only a wildcard reaches them, so a pattern that matches a probe matches every resource of its kind.
A pattern's literal partition and account are kept in its probe: `arn:aws:iam::123456789012:role/*` is
every role of the account the stack's roles live in. "Reaches a resource of the kind" asks only whether the
pattern could match one such ARN: its service, region and resource type fit. A Condition does not change the
answer: it narrows who and when, not what.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class ResourceKind:
    """The ARNs an action acts on: `arn:<partition>:<service>:<region>:<account>:<prefix><name>`."""

    noun: str
    service: str
    prefix: str
    regional: bool = False


ROLE = ResourceKind("role", "iam", "role/")
USER = ResourceKind("user", "iam", "user/")
GROUP = ResourceKind("group", "iam", "group/")
POLICY = ResourceKind("policy", "iam", "policy/")
FUNCTION = ResourceKind("function", "lambda", "function:", regional=True)
INSTANCE = ResourceKind("instance", "ec2", "instance/", regional=True)

# Actions with which a principal can raise its own permissions, directly or through another principal,
# and the kind of resource each acts on. From each action's entry in the Service Authorization Reference
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html,
# .../list_awssecuritytokenservice.html, .../list_awslambda.html, .../list_awssystemsmanager.html) and the
# IAM User Guide's "Grant a user permissions to pass a role to an AWS service" (PassRole hands a role's
# permissions to a service the caller controls). The hand-offs: a function's new code runs as the function's
# execution role (Lambda Developer Guide, "Lambda execution role"); Run Command and Session Manager run as
# root on an instance, with its instance profile's credentials (Systems Manager User Guide).
ESCALATION: Mapping[str, ResourceKind] = {
    "iam:AttachRolePolicy": ROLE,
    "iam:PutRolePolicy": ROLE,
    "iam:DeleteRolePolicy": ROLE,
    "iam:DetachRolePolicy": ROLE,
    "iam:PutRolePermissionsBoundary": ROLE,
    "iam:DeleteRolePermissionsBoundary": ROLE,
    "iam:UpdateAssumeRolePolicy": ROLE,
    "iam:PassRole": ROLE,
    "sts:AssumeRole": ROLE,
    "iam:AttachUserPolicy": USER,
    "iam:PutUserPolicy": USER,
    "iam:PutUserPermissionsBoundary": USER,
    "iam:DeleteUserPermissionsBoundary": USER,
    "iam:CreateAccessKey": USER,
    "iam:CreateLoginProfile": USER,
    "iam:UpdateLoginProfile": USER,
    "iam:AddUserToGroup": GROUP,
    "iam:AttachGroupPolicy": GROUP,
    "iam:PutGroupPolicy": GROUP,
    "iam:CreatePolicyVersion": POLICY,
    "iam:SetDefaultPolicyVersion": POLICY,
    "lambda:UpdateFunctionCode": FUNCTION,
    "lambda:UpdateFunctionConfiguration": FUNCTION,
    "ssm:SendCommand": INSTANCE,
    "ssm:StartSession": INSTANCE,
}
_PROBE_ACTION = "turbine-probe:AnyAction"
_PROBE_NAME = "turbine-probe-q7x3"
_PROBE_ACCOUNT = "000000000000"
_ACCOUNT = re.compile(r"[0-9]{12}")


@dataclasses.dataclass(frozen=True)
class AdministratorGrant:
    """What makes a statement administrator access, in words for the error message."""

    what: str


@functools.cache
def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(body, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def _action_matches(pattern: str, action: str) -> bool:
    return bool(_wildcard(pattern, ignore_case=True).fullmatch(action))


def _literal(field: str) -> bool:
    return bool(field) and not any(c in field for c in "*?")


def _probe(pattern: str, service: str, region: str | None, prefix: str) -> str:
    """An ARN of a resource of `kind` that only a wildcard reaches.

    It keeps the pattern's literal partition and account (and region, when `region` is None): those
    narrow nothing, the stack's roles live in one partition and account.
    """
    fields = pattern.split(":", 5)
    if len(fields) < 6:
        fields = ["arn", "aws", service, "", "", ""]
    partition = fields[1] if _literal(fields[1]) else "aws"
    account = fields[4] if _ACCOUNT.fullmatch(fields[4]) else _PROBE_ACCOUNT
    if region is None:
        region = fields[3] if _literal(fields[3]) else "us-east-1"
    return f"arn:{partition}:{service}:{region}:{account}:{prefix}{_PROBE_NAME}"


def _reaches(pattern: str, service: str, region: str | None, prefix: str) -> bool:
    probe = _probe(pattern, service, region, prefix)
    return bool(_wildcard(pattern, ignore_case=False).fullmatch(probe))


def _every_resource(statement: Mapping[str, Any], service: str, region: str | None, prefix: str) -> bool:
    """Whether the statement's Resource (or NotResource) covers every resource of this kind."""
    if "NotResource" in statement:
        return not any(_reaches(p, service, region, prefix) for p in _strings(statement["NotResource"]))
    return any(_reaches(p, service, region, prefix) for p in _strings(statement.get("Resource")))


def _field_fits(pattern: str, value: str) -> bool:
    """Whether one ARN field of a pattern can hold `value`: `*` and `?` stand for anything there."""
    return bool(_wildcard(pattern, ignore_case=False).fullmatch(value))


def _could_name(pattern: str, kind: ResourceKind) -> bool:
    """Whether the pattern could match some ARN of this kind (not necessarily every one).

    A pattern whose fields cannot be told apart (`*`, `arn:*`) could. Otherwise its service must be the
    kind's, its region empty for a global service, and its resource part must admit the kind's prefix.
    """
    fields = pattern.split(":", 5)
    if len(fields) < 6:
        return "*" in pattern
    _, _, service, region, _, resource = fields
    if not _field_fits(service, kind.service):
        return False
    if not kind.regional and region and not _field_fits(region, ""):
        return False
    head = re.split(r"[*?]", resource, maxsplit=1)[0]
    if head == resource:  # no wildcard: a literal name
        return resource.startswith(kind.prefix) and len(resource) > len(kind.prefix)
    return head.startswith(kind.prefix) or kind.prefix.startswith(head)


def _reaches_some(statement: Mapping[str, Any], kind: ResourceKind) -> str | None:
    """The resources of this kind the statement reaches, in words, or None when it reaches none."""
    if "NotResource" in statement:
        region = None if kind.regional else ""
        if any(_reaches(p, kind.service, region, kind.prefix) for p in _strings(statement["NotResource"])):
            return None
        return f"every {kind.noun} but those in NotResource"
    patterns = [p for p in _strings(statement.get("Resource")) if _could_name(p, kind)]
    if not patterns:
        return None
    if any(_reaches(p, kind.service, None if kind.regional else "", kind.prefix) for p in patterns):
        return f"every {kind.noun}"
    return f"the {kind.noun} {patterns[0]}"


def _allows(statement: Mapping[str, Any], action: str) -> bool:
    if "NotAction" in statement:
        return not any(_action_matches(p, action) for p in _strings(statement["NotAction"]))
    return any(_action_matches(p, action) for p in _strings(statement.get("Action")))


def _strings(value: object) -> list[str]:
    """A string-or-list element as a list, ignoring anything that is not a string (for unchecked input)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def administrator_grant(statement: Mapping[str, Any]) -> AdministratorGrant | None:
    """What administrator access the statement grants, or None if it grants none."""
    if statement.get("Effect") != "Allow":
        return None
    # An action of a service no policy author would name: only `*`-like patterns match it.
    every_action = _allows(statement, _PROBE_ACTION)
    # A resource of a service no policy author would name, in any region.
    if every_action and _every_resource(statement, "turbine-probe", None, "resource/"):
        if "NotAction" in statement:
            return AdministratorGrant("allows every action but those in NotAction on every resource")
        return AdministratorGrant("allows every action on every resource")
    for action, kind in ESCALATION.items():
        if not _allows(statement, action):
            continue
        reached = _reaches_some(statement, kind)
        if reached is not None:
            return AdministratorGrant(
                f"allows {action} on {reached}, with which a role can give itself (or code it controls) "
                "any permission"
            )
    return None
