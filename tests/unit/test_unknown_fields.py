"""Unknown fields as the API server's pruning finds them: declared properties only, maps by their value
schema, list entries by index, metadata left to ObjectMeta's own rules."""

from __future__ import annotations

from turbine_operator.core.api.crd import custom_resource_definition
from turbine_operator.core.api.unknown_fields import unknown_fields

SCHEMA = custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def test_maps_lists_and_metadata() -> None:
    manifest = {
        "apiVersion": "turbine.dev/v1alpha1",
        "kind": "TurbineStack",
        "metadata": {"name": "a", "labels": {"any": "thing"}, "annotations": {"x": "y"}},
        "spec": {
            "tags": {"team": "data"},  # a map: any key
            "parameters": {"Anything": "x"},
            "additionalTemplates": [{"name": "Dags", "template": {"inline": "x"}, "nme": "typo"}],
            "workers": {"maxSize": 3, "mxSize": 4},
        },
    }
    assert unknown_fields(manifest, SCHEMA) == ["spec.additionalTemplates[0].nme", "spec.workers.mxSize"]


def test_a_valid_manifest_has_none() -> None:
    manifest = {
        "apiVersion": "turbine.dev/v1alpha1",
        "kind": "TurbineStack",
        "spec": {"workers": {"maxSize": 3}},
    }
    assert unknown_fields(manifest, SCHEMA) == []
