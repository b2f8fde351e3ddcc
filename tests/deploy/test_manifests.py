"""manifests/: what the kustomizations render, and that the real API server accepts them (server dry run)."""

from __future__ import annotations

import re
from pathlib import Path

import kopf
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi
from turbine_operator.handlers.lifecycle import IN_FLIGHT_TICK_GRACE_SECONDS, configure_kopf

from .monitoring_crds import install_monitoring_crds
from .support import MANIFESTS, OPERATOR_NAMESPACE, REPO_ROOT, Document, find, kubectl, one, render

CRD_FILE = REPO_ROOT / "crds" / "turbinestacks.turbine.dev.yaml"
STACK_METRICS = {"turbine_stack_ready", "turbine_stack_stalled", "turbine_stack_drifted"}
WORKER_METRICS = {"turbine_workers_desired", "turbine_workers_max"}
OPERATOR_METRICS = {
    "turbine_reconciles_total",
    "turbine_reconcile_duration_seconds",
    "turbine_aws_requests_total",
    "turbine_aws_throttled_requests_total",
}


@pytest.fixture(scope="module")
def base() -> list[Document]:
    return render(MANIFESTS)


def operator_container(documents: list[Document]) -> Document:
    deployment = one(documents, "Deployment", "turbine-operator")
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: Document = containers[0]
    return container


def test_base_holds_the_operator_and_references_the_crd_without_copying_it(base: list[Document]) -> None:
    kinds = sorted((doc["kind"], doc["metadata"]["name"]) for doc in base)
    assert kinds == [
        ("ClusterRole", "turbine-operator"),
        ("ClusterRoleBinding", "turbine-operator"),
        ("CustomResourceDefinition", "turbinestacks.turbine.dev"),
        ("Deployment", "turbine-operator"),
        ("Namespace", "turbine-system"),
        ("Service", "turbine-operator-metrics"),
        ("ServiceAccount", "turbine-operator"),
    ]
    for doc in base:
        if doc["kind"] in ("Deployment", "Service", "ServiceAccount"):
            assert doc["metadata"]["namespace"] == OPERATOR_NAMESPACE
    crd = one(base, "CustomResourceDefinition")
    assert crd["spec"] == yaml.safe_load(CRD_FILE.read_text())["spec"]
    copies = [path for path in MANIFESTS.rglob("*.yaml") if "CustomResourceDefinition" in path.read_text()]
    assert copies == [], "manifests/ must reference crds/, not copy the CRD"


def test_deployment_runs_one_locked_down_replica(base: list[Document]) -> None:
    deployment = one(base, "Deployment", "turbine-operator")
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["serviceAccountName"] == "turbine-operator"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = operator_container(base)
    assert container["args"] == ["--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz"]
    assert "command" not in container, "the image's entrypoint is `turbine-operator run`"
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounts == {"tmp": "/tmp"}
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"metrics": 9090, "healthz": 8080}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "healthz"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert set(container["resources"]["requests"]) == {"cpu", "memory"}
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert env["TURBINE_REGION"]
    assert container["image"].startswith("ghcr.io/turbine-dev/turbine-operator:")


def test_shutdown_lets_an_in_flight_tick_finish_within_the_grace_period(base: list[Document]) -> None:
    settings = kopf.OperatorSettings()
    configure_kopf(settings)
    assert settings.background.instant_exit_timeout == IN_FLIGHT_TICK_GRACE_SECONDS
    pod = one(base, "Deployment", "turbine-operator")["spec"]["template"]["spec"]
    # The rest of shutdown (watch streams, the metrics server) needs a little time after the wait.
    assert pod["terminationGracePeriodSeconds"] >= IN_FLIGHT_TICK_GRACE_SECONDS + 10


def test_metrics_service_selects_the_operator(base: list[Document]) -> None:
    service = one(base, "Service", "turbine-operator-metrics")
    assert service["spec"]["ports"] == [
        {"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}
    ]
    pod_labels = one(base, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()


def test_namespaced_variant_serves_named_namespaces() -> None:
    documents = render(MANIFESTS / "namespaced")
    assert operator_container(documents)["args"] == [
        "--namespace=airflow",
        "--liveness=http://0.0.0.0:8080/healthz",
    ]
    role = one(documents, "Role", "turbine-operator")
    binding = one(documents, "RoleBinding", "turbine-operator")
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "airflow"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "turbine-operator", "namespace": OPERATOR_NAMESPACE}
    ]


