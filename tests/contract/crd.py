"""The TurbineStack CRD's spec schema, walked as dotted paths (`[]` marks a list's items)."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "turbinestacks.turbine.dev.yaml"
CONSTRAINT_KEYWORDS = (
    "type",
    "required",
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "enum",
    "minItems",
    "maxItems",
)


@functools.cache
def crd_spec_schema() -> dict[str, Any]:
    crd = yaml.safe_load(CRD_PATH.read_text())
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return schema


def _children(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, child in schema.get("properties", {}).items():
        yield f"{path}.{key}", child
    items = schema.get("items")
    if isinstance(items, dict) and "properties" in items:
        yield f"{path}[]", items


def crd_properties(schema: dict[str, Any], path: str = "spec") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every property below `schema`, recursively, as (dotted camelCase path, schema).

    The items of a list of objects appear as `<list>[]`, followed by their own properties.
    """
    for child_path, child in _children(schema, path):
        yield child_path, child
        yield from crd_properties(child, child_path)


def crd_constraints(schema: dict[str, Any], path: str = "spec") -> Iterator[str]:
    """Every validation the CRD applies below (and at) `schema`, as "<path>:<keyword>"."""
    for keyword in (*CONSTRAINT_KEYWORDS, "maxProperties"):
        if keyword in schema:
            yield f"{path}:{keyword}"
    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        yield from (f"{path}.*:{keyword}" for keyword in CONSTRAINT_KEYWORDS if keyword in additional)
    for index, validation in enumerate(schema.get("x-kubernetes-validations", [])):
        # Transition rules (oldSelf) need the previous object; parse_spec only sees one spec.
        if "oldSelf" not in validation["rule"]:
            yield f"{path}:rule{index}"
    items = schema.get("items")
    if isinstance(items, dict):
        yield from crd_constraints(items, f"{path}[]")
    for key, child in schema.get("properties", {}).items():
        yield from crd_constraints(child, f"{path}.{key}")


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def snake_path(path: str) -> str:
    return ".".join(snake(part) for part in path.split("."))
