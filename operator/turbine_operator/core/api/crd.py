"""The TurbineStack CRD, generated from the API models (`make crd` writes it to crds/).

pydantic writes a JSON schema of each model; Kubernetes wants a structural schema: every node typed and
inline (no $ref), no `anyOf` for optional fields, no titles, and no default that would store an empty list
or map in every object. `structural` turns the one into the other; the rest of the CRD (names, printer
columns, the transition rules that compare with the old object) is declared here.
"""

from __future__ import annotations

import copy
from typing import Any

from turbine_operator.core.api.spec import spec_schema
from turbine_operator.core.api.status_schema import status_schema
from turbine_operator.core.naming import API_GROUP, API_VERSION, PLURAL

KIND = "TurbineStack"


def structural(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (pydantic's JSON schema, with its $defs) as a Kubernetes structural schema."""
    definitions = schema.get("$defs", {})
    return _node(schema, definitions)


def _node(node: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    node = dict(node)
    reference = node.pop("$ref", None)
    if reference is not None:
        # The field's own keys (its description, default) win over the model's.
        node = {**_node(definitions[reference.rsplit("/", 1)[1]], definitions), **node}
    options = node.pop("anyOf", None)
    if options is not None:
        # `X | None`: null is absent in Kubernetes, so the field is just X.
        (kept,) = [option for option in options if option.get("type") != "null"]
        node = {**_node(kept, definitions), **node}
    node.pop("title", None)
    node.pop("$defs", None)
    if "description" in node:
        node["description"] = " ".join(str(node["description"]).split())
    if "default" in node:
        node["default"] = _without_nulls(node["default"])
        if _empty_default(node):
            del node["default"]
    if "properties" in node:
        node["properties"] = {key: _node(child, definitions) for key, child in node["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _node(node[key], definitions)
    return _ordered(node)


def _without_nulls(value: Any) -> Any:
    """A default without its null members: Kubernetes reads null as absent, and refuses it in a default."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    return value


def _empty_default(node: dict[str, Any]) -> bool:
    """None, or an empty list or map: no default, so objects do not all carry `tags: {}` and the like."""
    default = node["default"]
    return default is None or (default in ([], {}) and "properties" not in node)


_ORDER = ("type", "description", "required", "default")


def _ordered(node: dict[str, Any]) -> dict[str, Any]:
    """Keys in the order people write CRDs: type, description, required, default, then the rest."""
    first = {key: node[key] for key in _ORDER if key in node}
    rest = {key: value for key, value in node.items() if key not in first and key != "properties"}
    return {**first, **rest, **({"properties": node["properties"]} if "properties" in node else {})}


def _immutable_once_used(field: str, what: str) -> dict[str, str]:
    """A transition rule on the whole object: `field` never changes, except that a defaulted value the
    operator already uses (status.<field>) may be written into the spec to pin it."""
    return {
        "rule": f"has(oldSelf.spec.{field})"
        f" ? (has(self.spec.{field}) && self.spec.{field} == oldSelf.spec.{field})"
        f" : (!has(self.spec.{field}) || (has(oldSelf.status) && has(oldSelf.status.{field})"
        f" && self.spec.{field} == oldSelf.status.{field}))",
        "message": f"{field} is immutable: {what}"
        f" (it may be set only to the {_in_use(field)}, status.{field})",
        "fieldPath": f".spec.{field}",
        "reason": "FieldValueForbidden",
    }


def _in_use(field: str) -> str:
    return "name in use" if field == "stackName" else "region in use"


_PRINTER_COLUMNS: list[dict[str, Any]] = [
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
        "description": "Whether the CloudFormation stack matches the spec.",
    },
    {
        "name": "Status",
        "type": "string",
        "jsonPath": ".status.stackStatus",
        "description": "The CloudFormation stack status.",
    },
    {
        "name": "Stack",
        "type": "string",
        "jsonPath": ".status.stackName",
        "description": "The CloudFormation stack name.",
    },
    {
        "name": "Workers",
        "type": "string",
        "jsonPath": ".status.workers.summary",
        "description": "Celery workers in service / desired.",
    },
    {
        "name": "Drifted",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Drifted")].status',
        "description": "Whether the stack drifted from the spec or its resources from the stack.",
    },
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Region",
        "type": "string",
        "priority": 1,
        "jsonPath": ".status.region",
        "description": "The AWS region of the stack.",
    },
    {
        "name": "Webserver URL",
        "type": "string",
        "priority": 1,
        "jsonPath": ".status.outputs.WebserverURL",
        "description": "Where the Airflow webserver answers.",
    },
]


def custom_resource_definition() -> dict[str, Any]:
    """The whole CRD, as the API server takes it."""
    spec = structural(spec_schema())
    status = structural(status_schema())
    # Defaulted so that observedGeneration is too: a new object reads "generation 1, observed 0" (kstatus
    # InProgress) until the operator's first reconcile, instead of having no status at all.
    status["default"] = {}
    status = _ordered(status)
    root = {
        "type": "object",
        "description": f"{KIND} is an Apache Airflow deployment on AWS (the Turbine CloudFormation stack), "
        "reconciled by Turbine Operator through CloudFormation change sets.",
        "required": ["spec"],
        "x-kubernetes-validations": [
            _immutable_once_used("stackName", "a TurbineStack cannot move to another CloudFormation stack"),
            _immutable_once_used("region", "a CloudFormation stack cannot move between regions"),
        ],
        "properties": {
            "apiVersion": {
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation of an object.",
            },
            "kind": {
                "type": "string",
                "description": "Kind is a string value representing the REST resource this object"
                " represents.",
            },
            "metadata": {"type": "object"},
            "spec": spec,
            "status": status,
        },
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{PLURAL}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": ["tstack"],
                "categories": ["turbine"],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": copy.deepcopy(_PRINTER_COLUMNS),
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }
