"""One source of truth: charts/turbine-operator renders the same objects as manifests/ (kustomize) for the
default, namespaced, monitoring and IRSA variants, its templated CRD is the file in crds/, and its alerts are
the ones promtool tests. Labels only Helm sets (chart, managed-by, version) are left out of the comparison; so
is the Namespace, which `helm install --create-namespace` creates and the chart does not own."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable

import pytest
import yaml

from .support import CHART, MANIFESTS, REPO_ROOT, Document, find, one, render, render_chart

HELM_ONLY_LABELS = {"helm.sh/chart", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"}
CRD_NAME = "turbinestacks.turbine.dev.yaml"
RULES = CHART / "rules" / "turbine-operator.rules.yaml"
DASHBOARD = CHART / "dashboards" / "turbine-operator.json"


def comparable(documents: Iterable[Document]) -> dict[tuple[str, str, str], Document]:
    """Objects by (kind, namespace, name), without Helm's own labels, the Namespace and the CRD."""
    result = {}
    for original in documents:
        if original["kind"] in ("Namespace", "CustomResourceDefinition"):
            continue
        doc = copy.deepcopy(original)
        labels = doc["metadata"].get("labels", {})
        for label in HELM_ONLY_LABELS:
            labels.pop(label, None)
        key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
        assert key not in result, f"{key} rendered twice"
        result[key] = doc
    return result


def assert_same_objects(kustomized: list[Document], templated: list[Document]) -> None:
    left, right = comparable(kustomized), comparable(templated)
    assert sorted(left) == sorted(right), "the two renderings hold different objects"
    for key, doc in left.items():
        assert right[key] == doc, f"{key} differs between manifests/ and the chart:\n" + yaml.safe_dump(
            {"kustomize": doc, "helm": right[key]}, sort_keys=True
        )


def test_chart_crd_is_the_crd_file_byte_for_byte() -> None:
    assert (CHART / "files" / "crds" / CRD_NAME).read_bytes() == (REPO_ROOT / "crds" / CRD_NAME).read_bytes()
    # No crds/ folder: Helm would create the CRD from it before the templates, and the templated CRD would
    # then collide with one the release does not own.
    assert not (CHART / "crds").exists()


def test_default_values_render_what_manifests_renders() -> None:
    templated = render_chart()
    assert_same_objects(render(MANIFESTS), templated)
    crd = one(templated, "CustomResourceDefinition")
    # The file's object, plus the chart's labels and the annotation that keeps it on `helm uninstall`.
    assert crd["metadata"].pop("annotations") == {"helm.sh/resource-policy": "keep"}
    assert crd["metadata"].pop("labels")["app.kubernetes.io/part-of"] == "turbine-operator"
    assert crd == yaml.safe_load((REPO_ROOT / "crds" / CRD_NAME).read_text())
    assert find(templated, "Namespace") == []


def test_namespaced_values_render_what_manifests_namespaced_renders() -> None:
    assert_same_objects(render(MANIFESTS / "namespaced"), render_chart({"watchNamespaces": ["airflow"]}))


def test_monitoring_values_render_what_the_monitoring_example_renders() -> None:
    values = {"metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}}}
    assert_same_objects(render(MANIFESTS / "examples" / "monitoring"), render_chart(values))


def test_irsa_values_render_what_the_irsa_example_renders() -> None:
    """The example also sets another region; the chart's `region` value does the same."""
    values = {
        "region": "eu-west-1",
        "aws": {"irsa": {"roleArn": "arn:aws:iam::111122223333:role/turbine-operator"}},
    }
    assert_same_objects(render(MANIFESTS / "examples" / "irsa"), render_chart(values))


def test_the_comparison_notices_a_difference() -> None:
    kustomized = render(MANIFESTS)
    changed = render_chart({"region": "eu-central-1"})
    with pytest.raises(AssertionError, match="differs"):
        assert_same_objects(kustomized, changed)


def test_prometheus_rule_is_the_rules_file_promtool_tests() -> None:
    values = {"metrics": {"prometheusRule": {"enabled": True}}}
    rule = one(render_chart(values), "PrometheusRule")
    assert rule["spec"] == yaml.safe_load(RULES.read_text())
    # Another release name: only the operator-down alert's job follows the metrics Service's name.
    other = one(render_chart(values, release="shard-a"), "PrometheusRule")
    service = one(render_chart(release="shard-a"), "Service")["metadata"]["name"]
    exprs = [rule["expr"] for group in other["spec"]["groups"] for rule in group["rules"]]
    assert f'up{{job="{service}"}} == 0' in exprs
    assert f'absent(up{{job="{service}"}})' in exprs
    assert service == "shard-a-turbine-operator-metrics"


def test_dashboard_config_map_ships_the_dashboard_file_for_grafanas_sidecar() -> None:
    documents = render_chart({"metrics": {"dashboard": {"enabled": True, "folder": "Turbine"}}})
    config_map = one(documents, "ConfigMap")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["annotations"] == {"grafana_folder": "Turbine"}
    (content,) = config_map["data"].values()
    assert json.loads(content) == json.loads(DASHBOARD.read_text())
    assert find(render_chart(), "ConfigMap") == [], "off by default"
