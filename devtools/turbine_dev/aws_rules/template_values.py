"""The values a rendered stack's templates give their resources, as CloudFormation would resolve them.

Only what the templates and the operator's parameters decide is known here: a resource's own
identifier or attribute (a queue's URL, a secret's ARN) exists only once AWS created it. A strict
resolution raises `Unresolved` on those, so a check skips a value it cannot know; a bounded one puts
`filler` in their place, for checks of a size (user data) that must hold whatever AWS fills in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

# What Fn::If's AWS::NoValue branch leaves out of the resolved value.
NO_VALUE = object()
# CloudFormation's pseudo parameters for a stack in the commercial partition.
ACCOUNT_ID = "123456789012"
URL_SUFFIX = "amazonaws.com"


class Unresolved(Exception):
    """A value only AWS knows (a resource's id or attribute, or a parameter that carries one)."""


@dataclasses.dataclass(frozen=True)
class Scope:
    """One template of the stack with the parameter values its parent passes."""

    template: Mapping[str, Any]
    parameters: Mapping[str, Any]  # a value, or Unresolved for one only AWS knows
    stack_name: str
    region: str
    filler: str | None = None  # stands for what only AWS knows, in bounded resolutions

    def bounded(self, filler: str) -> Scope:
        return dataclasses.replace(self, filler=filler)

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def resource_exists(self, resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        try:
            return condition is None or self.condition(str(condition))
        except Unresolved:
            return True  # the harsher reading: a resource that may exist is checked

    def parameter(self, name: str) -> Any:
        if name in self.parameters:
            value = self.parameters[name]
        else:
            value = self.template["Parameters"][name].get("Default", "")
        if value is Unresolved:
            return self._unknown(f"parameter {name}")
        declared = str(self.template["Parameters"][name].get("Type", "String"))
        if isinstance(value, str) and (declared.startswith("List<") or declared == "CommaDelimitedList"):
            return [item for item in value.split(",") if item] if value else []
        return value

    def _unknown(self, what: str) -> str:
        if self.filler is None:
            raise Unresolved(what)
        return self.filler

    def _ref(self, name: str) -> Any:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::StackName": self.stack_name,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": URL_SUFFIX,
            "AWS::NoValue": NO_VALUE,
        }
        if name in pseudo:
            return pseudo[name]
        if name == "AWS::StackId":
            return self._unknown(name)
        if name in self.template.get("Parameters", {}):
            return self.parameter(name)
        return self._unknown(f"Ref {name}")

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
        values = {name: self.resolve(value) for name, value in variables.items()}
        out, rest = [], str(text)
        while "${" in rest:
            before, _, after = rest.partition("${")
            name, _, rest = after.partition("}")
            out.append(before)
            if name.startswith("!"):
                out.append("${" + name[1:] + "}")
            elif name in values:
                out.append(str(values[name]))
            elif "." in name:
                out.append(self._unknown(f"Fn::GetAtt {name}"))
            else:
                value = self._ref(name)
                out.append(",".join(value) if isinstance(value, list) else str(value))
        return "".join(out) + rest

    def resolve(self, node: Any) -> Any:
        """The value of a template expression, or Unresolved for one only AWS knows."""
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, Mapping):
            return node
        if len(node) == 1:
            [(function, argument)] = node.items()
            handler = _FUNCTIONS.get(str(function))
            if handler is not None:
                return handler(self, argument)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}


def _if(scope: Scope, argument: Any) -> Any:
    name, if_true, if_false = argument
    return scope.resolve(if_true if scope.condition(str(name)) else if_false)


def _select(scope: Scope, argument: Any) -> Any:
    index, items = argument
    return scope.resolve(items)[int(scope.resolve(index))]


def _split(scope: Scope, argument: Any) -> Any:
    separator, text = argument
    return str(scope.resolve(text)).split(str(separator))


def _join(scope: Scope, argument: Any) -> Any:
    separator, items = argument
    return str(separator).join(str(item) for item in scope.resolve(items))


def _find_in_map(scope: Scope, argument: Any) -> Any:
    name, top, second = (scope.resolve(part) for part in argument[:3])
    return scope.template["Mappings"][name][top][second]


def _get_att(scope: Scope, argument: Any) -> Any:
    return scope._unknown(f"Fn::GetAtt {argument}")


def _get_azs(scope: Scope, argument: Any) -> Any:
    # Two zones, the fewest a Region has; what the templates select from it is unknown anyway.
    return [f"{scope.region}a", f"{scope.region}b"]


_FUNCTIONS: dict[str, Any] = {
    "Ref": lambda scope, name: scope._ref(str(name)),
    "Fn::Sub": lambda scope, argument: scope._sub(argument),
    "Fn::If": _if,
    "Fn::Equals": lambda scope, pair: scope.resolve(pair[0]) == scope.resolve(pair[1]),
    "Fn::And": lambda scope, items: all(scope.resolve(item) for item in items),
    "Fn::Or": lambda scope, items: any(scope.resolve(item) for item in items),
    "Fn::Not": lambda scope, items: not scope.resolve(items[0]),
    "Condition": lambda scope, name: scope.condition(str(name)),
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::Join": _join,
    "Fn::FindInMap": _find_in_map,
    "Fn::GetAtt": _get_att,
    "Fn::ImportValue": _get_att,
    "Fn::GetAZs": _get_azs,
    "Fn::Base64": lambda scope, argument: scope.resolve(argument),
}
