"""The local control plane is a real API server: schemas, CEL and RBAC are enforced by it."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi

pytestmark = pytest.mark.integration


def _stack(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "turbine.dev/v1alpha1",
        "kind": "TurbineStack",
        "metadata": {"name": name},
        "spec": {"templateBucket": {"name": "turbine-templates"}, **spec},
    }


@pytest.fixture(scope="module", autouse=True)
def _crd(kube: KubeApi) -> None:
    kube.install_crd()


def test_server_rejects_a_schema_violation_naming_the_field(kube: KubeApi, namespace: str) -> None:
    with pytest.raises(ApiException) as rejected:
        kube.create_stack(namespace, _stack("bad-port", webserver={"port": 70000}))
    assert rejected.value.status == 422
    assert "spec.webserver.port" in str(rejected.value.body)


def test_server_applies_schema_defaults(kube: KubeApi, namespace: str) -> None:
    created = kube.create_stack(namespace, _stack("defaults"))
    assert created["spec"]["workers"]["maxSize"] == 10
    assert created["spec"]["deletionPolicy"] == "Retain"


def test_unprivileged_user_is_denied_by_rbac(control_plane: ControlPlane, namespace: str) -> None:
    nobody = KubeApi(control_plane.user_kubeconfig("nobody"))
    with pytest.raises(ApiException) as denied:
        nobody.core.list_namespaced_config_map(namespace)
    assert denied.value.status == 403


def test_service_account_kubeconfig_carries_exactly_its_rbac(
    control_plane: ControlPlane, kube: KubeApi, namespace: str
) -> None:
    kube.core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    kube.rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "configmap-reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
        },
    )
    kube.rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "configmap-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
        },
    )
    token = control_plane.request_token(namespace, "reader")
    reader = KubeApi(control_plane.service_account_kubeconfig(namespace, "reader", token))
    reader.core.list_namespaced_config_map(namespace)
    with pytest.raises(ApiException) as denied:
        reader.core.list_namespaced_secret(namespace)
    assert denied.value.status == 403


def test_kubectl_reads_the_kubeconfig(control_plane: ControlPlane) -> None:
    kubectl = subprocess.run(
        ["kubectl", "--kubeconfig", str(control_plane.kubeconfig), "version", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"gitVersion": "v1.36' in kubectl.stdout


def test_stdlib_operator_module_is_not_shadowed() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", "import operator; operator.itemgetter; import turbine_operator"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
