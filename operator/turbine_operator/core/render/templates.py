"""CloudFormation templates as data: YAML with short-form intrinsic tags in, canonical JSON out."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import yaml

from turbine_operator.core.errors import SpecError

Template = dict[str, Any]

# The mark of a Turbine master template (cfn/templates/turbine-master.yaml): a key of its template-level
# Metadata, which CloudFormation keeps as written and GetTemplate returns. spec.adopt takes over only stacks
# whose template carries it (core/access/ownership.py), whatever their name.
TURBINE_TEMPLATE_METADATA = "turbine.dev/template"
TURBINE_MASTER = "master"


def is_turbine_master(template: Mapping[str, Any]) -> bool:
    """Whether the template is a Turbine master, by its Metadata (never by the stack's name)."""
    metadata = template.get("Metadata")
    return isinstance(metadata, Mapping) and metadata.get(TURBINE_TEMPLATE_METADATA) == TURBINE_MASTER


_SHORT_FUNCTIONS = (
    "And",
    "Base64",
    "Cidr",
    "Equals",
    "FindInMap",
    "GetAZs",
    "If",
    "ImportValue",
    "Join",
    "Not",
    "Or",
    "Select",
    "Split",
    "Sub",
    "Transform",
    "ToJsonString",
    "Length",
)


class _RefusedYaml(yaml.MarkedYAMLError):
    """A YAML feature CloudFormation does not read."""


class _CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that turns `!Ref x` into `{"Ref": "x"}`, `!Sub s` into `{"Fn::Sub": s}`, and so on.

    It refuses what CloudFormation's YAML parser refuses: aliases and hash merges (and so anchors, which
    only aliases use), https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/template-formats.html
    """

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        mark: Any = event.start_mark  # a pure-Python or a libyaml Mark: both carry line and column
        if isinstance(event, yaml.AliasEvent):
            raise _RefusedYaml(None, None, "found an alias (*name), which CloudFormation does not read", mark)
        if getattr(event, "anchor", None) is not None:
            raise _RefusedYaml(
                None, None, "found an anchor (&name), which CloudFormation does not read", mark
            )
        return super().compose_node(parent, index)

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        for key, _ in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                mark: Any = key.start_mark  # a pure-Python or a libyaml Mark: both carry line and column
                raise _RefusedYaml(
                    None, None, "found a merge key (<<), which CloudFormation does not read", mark
                )
        super().flatten_mapping(node)


# CloudFormation reads 2010-09-09 as a string; YAML 1.1 would make it a datetime.date.
_CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _node_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


def _function(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {name: _node_value(loader, node)}

    return construct


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


_CloudFormationLoader.add_constructor("!Ref", _function("Ref"))
_CloudFormationLoader.add_constructor("!Condition", _function("Condition"))
_CloudFormationLoader.add_constructor("!GetAtt", _get_att)
for _name in _SHORT_FUNCTIONS:
    _CloudFormationLoader.add_constructor(f"!{_name}", _function(f"Fn::{_name}"))


def load_template(body: bytes | str, where: str) -> Template:
    """Parses a JSON or YAML template; `where` names it in errors (a field path or a file)."""
    try:
        text = body.decode("utf-8-sig") if isinstance(body, bytes) else body
    except UnicodeDecodeError:
        raise SpecError(where, "is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    try:
        if document is None:
            document = yaml.load(text, Loader=_CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    except _RefusedYaml as error:
        raise SpecError(where, f"uses YAML that CloudFormation refuses ({_yaml_problem(error)})") from None
    except yaml.YAMLError as error:
        raise SpecError(where, f"is not valid YAML or JSON ({_yaml_problem(error)})") from None
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise SpecError(where, "is not a CloudFormation template (it needs a Resources map)")
    return document


def _yaml_problem(error: yaml.YAMLError) -> str:
    # Position and problem only: PyYAML's full message quotes the offending lines of the document.
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {error.problem}"
    return type(error).__name__


def dump_template(template: Mapping[str, Any]) -> bytes:
    """Canonical JSON: the same template always gives the same bytes (and hash)."""
    return json.dumps(template, sort_keys=True, indent=1, ensure_ascii=False).encode()


def declared_parameters(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    parameters = template.get("Parameters") or {}
    return {str(name): definition for name, definition in parameters.items()}


def check_parameter_value(declaration: Mapping[str, Any], value: str, field: str) -> None:
    """Applies the template's own constraints, so CloudFormation never has to reject a value.

    A constraint that is itself malformed is reported against `field` too: the template is user input.
    """
    try:
        _check_constraints(declaration, value, field)
    except (TypeError, ValueError) as error:
        raise SpecError(
            field, f"the template's constraints cannot be applied ({type(error).__name__})"
        ) from None


def _as_text(item: object) -> str:
    # YAML reads AllowedValues [true, false] as booleans; CloudFormation compares the text.
    return str(item).lower() if isinstance(item, bool) else str(item)


def _check_constraints(declaration: Mapping[str, Any], value: str, field: str) -> None:
    allowed = declaration.get("AllowedValues")
    if allowed is not None:
        if not isinstance(allowed, list):
            raise TypeError("AllowedValues")
        if value not in [_as_text(item) for item in allowed]:
            raise SpecError(field, f"{value!r} is not one of {', '.join(map(_as_text, allowed))}")
    pattern = declaration.get("AllowedPattern")
    if pattern is not None:
        try:
            compiled = re.compile(str(pattern))
        except re.error:
            compiled = None  # a Java pattern Python cannot read: CloudFormation checks it instead
        if compiled is not None and compiled.fullmatch(value) is None:
            raise SpecError(field, f"{value!r} does not match the template's pattern {pattern}")
    if declaration.get("Type") == "Number":
        try:
            number = float(value)
            if "_" in value or not math.isfinite(number):
                raise ValueError(value)
        except ValueError:
            raise SpecError(field, f"{value!r} is not a number") from None
        low, high = declaration.get("MinValue"), declaration.get("MaxValue")
        if (low is not None and number < float(low)) or (high is not None and number > float(high)):
            raise SpecError(field, f"{value} is outside [{low}, {high}]")
    else:
        shortest, longest = declaration.get("MinLength"), declaration.get("MaxLength")
        if (shortest is not None and len(value) < int(shortest)) or (
            longest is not None and len(value) > int(longest)
        ):
            raise SpecError(field, f"must be {shortest} to {longest} characters long")
