"""The operator runs with nothing but the RBAC it is installed with, from manifests/ (kustomize) and from
charts/turbine-operator (helm template): a token of the ServiceAccount, the real RBAC-enabled API server, the
embedded AWS, and a full create, update and delete with zero refused requests.

A refused request shows three ways: kopf logs it as an error (running_operator fails on logged errors), the
wrapped response check sees its 403, and the kopf log handler sees kopf's message about it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from kopf._cogs.clients import api as kopf_api
from kubernetes import config

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.controlplane import ControlPlane, local_control_plane
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import turbine_stack
from turbine_operator.adapters.kube.leases import Leases
from turbine_operator.core.naming import default_stack_name
from turbine_operator.operations.fleet.leadership import LeaderElector

from .support import (
    MANIFESTS,
    OPERATOR_NAMESPACE,
    Document,
    apply,
    calls_since,
    delete,
    disallowed,
    find,
    isolated_rbac,
    load_policy,
    recorded_aws_calls,
    recording_refusals,
    render,
    render_chart,
    static_aws_calls,
)


class _ShortSleeps:
    """asyncio, as kopf's API client sees it, with retry backoffs capped at 50 ms."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay: float, *args: Any) -> Any:
        return await asyncio.sleep(min(delay, 0.05), *args)


pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("small_templates")]

STACK = "airflow"

# The cluster-wide install's objects, by how they are rendered.
CLUSTER_WIDE: dict[str, Callable[[], list[Document]]] = {
    "kustomize": lambda: render(MANIFESTS),
    "helm-chart": render_chart,
}
# The namespace-scoped install serving one given namespace.
NAMESPACED: dict[str, Callable[[str], list[Document]]] = {
    "kustomize": lambda _: render(MANIFESTS / "namespaced"),
    "helm-chart": lambda namespace: render_chart({"watchNamespaces": [namespace]}),
}


EXTRA_TEMPLATE = """\
Parameters:
  Owner: {Type: String}
  Token: {Type: String, NoEcho: true}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      Tags: [{Key: owner, Value: !Ref Owner}]
"""
# Read from a ConfigMap and a Secret, so the run exercises reading and watching both.
ADDITIONS = {
    "additionalTemplates": [
        {
            "name": "Extra",
            "template": {"configMapKeyRef": {"name": "extras", "key": "extra.yaml"}},
            "parameters": {"Owner": "data"},
            "parametersFrom": [{"name": "Token", "secretKeyRef": {"name": "extras", "key": "token"}}],
        }
    ]
}


def published_outputs(kube: KubeApi, namespace: str) -> dict[str, str] | None:
    """The outputs ConfigMap's data; fails at once if the operator reports that it could not write it."""
    condition = kube.condition(namespace, STACK, "OutputsPublished") or {}
    assert condition.get("reason") != "ConfigMapNotWritten", condition.get("message")
    try:
        found = kube.core.read_namespaced_config_map(f"{STACK}-outputs", namespace)
    except kubernetes.client.exceptions.ApiException as error:
        if error.status == 404:
            return None
        raise
    return dict(found.data or {})


