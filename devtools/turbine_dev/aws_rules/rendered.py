"""A rendered Turbine stack as CloudFormation receives it: the master template and its nested
templates from the bundle, with the parameters and tags the operator sends."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Mapping
from typing import Any

from turbine_dev.aws_rules.template_values import URL_SUFFIX, Scope, Unresolved
from turbine_operator.core.render.rendering import DesiredStack
from turbine_operator.core.render.templates import load_template

# CloudFormation names a nested stack <parent>-<logical id>-<suffix>; AWS documents no length for the
# suffix, so the harsher reading: 13 characters, as the stacks it creates show, and no truncation below
# the 128 characters of a stack name.
NESTED_SUFFIX = "X" * 13


@dataclasses.dataclass(frozen=True)
class RenderedStack:
    stack_name: str
    region: str
    bucket: str
    key_prefix: str
    parameters: Mapping[str, str]
    tags: Mapping[str, str]
    files: Mapping[str, bytes]  # bundle path -> content, uploaded under key_prefix
    master: str  # bundle path of the template the stack is created from

    @classmethod
    def of(cls, desired: DesiredStack) -> RenderedStack:
        return cls(
            stack_name=desired.stack_name,
            region=desired.region,
            bucket=desired.bucket,
            key_prefix=desired.key_prefix,
            parameters=dict(desired.parameters),
            tags=dict(desired.tags),
            files=dict(desired.bundle.files),
            master=desired.template_key,
        )

    def template(self, path: str) -> Mapping[str, Any]:
        return _parsed(self.files[path], path)

    def scopes(self) -> Iterator[tuple[str, Scope]]:
        """(bundle path, scope) of the master template and of every nested stack CloudFormation creates."""
        pending = [
            (self.master, Scope(self.template(self.master), self.parameters, self.stack_name, self.region))
        ]
        while pending:
            path, scope = pending.pop(0)
            yield path, scope
            for logical_id, resource in resources(scope, "AWS::CloudFormation::Stack"):
                properties = resource["Properties"]
                child = self.bundle_path(str(scope.resolve(properties["TemplateURL"])))
                passed = {}
                for name, value in properties.get("Parameters", {}).items():
                    try:
                        passed[name] = scope.resolve(value)
                    except Unresolved:
                        passed[name] = Unresolved
                    if isinstance(passed[name], list):
                        passed[name] = ",".join(passed[name])
                name = f"{scope.stack_name}-{logical_id}-{NESTED_SUFFIX}"[:128]
                pending.append((child, Scope(self.template(child), passed, name, self.region)))

    def bundle_path(self, template_url: str) -> str:
        base = f"https://{self.bucket}.s3.{self.region}.{URL_SUFFIX}/{self.key_prefix}"
        if not template_url.startswith(base):
            raise ValueError(f"TemplateURL {template_url} is not in the bundle at {base}")
        return template_url.removeprefix(base)


@functools.lru_cache(maxsize=64)
def _parsed(body: bytes, path: str) -> Mapping[str, Any]:
    # Every check walks every template: parse each content once. Nothing changes a parsed template.
    return load_template(body, path)


def resources(scope: Scope, resource_type: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(logical id, resource) of the resources of a type that the scope's conditions create."""
    for logical_id, resource in scope.template.get("Resources", {}).items():
        if resource.get("Type") == resource_type and scope.resource_exists(resource):
            yield str(logical_id), resource


def known_items(scope: Scope, node: Any) -> dict[str, Any]:
    """The entries of a mapping whose values are known, the others left out."""
    items = {}
    for key, value in (node or {}).items():
        resolved = known(scope, value)
        if resolved is not None:
            items[str(key)] = resolved
    return items


def known(scope: Scope, node: Any) -> Any:
    """The resolved value, or None where only AWS knows it."""
    try:
        return scope.resolve(node)
    except Unresolved:
        return None