def test_irsa_example_annotates_the_service_account() -> None:
    documents = render(MANIFESTS / "examples" / "irsa")
    account = one(documents, "ServiceAccount", "turbine-operator")
    assert re.fullmatch(
        r"arn:aws:iam::\d{12}:role/[\w+=,.@-]+",
        account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"],
    )
    assert len(documents) == len(render(MANIFESTS)), "the example is the base plus the annotation"


def _container(deployment: Document) -> Document:
    container: Document = deployment["spec"]["template"]["spec"]["containers"][0]
    return container


def test_hot_standby_example_elects_a_leader_on_a_lease() -> None:
    documents = render(MANIFESTS / "examples" / "hot-standby")
    deployment = one(documents, "Deployment", "turbine-operator")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {"type": "RollingUpdate"}
    assert "--leader-elect" in _container(deployment)["args"]
    env = {item["name"] for item in _container(deployment)["env"]}
    assert {"POD_NAME", "POD_NAMESPACE"} <= env
    role = one(documents, "Role", "turbine-operator-leader-election")
    assert role["metadata"]["namespace"] == OPERATOR_NAMESPACE
    assert role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "create", "update"]}
    ]


def test_shards_example_serves_disjoint_label_selections() -> None:
    documents = render(MANIFESTS / "examples" / "shards")
    deployments = find(documents, "Deployment")
    selectors = sorted(
        arg.removeprefix("--shard-selector=")
        for deployment in deployments
        for arg in _container(deployment)["args"]
        if arg.startswith("--shard-selector=")
    )
    assert selectors == ["!turbine.dev/shard", "turbine.dev/shard=a", "turbine.dev/shard=b"]
    images = {_container(deployment)["image"] for deployment in deployments}
    assert len(images) == 1
    # Each Deployment owns its own pods.
    instances = {d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"] for d in deployments}
    assert len(instances) == len(deployments) == 3


def _expressions(rule: Document) -> list[str]:
    return [item["expr"] for group in rule["spec"]["groups"] for item in group["rules"]]


def test_monitoring_components_render_a_service_monitor_and_the_alerts() -> None:
    documents = render(MANIFESTS / "examples" / "monitoring")
    monitor = one(documents, "ServiceMonitor", "turbine-operator")
    service = one(documents, "Service", "turbine-operator-metrics")
    assert monitor["metadata"]["namespace"] == OPERATOR_NAMESPACE
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "metrics"
    assert endpoint["honorLabels"] is True, "the per-stack namespace label must not become exported_namespace"

    rule = one(documents, "PrometheusRule", "turbine-operator")
    alerts = {item["alert"]: item for group in rule["spec"]["groups"] for item in group["rules"]}
    assert {
        "TurbineStackNotReady",
        "TurbineStackStalled",
        "TurbineStackDrifted",
        "TurbineStackWorkersAtMax",
    } <= set(alerts)
    for alert in alerts.values():
        assert set(alert) == {"alert", "expr", "for", "labels", "annotations"}
        assert alert["labels"]["severity"] in {"info", "warning", "critical"}
        assert {"summary", "description"} <= set(alert["annotations"])
        assert re.fullmatch(r"\d+[smh]", alert["for"])
    used = {name for expr in _expressions(rule) for name in re.findall(r"\bturbine_\w+", expr)}
    assert used <= STACK_METRICS | WORKER_METRICS | OPERATOR_METRICS, used
    assert "turbine_stack_ready" in alerts["TurbineStackNotReady"]["expr"]
    assert "turbine_stack_stalled" in alerts["TurbineStackStalled"]["expr"]
    assert "turbine_stack_drifted" in alerts["TurbineStackDrifted"]["expr"]
    assert set(re.findall(r"\bturbine_\w+", alerts["TurbineStackWorkersAtMax"]["expr"])) >= WORKER_METRICS
    for expr in _expressions(rule):
        assert expr.count("(") == expr.count(")"), expr

    # Without the components the base has no monitoring.coreos.com objects (it must apply without their CRDs).
    assert not [doc for doc in render(MANIFESTS) if doc["apiVersion"].startswith("monitoring.coreos.com")]


def test_flux_examples_wait_for_turbine_stacks() -> None:
    documents = [doc for doc in yaml.safe_load_all((MANIFESTS / "flux" / "turbine.yaml").read_text()) if doc]
    kustomizations = find(documents, "Kustomization")
    operator = one(kustomizations, "Kustomization", "turbine-operator")
    assert operator["spec"]["path"] == "./manifests"
    assert operator["spec"]["wait"] is True
    stacks = one(kustomizations, "Kustomization", "airflow-stacks")
    assert stacks["spec"]["wait"] is True
    assert stacks["spec"]["dependsOn"] == [{"name": "turbine-operator"}]
    explicit = one(kustomizations, "Kustomization", "airflow-stacks-explicit")
    assert explicit["spec"]["healthChecks"][0]["kind"] == "TurbineStack"
    for kustomization in kustomizations:
        assert kustomization["apiVersion"] == "kustomize.toolkit.fluxcd.io/v1"
        assert "healthCheckExprs" not in kustomization["spec"], "TurbineStack is kstatus-compliant"


# --- Against the real API server ----------------------------------------------------------------------------


def _ensure_namespace(kube: KubeApi, name: str) -> None:
    try:
        kube.create_namespace(name)
    except ApiException as error:
        if error.status != 409:
            raise


def _dry_run(control_plane: ControlPlane, folder: Path) -> str:
    return kubectl("apply", "--dry-run=server", "-k", str(folder), kubeconfig=control_plane.kubeconfig)


@pytest.mark.integration
def test_base_passes_a_server_side_dry_run(control_plane: ControlPlane, kube: KubeApi) -> None:
    # A dry run creates nothing, so the objects inside turbine-system need the namespace to exist already
    # (kubectl's known limitation for a namespace and its content in one dry run).
    _ensure_namespace(kube, OPERATOR_NAMESPACE)
    output = _dry_run(control_plane, MANIFESTS)
    for line in (
        "namespace/turbine-system",
        "customresourcedefinition.apiextensions.k8s.io/turbinestacks.turbine.dev",
        "serviceaccount/turbine-operator",
        "clusterrole.rbac.authorization.k8s.io/turbine-operator",
        "clusterrolebinding.rbac.authorization.k8s.io/turbine-operator",
        "deployment.apps/turbine-operator",
        "service/turbine-operator-metrics",
    ):
        assert re.search(rf"^{re.escape(line)} \w+ \(server dry run\)$", output, re.MULTILINE), output


@pytest.mark.integration
def test_namespaced_variant_and_irsa_example_pass_a_server_side_dry_run(
    control_plane: ControlPlane, kube: KubeApi
) -> None:
    _ensure_namespace(kube, OPERATOR_NAMESPACE)
    _ensure_namespace(kube, "airflow")
    output = _dry_run(control_plane, MANIFESTS / "namespaced")
    assert "role.rbac.authorization.k8s.io/turbine-operator" in output
    assert "clusterrole.rbac.authorization.k8s.io" not in output
    assert "serviceaccount/turbine-operator" in _dry_run(control_plane, MANIFESTS / "examples" / "irsa")
    standby = _dry_run(control_plane, MANIFESTS / "examples" / "hot-standby")
    assert "role.rbac.authorization.k8s.io/turbine-operator-leader-election" in standby
    assert "deployment.apps/turbine-operator-shard-b" in _dry_run(
        control_plane, MANIFESTS / "examples" / "shards"
    )


@pytest.mark.integration
def test_monitoring_components_pass_a_dry_run_against_stand_in_crds(
    control_plane: ControlPlane, kube: KubeApi
) -> None:
    install_monitoring_crds(kube)
    _ensure_namespace(kube, OPERATOR_NAMESPACE)
    output = _dry_run(control_plane, MANIFESTS / "examples" / "monitoring")
    assert "servicemonitor.monitoring.coreos.com/turbine-operator" in output
    assert "prometheusrule.monitoring.coreos.com/turbine-operator" in output