def exercise_lifecycle(kube: KubeApi, namespace: str, bucket: str, aws: EmbeddedAws) -> None:
    """Create (with termination protection, a template from a ConfigMap and a Secret, and the outputs
    published in a ConfigMap), change the ConfigMap, update (workers and protection: the outputs ConfigMap
    follows), stop publishing the outputs (their ConfigMap is deleted), delete (stack deleted too)."""
    kube.put_config_map(namespace, "extras", {"extra.yaml": EXTRA_TEMPLATE})
    kube.put_secret(namespace, "extras", {"token": "not-in-git"})
    manifest = turbine_stack(
        STACK,
        bucket,
        workers={"maxSize": 4},
        deletionPolicy="Delete",
        terminationProtection=True,
        outputsConfigMap={},
        **ADDITIONS,
    )
    kube.create_stack(namespace, manifest)
    body = kube.wait_condition(namespace, STACK, "Ready", timeout=60)
    assert body["status"]["stackStatus"] == "CREATE_COMPLETE"
    assert body["status"]["outputs"]["MaxWorkers"] == "4"

    applied = body["status"]["lastAppliedHash"]
    kube.put_config_map(
        namespace, "extras", {"extra.yaml": EXTRA_TEMPLATE.replace("SQS::Queue", "SNS::Topic")}
    )
    wait_for(
        lambda: (
            (status := (kube.get_stack(namespace, STACK) or {}).get("status", {}))
            and status.get("lastAppliedHash") not in (None, applied)
            and status.get("stackStatus") == "UPDATE_COMPLETE"
        ),
        60,
        "the ConfigMap change to be applied",
    )

    kube.patch_stack(namespace, STACK, {"spec": {"workers": {"maxSize": 6}, "terminationProtection": False}})
    wait_for(
        lambda: (
            (b := kube.get_stack(namespace, STACK))
            and b["status"].get("observedGeneration") == b["metadata"]["generation"]
            and b["status"].get("outputs", {}).get("MaxWorkers") == "6"
            and (kube.condition(namespace, STACK, "Ready") or {}).get("status") == "True"
        ),
        60,
        "the update to be applied",
    )
    wait_for(
        lambda: (published_outputs(kube, namespace) or {}).get("MaxWorkers") == "6",
        30,
        "the outputs ConfigMap to follow the update",
    )
    stack_name = default_stack_name(namespace, STACK)
    described = aws.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    assert described["EnableTerminationProtection"] is False

    kube.patch_stack(namespace, STACK, {"spec": {"outputsConfigMap": None}})
    wait_for(lambda: published_outputs(kube, namespace) is None, 30, "the outputs ConfigMap to be deleted")

    reasons = {event.reason for event in kube.events_for(namespace, STACK)}
    assert {"ChangeSetCreated", "ChangeSetExecuted"} <= reasons, "the operator posts Events"

    kube.delete_stack(namespace, STACK)
    wait_for(lambda: kube.get_stack(namespace, STACK) is None, 60, "the TurbineStack to be deleted")
    gone = aws.client("cloudformation").describe_stacks(StackName=described["StackId"])["Stacks"][0]
    assert gone["StackStatus"] == "DELETE_COMPLETE"


def operator_namespace(documents: list[Document]) -> list[Document]:
    """The install's Namespace; the chart has none (`helm install --create-namespace` makes it)."""
    bare = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": OPERATOR_NAMESPACE}}
    return find(documents, "Namespace") or [bare]


def service_account_kubeconfig(plane: ControlPlane, rbac: list[Document]) -> Path:
    (account,) = find(rbac, "ServiceAccount")
    name = account["metadata"]["name"]
    return plane.service_account_kubeconfig(
        OPERATOR_NAMESPACE, name, plane.request_token(OPERATOR_NAMESPACE, name)
    )


