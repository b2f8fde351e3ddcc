"""CloudFormation templates as data: YAML with short-form intrinsic tags in, canonical JSON out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import yaml

from turbine_operator.core.errors import SpecError

Template = dict[str, Any]

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


class _CloudFormationLoader(yaml.SafeLoader):
    """A SafeLoader that turns `!Ref x` into `{"Ref": "x"}`, `!Sub s` into `{"Fn::Sub": s}`, and so on."""


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
    except yaml.YAMLError as error:
        raise SpecError(where, f"is not valid YAML or JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise SpecError(where, "is not a CloudFormation template (it needs a Resources map)")
    return document


def dump_template(template: Mapping[str, Any]) -> bytes:
    """Canonical JSON: the same template always gives the same bytes (and hash)."""
    return json.dumps(template, sort_keys=True, indent=1, ensure_ascii=False).encode()


def declared_parameters(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    parameters = template.get("Parameters") or {}
    return {str(name): definition for name, definition in parameters.items()}
