"""Additional IAM policies (spec.additionalPolicies[i].document): parsed from JSON or YAML, checked like IAM.

The documents become identity policies of the stack's roles, so they are checked before rendering (elements,
Effect, action and resource syntax, size) and CloudFormation never has to reject one halfway through an
update. A statement that grants administrator access (every action on every resource, or a way for a role to
give itself any permission: see administrator_access) is refused unless the spec opts in. Error messages
quote at most a short snippet of the document, which may be large.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from typing import Any

import yaml
from yaml.composer import ComposerError

from turbine_operator.core.access.administrator_access import administrator_grant
from turbine_operator.core.errors import SpecError

ADMINISTRATOR_ACCESS_HINT = "Set spec.allowAdministratorPolicies: true to allow administrator access."
MANAGED_POLICY_MAX_CHARACTERS = 6144

POLICY_VERSIONS = ("2012-10-17", "2008-10-17")
POLICY_ELEMENTS = ("Version", "Id", "Statement")
STATEMENT_ELEMENTS = ("Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition")
RESOURCE_BASED_ELEMENTS = ("Principal", "NotPrincipal")
EFFECTS = ("Allow", "Deny")
ACTION = re.compile(r"\*|\*:\*|[a-z0-9-]+:[A-Za-z0-9*?]+")
RESOURCE = re.compile(r"\*|arn:.+")
SID = re.compile(r"[A-Za-z0-9]*")
SNIPPET_CHARACTERS = 40
NOT_A_DOCUMENT = "must be a JSON or YAML object with Version and Statement"


class _AliasRefused(ComposerError):
    """A YAML alias (*name) in a policy document."""


class _PolicyLoader(yaml.SafeLoader):
    """A SafeLoader that keeps dates as strings and refuses aliases."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # An alias repeats a node without repeating its text: a short document could expand into one that
        # takes minutes to check. Policies never need them.
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise _AliasRefused(None, None, "found an alias", event.start_mark)
        return super().compose_node(parent, index)