def run_with_rbac(
    plane: ControlPlane,
    kube: KubeApi,
    rbac: list[Document],
    namespaces: list[str],
    serve: str,
    bucket: str,
    aws: EmbeddedAws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Applies the ServiceAccount and RBAC objects, runs the operator as that ServiceAccount, checks the
    lifecycle, that nothing was refused and that every AWS call is allowed by docs/iam-policy.json."""
    apply(rbac, plane.kubeconfig)
    try:
        monkeypatch.setenv("KUBECONFIG", str(service_account_kubeconfig(plane, rbac)))
        before = recorded_aws_calls()
        with recording_refusals(monkeypatch) as (refused, log), running_operator(namespaces):
            exercise_lifecycle(kube, serve, bucket, aws)
        assert refused == [], "the API server refused requests:\n" + "\n".join(refused)
        assert log.messages == [], "kopf reported refused requests:\n" + "\n".join(log.messages)
        calls = calls_since(before)
        assert {("cloudformation", "CreateChangeSet"), ("cloudformation", "DeleteStack")} <= calls
        assert disallowed(load_policy(), calls) == []
        assert sorted(calls - static_aws_calls()) == [], "the static scan of the adapters missed calls"
    finally:
        delete([doc for doc in rbac if doc["kind"] != "ServiceAccount"], plane.kubeconfig)


@pytest.fixture
def private_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane of its own: a cluster-wide operator would otherwise also serve the TurbineStacks other
    tests left on the shared one."""
    with local_control_plane(tmp_path_factory.mktemp("private-control-plane")) as plane:
        yield plane


@pytest.mark.parametrize("install", sorted(CLUSTER_WIDE))
def test_cluster_wide_operator_needs_nothing_beyond_the_base_cluster_role(
    private_plane: ControlPlane,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    monkeypatch: pytest.MonkeyPatch,
    install: str,
) -> None:
    """The Deployment's mode: `--all-namespaces`; the ServiceAccount, ClusterRole, ClusterRoleBinding."""
    base = CLUSTER_WIDE[install]()
    kube = KubeApi(private_plane.kubeconfig)
    apply(operator_namespace(base) + find(base, "CustomResourceDefinition"), private_plane.kubeconfig)
    kube.install_crd()  # waits until Established
    serve = f"data-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(serve)
    rbac = [doc for doc in base if doc["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")]
    # running_operator([]) starts kopf with neither --namespace nor --all-namespaces: kopf then serves the
    # whole cluster (with a FutureWarning), exactly as --all-namespaces does.
    run_with_rbac(private_plane, kube, rbac, [], serve, template_bucket, aws_environment, monkeypatch)


@pytest.mark.usefixtures("crd_installed")
@pytest.mark.parametrize("install", sorted(NAMESPACED))
def test_namespaced_variant_needs_nothing_beyond_its_role(
    control_plane: ControlPlane,
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    monkeypatch: pytest.MonkeyPatch,
    install: str,
) -> None:
    """manifests/namespaced/ or the chart's watchNamespaces: `--namespace` and a Role in the served namespace,
    nothing cluster-scoped."""
    variant = NAMESPACED[install](namespace)
    assert not [doc for doc in variant if doc["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    apply(operator_namespace(variant), control_plane.kubeconfig)
    rbac = isolated_rbac(variant, uuid.uuid4().hex[:6], namespace=namespace)
    run_with_rbac(
        control_plane, kube, rbac, [namespace], namespace, template_bucket, aws_environment, monkeypatch
    )


@pytest.mark.usefixtures("crd_installed")
def test_base_cluster_role_with_a_namespace_flag(
    control_plane: ControlPlane,
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The base RBAC, but the operator started with `--namespace` (as the other integration tests run it)."""
    # Should a refusal come back, kopf would retry it for 54 s (backoffs 1, 1, 2, ... 21 s); capping those
    # waits makes such a failure quick to report without changing what is requested.
    monkeypatch.setattr(kopf_api, "asyncio", _ShortSleeps())
    base = render(MANIFESTS)
    apply(find(base, "Namespace"), control_plane.kubeconfig)
    rbac = isolated_rbac(
        [doc for doc in base if doc["kind"] in ("ServiceAccount", "ClusterRole", "ClusterRoleBinding")],
        uuid.uuid4().hex[:6],
    )
    try:
        run_with_rbac(
            control_plane, kube, rbac, [namespace], namespace, template_bucket, aws_environment, monkeypatch
        )
    except AssertionError as error:
        if "/api/v1/namespaces" not in str(error):
            pytest.fail(f"refused for another reason than listing namespaces: {error}")
        raise


def test_leader_election_needs_nothing_beyond_its_role(control_plane: ControlPlane, kube: KubeApi) -> None:
    """The chart's hot standby: the ServiceAccount with only the leader-election Role takes, renews and
    releases the Lease in the release namespace (a refusal would raise a ClusterError)."""
    documents = render_chart({"replicas": 2, "leaderElection": {"enabled": True}})
    apply(operator_namespace(documents), control_plane.kubeconfig)
    chosen = [
        doc
        for doc in documents
        if doc["kind"] == "ServiceAccount"
        or (doc["kind"] in ("Role", "RoleBinding") and doc["metadata"]["name"].endswith("-leader-election"))
    ]
    rbac = isolated_rbac(chosen, uuid.uuid4().hex[:6])
    apply(rbac, control_plane.kubeconfig)
    try:
        client = config.new_client_from_config(  # type: ignore[no-untyped-call,unused-ignore]  # typed from kubernetes 36
            config_file=str(service_account_kubeconfig(control_plane, rbac))
        )
        lease_name = f"turbine-operator-{uuid.uuid4().hex[:6]}"
        elector = LeaderElector(Leases(client, OPERATOR_NAMESPACE, lease_name), "replica-a")
        assert elector.try_acquire(None) is None
        assert elector.renew()
        elector.release()
        lease = kubernetes.client.CoordinationV1Api(kube.api_client).read_namespaced_lease(
            lease_name, OPERATOR_NAMESPACE
        )
        assert lease.spec is None or lease.spec.holder_identity in (None, "")
    finally:
        delete([doc for doc in rbac if doc["kind"] != "ServiceAccount"], control_plane.kubeconfig)
