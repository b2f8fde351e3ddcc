"""Whether one IAM policy statement grants administrator access, judged by what it effectively allows.

A statement is administrator access when it is an Allow and either
- it allows every action (Action `*` or `*:*`, or any NotAction, which allows every action it does not
  list) on every resource (Resource `*` or an ARN pattern that matches any resource, such as
  `arn:aws:*:*:*:*`, or any NotResource that does not exclude every resource); or
- it allows an action with which a role can grant itself more (attach or write a policy, pass or assume a
  role, make credentials: ESCALATION below) on every resource of the kind that action acts on (every
  role, every user, ...): `iam:*` on `*`, `iam:Put*` on `arn:aws:iam::*:role/*`, `sts:AssumeRole` on `*`.

Patterns are matched the way IAM matches them (`*` any run of characters, `?` one; action names ignore
case). "Matches any resource" is tested with probes: ARNs naming resources no one would write by name.
Only a wildcard reaches them, so a pattern that matches a probe matches every resource of its kind.
A pattern's literal partition and account are kept in its probe: `arn:aws:iam::123456789012:role/*` is
every role of the account the stack's roles live in. A Condition does not change the answer: it narrows
who and when, not what.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from typing import Any

# IAM actions (and the kind of resource each acts on) that let a role raise its own permissions,
# directly or through another principal. From the IAM documentation of each action:
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsidentityandaccessmanagementiam.html
ESCALATION: Mapping[str, str] = {
    "iam:AttachRolePolicy": "role",
    "iam:PutRolePolicy": "role",
    "iam:DeleteRolePolicy": "role",
    "iam:DetachRolePolicy": "role",
    "iam:PutRolePermissionsBoundary": "role",
    "iam:DeleteRolePermissionsBoundary": "role",
    "iam:UpdateAssumeRolePolicy": "role",
    "iam:PassRole": "role",
    "sts:AssumeRole": "role",
    "iam:AttachUserPolicy": "user",
    "iam:PutUserPolicy": "user",
    "iam:PutUserPermissionsBoundary": "user",
    "iam:DeleteUserPermissionsBoundary": "user",
    "iam:CreateAccessKey": "user",
    "iam:CreateLoginProfile": "user",
    "iam:UpdateLoginProfile": "user",
    "iam:AddUserToGroup": "group",
    "iam:AttachGroupPolicy": "group",
    "iam:PutGroupPolicy": "group",
    "iam:CreatePolicyVersion": "policy",
    "iam:SetDefaultPolicyVersion": "policy",
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


def _probe(pattern: str, service: str, region: str | None, kind: str) -> str:
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
    return f"arn:{partition}:{service}:{region}:{account}:{kind}/{_PROBE_NAME}"


def _reaches(pattern: str, service: str, region: str | None, kind: str) -> bool:
    probe = _probe(pattern, service, region, kind)
    return bool(_wildcard(pattern, ignore_case=False).fullmatch(probe))


def _every_resource(statement: Mapping[str, Any], service: str, region: str | None, kind: str) -> bool:
    """Whether the statement's Resource (or NotResource) covers every resource of this kind."""
    if "NotResource" in statement:
        return not any(_reaches(p, service, region, kind) for p in _strings(statement["NotResource"]))
    return any(_reaches(p, service, region, kind) for p in _strings(statement.get("Resource")))


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
    if every_action and _every_resource(statement, "turbine-probe", None, "resource"):
        if "NotAction" in statement:
            return AdministratorGrant("allows every action but those in NotAction on every resource")
        return AdministratorGrant("allows every action on every resource")
    for action, kind in ESCALATION.items():
        if _allows(statement, action) and _every_resource(statement, "iam", "", kind):
            return AdministratorGrant(
                f"allows {action} on every {kind}, with which a role can give itself any permission"
            )
    return None
