"""IAM policy evaluation for one principal's identity-based policies, as AWS documents it.

The stand-ins use it to refuse what an instance role or the Lambda's role does not allow, worded as AWS
words it. AWS's rules (IAM User Guide):
- "Policy evaluation logic"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): an explicit
  Deny in any statement wins; otherwise a request needs an Allow; without one it is implicitly denied.
- "IAM JSON policy elements: Action / NotAction / Resource / NotResource"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html): `*` matches
  any run of characters and `?` one; action names are case-insensitive, resources are not.
- "IAM JSON policy elements: Condition operators"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):
  every operator and key of a Condition must match (AND), any value of a key may (OR); condition key names
  are case-insensitive; a key absent from the request fails the condition, except for the negated
  operators (StringNotEquals, StringNotLike, ArnNotEquals, ArnNotLike), ...IfExists, and Null.
  ArnLike compares the six colon-separated parts of an ARN each on its own.
- "Troubleshoot access denied error messages"
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html): the wording of a
  refusal, with "because no identity-based policy allows the <action> action" or "with an explicit deny in
  an identity-based policy".

Where AWS is silent or the templates do not need it (policy variables, an operator this module does not
know), evaluation raises: a policy it cannot read is never read as allowing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

Document = Mapping[str, Any]
ContextValue = str | Sequence[str]


@dataclasses.dataclass(frozen=True)
class Request:
    action: str  # service:Operation, as IAM names it (sqs:SendMessage)
    resource: str  # the ARN the action acts on, or "*" for actions without resource-level permissions
    context: Mapping[str, ContextValue] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    explicit_deny: bool = False
    statement: str | None = None  # the Sid (or index) that decided, when one did


class UnreadablePolicy(ValueError):
    """A policy element this evaluator cannot read; never taken as allowing."""


def _as_list(value: Any) -> list[Any]:
    return [value] if isinstance(value, str | bool) else list(value)


def _glob(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    if "${" in pattern:
        raise UnreadablePolicy(f"policy variables are not evaluated here: {pattern}")
    translated = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(translated, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return _glob(pattern, ignore_case=ignore_case).fullmatch(value) is not None


def arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts on its own (a `*` never spans a colon before the
    resource part)."""
    pattern_parts, value_parts = pattern.split(":", 5), value.split(":", 5)
    if len(pattern_parts) != 6 or len(value_parts) != 6:
        # Not a whole ARN: AWS is silent, so the harsher reading, nothing but "*" or the same text.
        return pattern in ("*", value)
    return all(glob_match(p, v) for p, v in zip(pattern_parts, value_parts, strict=True))


def _matches_action(statement: Document, action: str) -> bool:
    if "Action" in statement:
        return any(glob_match(p, action, ignore_case=True) for p in _as_list(statement["Action"]))
    if "NotAction" in statement:
        return not any(glob_match(p, action, ignore_case=True) for p in _as_list(statement["NotAction"]))
    raise UnreadablePolicy("a statement needs Action or NotAction")


def _matches_resource(statement: Document, resource: str) -> bool:
    if "Resource" in statement:
        return any(p == "*" or arn_like(p, resource) for p in _as_list(statement["Resource"]))
    if "NotResource" in statement:
        return not any(p == "*" or arn_like(p, resource) for p in _as_list(statement["NotResource"]))
    raise UnreadablePolicy("a statement needs Resource or NotResource")


_POSITIVE: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": glob_match,
    "ArnEquals": lambda p, v: p == v,
    "ArnLike": arn_like,
    "Bool": lambda p, v: str(p).lower() == str(v).lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _lookup(context: Mapping[str, ContextValue], key: str) -> list[str] | None:
    for name, value in context.items():
        if name.lower() == key.lower():
            return [value] if isinstance(value, str) else list(value)
    return None


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, ContextValue]) -> bool:
    patterns = [str(item) if not isinstance(item, bool) else str(item).lower() for item in _as_list(expected)]
    present = _lookup(context, key)
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if name == "Null":
        wanted_absent = patterns[0].lower() == "true"
        return (present is None) == wanted_absent
    negated = name in _NEGATED
    base = _NEGATED.get(name, name)
    if base not in _POSITIVE:
        raise UnreadablePolicy(f"condition operator {operator} is not evaluated here")
    if present is None:
        return if_exists or negated

    def one(value: str) -> bool:
        hit = any(_POSITIVE[base](pattern, value) for pattern in patterns)
        return not hit if negated else hit

    if qualifier == "ForAllValues":
        return all(one(value) for value in present)
    if qualifier in ("ForAnyValue", ""):
        return any(one(value) for value in present)
    raise UnreadablePolicy(f"condition qualifier {qualifier} is not evaluated here")


def _conditions_hold(statement: Document, context: Mapping[str, ContextValue]) -> bool:
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, keys in statement.get("Condition", {}).items()
        for key, expected in keys.items()
    )


def statements(policy: Document) -> list[Document]:
    found = policy["Statement"]
    return [found] if isinstance(found, Mapping) else list(found)


def evaluate(policies: Iterable[Document], request: Request) -> Decision:
    """The decision of a principal's identity-based policies on `request` (explicit deny, allow, or the
    implicit deny)."""
    allowed_by: str | None = None
    for policy in policies:
        for index, statement in enumerate(statements(policy)):
            if not (
                _matches_action(statement, request.action)
                and _matches_resource(statement, request.resource)
                and _conditions_hold(statement, request.context)
            ):
                continue
            name = str(statement.get("Sid", index))
            if statement["Effect"] == "Deny":
                return Decision(allowed=False, explicit_deny=True, statement=name)
            if statement["Effect"] != "Allow":
                raise UnreadablePolicy(f"Effect {statement['Effect']!r}")
            allowed_by = allowed_by or name
    return Decision(allowed=allowed_by is not None, statement=allowed_by)


# The error code each service answers a refused request with: AccessDeniedException for the JSON
# protocols, AccessDenied for the query and REST-XML ones (each service's API reference, "Common Errors").
ACCESS_DENIED_CODES = {
    "secretsmanager": "AccessDeniedException",
    "dynamodb": "AccessDeniedException",
    "ssm": "AccessDeniedException",
    "logs": "AccessDeniedException",
    "sqs": "AccessDenied",
    "s3": "AccessDenied",
    "autoscaling": "AccessDenied",
    "cloudformation": "AccessDenied",
    "cloudwatch": "AccessDenied",
    "iam": "AccessDenied",
    "ec2": "UnauthorizedOperation",
}


def access_denied(principal: str, request: Request, decision: Decision) -> tuple[str, str]:
    """(error code, message) of a refused request, as AWS words them."""
    service = request.action.split(":", 1)[0].lower()
    code = ACCESS_DENIED_CODES[service]
    on = "" if request.resource == "*" else f" on resource: {request.resource}"
    why = (
        "with an explicit deny in an identity-based policy"
        if decision.explicit_deny
        else f"because no identity-based policy allows the {request.action} action"
    )
    return code, f"User: {principal} is not authorized to perform: {request.action}{on} {why}"


def granted_actions(policies: Iterable[Document]) -> set[str]:
    """The actions the Allow statements name (patterns as written)."""
    return {
        action
        for policy in policies
        for statement in statements(policy)
        if statement["Effect"] == "Allow"
        for action in _as_list(statement.get("Action", []))
    }
