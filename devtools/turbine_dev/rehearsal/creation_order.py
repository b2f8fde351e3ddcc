"""The order in which CloudFormation creates a template's nested stacks, read from the template.

CloudFormation creates a resource only after every resource it refers to (Ref, Fn::GetAtt,
Fn::Sub) or names in DependsOn is complete
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html);
a stack with instances behind a CreationPolicy is complete only once they have signalled. Waves
are the nested stacks whose dependencies are all in earlier waves: they are created together.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

STACK_TYPE = "AWS::CloudFormation::Stack"
_SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")


def references(node: Any) -> set[str]:
    """Logical names an expression refers to (Ref, Fn::GetAtt, Fn::Sub)."""
    names: set[str] = set()
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "Ref":
                names.add(str(value))
            elif key == "Fn::GetAtt":
                names.add(str(value[0]) if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                text, local = (value[0], value[1]) if isinstance(value, list) else (value, {})
                names |= {match.split(".")[0] for match in _SUB_VARIABLE.findall(text)} - set(local)
                names |= references(local)
            else:
                names |= references(value)
    elif isinstance(node, list):
        for item in node:
            names |= references(item)
    return names


def dependencies(template: Mapping[str, Any]) -> dict[str, set[str]]:
    """Every resource's direct dependencies on other resources of the template."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    graph: dict[str, set[str]] = {}
    for name, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else list(depends_on)
        graph[name] = (references(resource.get("Properties", {})) | set(depends_on)) & set(resources)
    return graph


def stack_waves(template: Mapping[str, Any]) -> list[list[str]]:
    """The nested stacks in creation waves: a stack waits for every stack it depends on, also indirectly."""
    resources: Mapping[str, Any] = template.get("Resources", {})
    graph = dependencies(template)
    stacks = sorted(name for name, resource in resources.items() if resource.get("Type") == STACK_TYPE)

    def stack_ancestors(name: str, seen: set[str]) -> set[str]:
        found: set[str] = set()
        for dependency in graph[name]:
            if dependency in seen:
                continue
            seen.add(dependency)
            if dependency in stacks:
                found.add(dependency)
            found |= stack_ancestors(dependency, seen)
        return found

    ancestors = {name: stack_ancestors(name, set()) for name in stacks}
    waves: list[list[str]] = []
    placed: set[str] = set()
    while len(placed) < len(stacks):
        wave = [name for name in stacks if name not in placed and ancestors[name] <= placed]
        if not wave:
            raise ValueError(f"circular dependency between nested stacks: {sorted(set(stacks) - placed)}")
        waves.append(wave)
        placed |= set(wave)
    return waves


def signalled_resources(template: Mapping[str, Any]) -> list[str]:
    """Resources that complete only on signals (CreationPolicy.ResourceSignal)."""
    return [
        name
        for name, resource in template.get("Resources", {}).items()
        if (resource.get("CreationPolicy") or {}).get("ResourceSignal") is not None
    ]
