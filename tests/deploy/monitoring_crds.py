"""Stand-ins for the Prometheus Operator CRDs (ServiceMonitor, PrometheusRule) on the local API server, so
that server-side dry runs check the monitoring objects of manifests/ and of the chart."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from turbine_dev.k8s.kube import KubeApi, wait_for


def _stand_in_crd(kind: str, plural: str, spec_schema: dict[str, Any]) -> dict[str, Any]:
    """A minimal, typed CRD for a Prometheus Operator kind: the API server then rejects unknown or mistyped
    fields in the dry run (kubectl's strict field validation)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower(), "listKind": f"{kind}List"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": spec_schema},
                        }
                    },
                }
            ],
        },
    }


STRING = {"type": "string"}
STRING_MAP = {"type": "object", "additionalProperties": STRING}
LABEL_SELECTOR = {
    "type": "object",
    "properties": {"matchLabels": STRING_MAP},
}
# Prometheus Operator's RelabelConfig, typed as its CRD types it (relabelings, metricRelabelings).
RELABEL_CONFIGS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {
            "sourceLabels": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[a-zA-Z_][a-zA-Z0-9_]*$"},
            },
            "separator": STRING,
            "targetLabel": STRING,
            "regex": STRING,
            "modulus": {"type": "integer", "format": "int64"},
            "replacement": STRING,
            "action": {
                "type": "string",
                "enum": [
                    *("replace", "Replace", "keep", "Keep", "drop", "Drop", "hashmod", "HashMod"),
                    *("labelmap", "LabelMap", "labeldrop", "LabelDrop", "labelkeep", "LabelKeep"),
                    *("lowercase", "Lowercase", "uppercase", "Uppercase"),
                    *("keepequal", "KeepEqual", "dropequal", "DropEqual"),
                ],
            },
        },
    },
}
SERVICE_MONITOR = _stand_in_crd(
    "ServiceMonitor",
    "servicemonitors",
    {
        "type": "object",
        "required": ["selector", "endpoints"],
        "properties": {
            "selector": LABEL_SELECTOR,
            "namespaceSelector": {
                "type": "object",
                "properties": {"matchNames": {"type": "array", "items": STRING}},
            },
            "endpoints": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["port"],
                    "properties": {
                        "port": STRING,
                        "path": STRING,
                        "interval": {
                            "type": "string",
                            "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?)$",
                        },
                        "honorLabels": {"type": "boolean"},
                        "relabelings": RELABEL_CONFIGS,
                        "metricRelabelings": RELABEL_CONFIGS,
                    },
                },
            },
        },
    },
)
PROMETHEUS_RULE = _stand_in_crd(
    "PrometheusRule",
    "prometheusrules",
    {
        "type": "object",
        "properties": {
            "groups": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "rules"],
                    "properties": {
                        "name": STRING,
                        "rules": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["expr"],
                                "properties": {
                                    "alert": STRING,
                                    "record": STRING,
                                    "expr": STRING,
                                    "for": {
                                        "type": "string",
                                        "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?)$",
                                    },
                                    "labels": STRING_MAP,
                                    "annotations": STRING_MAP,
                                },
                            },
                        },
                    },
                },
            }
        },
    },
)


def install_monitoring_crds(kube: KubeApi) -> None:
    """Creates both stand-in CRDs (if missing) and waits until they are Established."""
    for crd in (SERVICE_MONITOR, PROMETHEUS_RULE):
        try:
            kube.extensions.create_custom_resource_definition(crd)
        except ApiException as error:
            if error.status != 409:
                raise

    def established() -> bool:
        names = [f"{plural}.monitoring.coreos.com" for plural in ("servicemonitors", "prometheusrules")]
        return all(
            any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])
            for crd in (kube.extensions.read_custom_resource_definition(name) for name in names)
        )

    wait_for(established, 30, "the stand-in monitoring CRDs")