# Users write `Version: 2012-10-17` unquoted; YAML 1.1 would make it (and dates in Conditions) a
# datetime.date, which is neither the string IAM expects nor something json.dumps can write.
_PolicyLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _cut(text: str, limit: int = SNIPPET_CHARACTERS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _snippet(value: object) -> str:
    """A string value quoted and cut short, or the type of anything else."""
    return repr(_cut(value)) if isinstance(value, str) else type(value).__name__


def _key(key: object) -> str:
    """A mapping key as it appears in a field path, cut short."""
    return _cut(str(key))


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return _cut(lines[0], 3 * SNIPPET_CHARACTERS) if lines else "unknown error"


def _yaml_position(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark or error.context_mark
    return "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"


def _yaml_problem(error: yaml.YAMLError) -> str:
    """Where and what from a YAML error, without the excerpt of the input PyYAML would add."""
    if not isinstance(error, yaml.MarkedYAMLError):
        return _first_line(str(error))
    problem = _first_line(", ".join(part for part in (error.context, error.problem) if part))
    if error.context == "while scanning an alias":
        problem += '; in YAML, write "*" in quotes'
    position = _yaml_position(error)
    return f"{position}: {problem}" if position else problem


def _load(text: str, field: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        json_error = error
    except RecursionError:
        raise SpecError(field, "is nested too deeply") from None
    try:
        return yaml.load(text, Loader=_PolicyLoader)  # noqa: S506 - a SafeLoader subclass
    except _AliasRefused as error:
        raise SpecError(
            field, f"uses a YAML alias ({_yaml_position(error)}); write the policy out in full"
        ) from None
    except yaml.YAMLError as error:
        # JSON is tried first because PyYAML rejects JSON indented with tabs; for text that looks like JSON,
        # the JSON decoder's complaint is also the one that makes sense to its author.
        if text.lstrip().startswith(("{", "[")):
            where = f"line {json_error.lineno}, column {json_error.colno}: {_first_line(json_error.msg)}"
        else:
            where = _yaml_problem(error)
        raise SpecError(field, f"is not valid JSON or YAML ({where})") from None
    except RecursionError:
        raise SpecError(field, "is nested too deeply") from None


def _kind(value: object) -> str:
    kinds = {list: "a list", str: "a string", bool: "true or false", int: "a number", float: "a number"}
    return kinds.get(type(value), type(value).__name__)


def parse_policy_document(text: str, field: str) -> dict[str, Any]:
    """Parses JSON or YAML text into a policy document; SpecError(field, ...) if neither or not a mapping."""
    document = _load(text, field)
    if document is None:
        raise SpecError(field, f"is empty; it {NOT_A_DOCUMENT}")
    if not isinstance(document, dict):
        raise SpecError(field, f"{NOT_A_DOCUMENT}, not {_kind(document)}")
    return document


def grants_administrator_access(statement: Mapping[str, Any]) -> bool:
    """Whether the statement grants administrator access (see core.access.administrator_access)."""
    return administrator_grant(statement) is not None


def policy_size(document: Mapping[str, Any]) -> int:
    """The characters IAM counts: the document as compact JSON, without whitespace outside strings."""
    return len(json.dumps(document, separators=(",", ":"), ensure_ascii=False))


@dataclasses.dataclass(frozen=True)
class _Statement:
    """One statement and where it is, so every error names its field path and Sid."""

    raw: Mapping[str, Any]
    path: str
    index: int
    sid: str = ""

    def error(self, key: str | None, message: str) -> SpecError:
        field = self.path if key is None else f"{self.path}.{key}"
        if self.sid:
            message = f"{message} (Sid {_key(self.sid)})"
        return SpecError(field, message)

    @property
    def name(self) -> str:
        return f"statement {self.index}" + (f" (Sid {_key(self.sid)})" if self.sid else "")


def _check_version(document: Mapping[str, Any], field: str) -> None:
    allowed = f'"{POLICY_VERSIONS[0]}" (or the older "{POLICY_VERSIONS[1]}")'
    if "Version" not in document:
        raise SpecError(f"{field}.Version", f"is required: {allowed}")
    version = document["Version"]
    if not isinstance(version, str) or version not in POLICY_VERSIONS:
        raise SpecError(f"{field}.Version", f"must be {allowed}, not {_snippet(version)}")


def _statements(document: Mapping[str, Any], field: str) -> list[tuple[str, object]]:
    """The statements with their field paths: Statement may be one object or a list of them."""
    path = f"{field}.Statement"
    allowed = "one statement object or a non-empty list of them"
    if "Statement" not in document:
        raise SpecError(path, f"is required: {allowed}")
    statements = document["Statement"]
    if isinstance(statements, Mapping):
        return [(path, statements)]
    if not isinstance(statements, list) or not statements:
        raise SpecError(path, f"must be {allowed}")
    return [(f"{path}[{index}]", statement) for index, statement in enumerate(statements)]


def _check_sid(raw: Mapping[str, Any], path: str) -> str:
    sid = raw.get("Sid", "")
    if not isinstance(sid, str) or not SID.fullmatch(sid):
        raise SpecError(f"{path}.Sid", f"must be a string of letters and digits, not {_snippet(sid)}")
    return sid


def _check_elements(statement: _Statement) -> None:
    for key in statement.raw:
        if key in RESOURCE_BASED_ELEMENTS:
            raise statement.error(
                _key(key),
                "belongs in resource-based policies; these are identity policies attached to the stack's "
                "roles, where the role is the principal",
            )
        if key not in STATEMENT_ELEMENTS:
            raise statement.error(
                _key(key), f"is not a statement element; a statement has only {', '.join(STATEMENT_ELEMENTS)}"
            )


def _check_effect(statement: _Statement) -> None:
    if "Effect" not in statement.raw:
        raise statement.error("Effect", "is required: Allow or Deny")
    effect = statement.raw["Effect"]
    if not isinstance(effect, str) or effect not in EFFECTS:
        raise statement.error("Effect", f"must be Allow or Deny, not {_snippet(effect)}")


def _one_of(statement: _Statement, element: str, why: str) -> str:
    """Which of `element` and Not`element` the statement has; it must have exactly one."""
    present = [key for key in (element, f"Not{element}") if key in statement.raw]
    if not present:
        raise statement.error(element, f"is required (or Not{element}){why}")
    if len(present) > 1:
        raise statement.error(None, f"has both {element} and Not{element}; use exactly one")
    return present[0]


def _check_string_list(statement: _Statement, key: str, pattern: re.Pattern[str], allowed: str) -> None:
    """`key` holds one string or a non-empty list of strings, each matching `pattern`."""
    value = statement.raw[key]
    if isinstance(value, str):
        items = [(key, value)]
    elif isinstance(value, list) and value:
        items = [(f"{key}[{index}]", item) for index, item in enumerate(value)]
    else:
        raise statement.error(key, f"must be a string or a non-empty list of strings, not {_snippet(value)}")
    for item_key, item in items:
        if not isinstance(item, str):
            raise statement.error(item_key, f"must be a string, not {_snippet(item)}")
        if not pattern.fullmatch(item):
            raise statement.error(item_key, f"{_snippet(item)} is not {allowed}")


def _is_condition_value(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, str | int | bool)


def _check_condition(statement: _Statement) -> None:
    # Operator names (StringEquals, ArnLike, ...IfExists) are IAM's to judge; the shape is ours, because
    # the document must survive json.dumps into the template.
    condition = statement.raw["Condition"]
    if not isinstance(condition, Mapping):
        raise statement.error("Condition", "must be a map of condition operators to maps of keys and values")
    for operator, clause in condition.items():
        operator_key = f"Condition.{_key(operator)}"
        if not isinstance(operator, str):
            raise statement.error(operator_key, f"must be named by a string, not {_snippet(operator)}")
        if not isinstance(clause, Mapping):
            raise statement.error(operator_key, "must be a map of condition keys to values")
        for condition_key, value in clause.items():
            value_key = f"{operator_key}.{_key(condition_key)}"
            if not isinstance(condition_key, str):
                raise statement.error(value_key, f"must be named by a string, not {_snippet(condition_key)}")
            values = value if isinstance(value, list) else [value]
            if not all(_is_condition_value(item) for item in values):
                raise statement.error(value_key, "must be a string, number or boolean, or a list of them")


def _check_statement(raw: object, path: str, index: int, *, allow_administrator: bool) -> str:
    """Checks one statement and returns its Sid ("" if none)."""
    if not isinstance(raw, Mapping):
        raise SpecError(path, f"must be an object with Effect, Action and Resource, not {_snippet(raw)}")
    statement = _Statement(raw, path, index, _check_sid(raw, path))
    _check_elements(statement)
    _check_effect(statement)
    action_key = _one_of(statement, "Action", "")
    _check_string_list(
        statement, action_key, ACTION, 'an action: use "*" or service:ActionName such as s3:GetObject'
    )
    resource_key = _one_of(statement, "Resource", "; an identity policy names the resources it applies to")
    _check_string_list(
        statement, resource_key, RESOURCE, 'a resource: use "*" or an ARN, which starts with arn:'
    )
    if "Condition" in raw:
        _check_condition(statement)
    grant = None if allow_administrator else administrator_grant(raw)
    if grant is not None:
        raise SpecError(
            path, f"{statement.name} {grant.what}, which is administrator access. {ADMINISTRATOR_ACCESS_HINT}"
        )
    return statement.sid


def check_policy_document(document: Mapping[str, Any], field: str, *, allow_administrator: bool) -> None:
    """Raises SpecError naming the field (and the statement index / Sid) for the first problem."""
    for key in document:
        if key not in POLICY_ELEMENTS:
            raise SpecError(
                f"{field}.{_key(key)}",
                "is not a policy element; a policy document has only Version, Id and Statement",
            )
    _check_version(document, field)
    if "Id" in document and not isinstance(document["Id"], str):
        raise SpecError(f"{field}.Id", f"must be a string, not {_snippet(document['Id'])}")
    first_with_sid: dict[str, int] = {}
    for index, (path, statement) in enumerate(_statements(document, field)):
        sid = _check_statement(statement, path, index, allow_administrator=allow_administrator)
        if sid in first_with_sid:
            raise SpecError(
                f"{path}.Sid",
                f"repeats the Sid {_key(sid)} of statement {first_with_sid[sid]}; "
                "Sids must be unique in a document",
            )
        if sid:
            first_with_sid[sid] = index
    size = policy_size(document)
    if size > MANAGED_POLICY_MAX_CHARACTERS:
        raise SpecError(
            field,
            f"is {size} characters without whitespace; IAM managed policies allow at most "
            f"{MANAGED_POLICY_MAX_CHARACTERS}",
        )


def policy_document(text: str, field: str, *, allow_administrator: bool) -> dict[str, Any]:
    """Parses and checks a policy document; returns the document to put into the CloudFormation template."""
    document = parse_policy_document(text, field)
    check_policy_document(document, field, allow_administrator=allow_administrator)
    return document
