"""charts/turbine-operator with the real helm: lint, what its values change, what its schema refuses, and
server dry runs of every variant on the real local API server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi

from .monitoring_crds import install_monitoring_crds
from .support import CHART, OPERATOR_NAMESPACE, Document, find, helm, kubectl, one, render_chart

MONITORING = {
    "metrics": {
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
    }
}
SHARDS = {"shard-a": ["airflow-a1", "airflow-a2"], "shard-b": ["airflow-b"]}


def container(documents: list[Document]) -> Document:
    (operator,) = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"]
    return dict(operator)


@pytest.mark.parametrize(
    "values",
    [{}, {"watchNamespaces": ["a", "b"]}, MONITORING],
    ids=["default", "namespaced", "monitoring"],
)
def test_helm_lint_passes(values: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "values.json"
    path.write_text(json.dumps(values))
    done = helm("lint", "--strict", str(CHART), "--values", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


def test_namespaced_values_grant_a_role_per_namespace_and_nothing_cluster_wide() -> None:
    documents = render_chart({"watchNamespaces": ["data", "analytics"]})
    assert find(documents, "ClusterRole") == find(documents, "ClusterRoleBinding") == []
    assert sorted(doc["metadata"]["namespace"] for doc in find(documents, "Role")) == ["analytics", "data"]
    for binding in find(documents, "RoleBinding"):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "turbine-operator", "namespace": OPERATOR_NAMESPACE}
        ]
    assert container(documents)["args"][:2] == ["--namespace=data", "--namespace=analytics"]


def test_shards_are_releases_with_disjoint_namespaces_and_selectors() -> None:
    """Sharding as the operator supports it today: one release per set of namespaces."""
    renderings = {
        release: render_chart({"watchNamespaces": ns}, release=release) for release, ns in SHARDS.items()
    }
    names: set[tuple[str, str, str]] = set()
    selectors = []
    for release, documents in renderings.items():
        for doc in documents:
            if doc["kind"] == "CustomResourceDefinition":
                continue
            key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
            assert key not in names, f"{key} is in two releases"
            names.add(key)
        deployment = one(documents, "Deployment")
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector["app.kubernetes.io/instance"] == release
        assert one(documents, "Service")["spec"]["selector"] == selector
        selectors.append(selector)
        args = container(documents)["args"]
        assert [arg for arg in args if arg.startswith("--namespace=")] == [
            f"--namespace={ns}" for ns in SHARDS[release]
        ]
    assert selectors[0] != selectors[1]


def test_aws_credential_settings() -> None:
    irsa = render_chart(
        {"aws": {"irsa": {"roleArn": "arn:aws:iam::111122223333:role/t", "stsRegionalEndpoints": False}}}
    )
    assert one(irsa, "ServiceAccount")["metadata"]["annotations"] == {
        "eks.amazonaws.com/role-arn": "arn:aws:iam::111122223333:role/t"
    }
    keys = render_chart({"aws": {"credentialsSecret": "turbine-aws"}})
    assert container(keys)["envFrom"] == [{"secretRef": {"name": "turbine-aws"}}]
    assert "envFrom" not in container(render_chart())
    assert "annotations" not in one(render_chart(), "ServiceAccount")["metadata"]
    # Pod Identity changes no object (the association lives in EKS); the release notes print the command
    # (`helm install` shows them, `helm template` does not).
    pod_identity = {"aws": {"podIdentity": {"enabled": True, "roleArn": "arn:aws:iam::111122223333:role/t"}}}
    assert render_chart(pod_identity) == render_chart()
    done = helm(
        "install",
        "turbine-operator",
        str(CHART),
        "--dry-run=client",
        "--namespace",
        "ops",
        "--set",
        "aws.podIdentity.enabled=true",
        "--set",
        "aws.podIdentity.roleArn=arn:aws:iam::111122223333:role/t",
    )
    assert done.returncode == 0, done.stderr
    assert "aws eks create-pod-identity-association --cluster-name <cluster>" in done.stdout
    assert "--namespace ops --service-account turbine-operator" in done.stdout
    assert "--role-arn arn:aws:iam::111122223333:role/t" in done.stdout


def test_existing_service_account_and_no_rbac() -> None:
    documents = render_chart(
        {"serviceAccount": {"create": False, "name": "ops-sa"}, "rbac": {"create": False}}
    )
    assert find(documents, "ServiceAccount") == []
    assert not [
        doc
        for doc in documents
        if doc["kind"] in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
    ]
    assert one(documents, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "ops-sa"


def test_replicas_zero_stops_the_operator() -> None:
    assert one(render_chart({"replicas": 0}), "Deployment")["spec"]["replicas"] == 0


def _container(documents: list[Document]) -> dict[str, Any]:
    container: dict[str, Any] = one(documents, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return container


def test_hot_standby_runs_replicas_on_a_lease_with_rolling_updates() -> None:
    documents = render_chart({"replicas": 2, "leaderElection": {"enabled": True}})
    deployment = one(documents, "Deployment")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    container = _container(documents)
    assert "--leader-elect" in container["args"]
    assert "--leader-election-id=turbine-operator" in container["args"]
    fields = {
        e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in container["env"]
    }
    assert (fields["POD_NAMESPACE"], fields["POD_NAME"]) == ("metadata.namespace", "metadata.name")
    roles = [doc for doc in find(documents, "Role") if doc["metadata"]["name"].endswith("-leader-election")]
    assert [rule["resources"] for rule in roles[0]["rules"]] == [["leases"]]
    assert roles[0]["metadata"]["namespace"] == OPERATOR_NAMESPACE


def test_without_leader_election_one_replica_and_recreate() -> None:
    documents = render_chart({})
    assert one(documents, "Deployment")["spec"]["strategy"]["type"] == "Recreate"
    assert not any("--leader-elect" in arg for arg in _container(documents)["args"])
    assert not [doc for doc in find(documents, "Role") if "leader" in doc["metadata"]["name"]]


def test_a_shard_serves_the_turbine_stacks_its_selector_matches() -> None:
    args = _container(render_chart({"shardSelector": "turbine.dev/shard in (a, b)"}))["args"]
    assert "--shard-selector=turbine.dev/shard in (a, b)" in args


# --- Values the schema refuses ------------------------------------------------------------------------------

REFUSED = [
    pytest.param({"replicas": 2}, "/replicas", id="two-active-replicas"),
    pytest.param({"replicas": 2, "leaderElection": {"enabled": False}}, "/replicas", id="two-without-lease"),
    pytest.param({"replicas": 11, "leaderElection": {"enabled": True}}, "/replicas", id="too-many"),
    pytest.param({"leaderElection": {"enabled": "yes"}}, "/leaderElection/enabled", id="enabled-as-string"),
    pytest.param({"replicas": "1"}, "/replicas", id="replicas-as-string"),
    pytest.param({"replica": 1}, "replica", id="misspelt-key"),
    pytest.param({"watchNamespaces": ["Data_Team"]}, "/watchNamespaces/0", id="invalid-namespace"),
    pytest.param({"watchNamespaces": "data"}, "/watchNamespaces", id="namespaces-as-string"),
    pytest.param({"region": "Ireland"}, "/region", id="not-a-region"),
    pytest.param(
        {"aws": {"irsa": {"roleArn": "turbine-operator"}}}, "/aws/irsa/roleArn", id="role-name-not-arn"
    ),
    pytest.param({"image": {"tag": 1.0}}, "/image/tag", id="tag-as-number"),
    pytest.param({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy", id="pull-policy"),
    pytest.param({"metrics": {"port": 8080}}, "/metrics/port", id="metrics-on-the-liveness-port"),
    pytest.param(
        {"metrics": {"serviceMonitor": {"interval": "30"}}}, "/metrics/serviceMonitor/interval", id="interval"
    ),
    pytest.param(
        {"terminationGracePeriodSeconds": 5}, "/terminationGracePeriodSeconds", id="grace-too-short"
    ),
    pytest.param({"extraArgs": ["-A"]}, "/extraArgs/0", id="short-flag"),
]


@pytest.mark.parametrize(("values", "field"), REFUSED)
def test_schema_refuses_bad_values_naming_the_field(values: dict[str, Any], field: str) -> None:
    done = helm("template", "turbine-operator", str(CHART), "--values", "-", stdin=json.dumps(values))
    assert done.returncode != 0, f"accepted {values}"
    assert "values don't meet the specifications of the schema" in done.stderr, done.stderr
    assert field in done.stderr, done.stderr


# --- Against the real API server ----------------------------------------------------------------------------


def _ensure_namespace(kube: KubeApi, name: str) -> None:
    try:
        kube.create_namespace(name)
    except ApiException as error:
        if error.status != 409:
            raise


def _server_dry_run(control_plane: ControlPlane, documents: list[Document]) -> list[str]:
    """`kubectl apply --dry-run=server` of the rendered objects; returns the `kind/name` lines it accepted."""
    stream = yaml.safe_dump_all(documents, sort_keys=False)
    output = kubectl(
        "apply", "--dry-run=server", "-f", "-", kubeconfig=control_plane.kubeconfig, stdin=stream
    )
    accepted = re.findall(r"^(\S+) \w+ \(server dry run\)$", output, re.MULTILINE)
    assert len(accepted) == len(documents), output
    return accepted


@pytest.mark.integration
@pytest.mark.parametrize(
    ("variant", "values"),
    [
        ("default", {}),
        ("namespaced", {"watchNamespaces": ["airflow", "analytics"]}),
        ("monitoring", MONITORING),
        (
            "irsa-and-keys",
            {"aws": {"irsa": {"roleArn": "arn:aws:iam::111122223333:role/t"}, "credentialsSecret": "k"}},
        ),
        ("stopped", {"replicas": 0}),
        (
            "hot-standby",
            {"replicas": 2, "leaderElection": {"enabled": True}, "shardSelector": "turbine.dev/shard=a"},
        ),
    ],
)
def test_variant_passes_a_server_side_dry_run(
    control_plane: ControlPlane, kube: KubeApi, variant: str, values: dict[str, Any]
) -> None:
    for name in (OPERATOR_NAMESPACE, "airflow", "analytics"):
        _ensure_namespace(kube, name)
    if variant == "monitoring":
        install_monitoring_crds(kube)
    documents = render_chart(values)
    accepted = _server_dry_run(control_plane, documents)
    assert "deployment.apps/turbine-operator" in accepted
    assert "customresourcedefinition.apiextensions.k8s.io/turbinestacks.turbine.dev" in accepted
    if variant == "monitoring":
        assert {
            "servicemonitor.monitoring.coreos.com/turbine-operator",
            "prometheusrule.monitoring.coreos.com/turbine-operator",
            "configmap/turbine-operator-dashboard",
        } <= set(accepted)


@pytest.mark.integration
def test_two_shards_pass_a_server_side_dry_run_together(control_plane: ControlPlane, kube: KubeApi) -> None:
    for name in (OPERATOR_NAMESPACE, *(ns for namespaces in SHARDS.values() for ns in namespaces)):
        _ensure_namespace(kube, name)
    documents: list[Document] = []
    for release, namespaces in SHARDS.items():
        # One release owns the CRD; the others leave it alone.
        documents += render_chart(
            {"watchNamespaces": namespaces, "crds": {"install": release == "shard-a"}}, release=release
        )
    accepted = _server_dry_run(control_plane, documents)
    assert {"deployment.apps/shard-a-turbine-operator", "deployment.apps/shard-b-turbine-operator"} <= set(
        accepted
    )
