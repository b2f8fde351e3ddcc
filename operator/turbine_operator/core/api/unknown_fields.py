"""The fields of a manifest that the CRD's schema does not declare, as the API server finds them.

With field validation Strict (kubectl's default since 1.27) the API server refuses such an object, naming
each field ('unknown field "spec.wrkers"'); with Warn or Ignore it prunes them, so the operator never sees
a typo'd field and its default applies unnoticed. `turbine-operator render` refuses them as Strict does.
The rules: "Extend the Kubernetes API with CustomResourceDefinitions", Field pruning
(https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#field-pruning)
and KEP-2332, Pruning for Custom Resources (https://www.kubernetes.dev/resources/keps/2332/): only declared
properties are kept, additionalProperties keeps any key, x-kubernetes-preserve-unknown-fields keeps a subtree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

# ObjectMeta is validated by the API server's own rules, not by the CRD's schema (which says only "object").
_NOT_WALKED = frozenset({"metadata"})


def unknown_fields(document: object, schema: Mapping[str, Any]) -> list[str]:
    """The paths (spec.workers.mxSize, spec.additionalTemplates[0].nme) of the fields `schema` does not
    declare, in the document's order."""
    return list(_walk(document, schema, ""))


def _walk(node: object, schema: Mapping[str, Any], path: str) -> Iterator[str]:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(node, Mapping):
        properties: Mapping[str, Any] = schema.get("properties") or {}
        values = schema.get("additionalProperties")
        for key, value in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key in properties:
                if key not in _NOT_WALKED or path:
                    yield from _walk(value, properties[key], where)
            elif isinstance(values, Mapping):
                yield from _walk(value, values, where)
            else:
                # Pruning keeps only declared fields: an object declaring none keeps none.
                yield where
    elif isinstance(node, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(node):
            yield from _walk(item, schema["items"], f"{path}[{index}]")
