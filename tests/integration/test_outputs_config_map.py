"""spec.outputsConfigMap end to end: the real API server, the embedded AWS, and Kubernetes' own garbage
collector for the ConfigMap's deletion with its TurbineStack."""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import turbine_stack
from turbine_operator.adapters.kube.cluster import ClusterObjects

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("crd_installed", "small_templates", "kubeconfig_environment", "aws_environment"),
]


def _config_map(kube: KubeApi, namespace: str, name: str) -> dict[str, Any] | None:
    try:
        found = kube.core.read_namespaced_config_map(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    body: dict[str, Any] = kube.api_client.sanitize_for_serialization(found)
    return body


def _published(kube: KubeApi, namespace: str, stack: str, name: str) -> dict[str, Any]:
    """The ConfigMap once it holds exactly the outputs the TurbineStack's status shows."""
    return wait_for(
        lambda: (
            (config_map := _config_map(kube, namespace, name))
            and (status := (kube.get_stack(namespace, stack) or {}).get("status", {}))
            and status.get("outputs")
            and config_map.get("data") == status["outputs"]
            and config_map
        ),
        30,
        f"ConfigMap {name} to hold the outputs of {stack}",
    )


def _condition(kube: KubeApi, namespace: str, stack: str) -> dict[str, Any] | None:
    return kube.condition(namespace, stack, "OutputsPublished")


def _count_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ConfigMap writes of the in-process operator, as they are requested."""
    writes: list[str] = []
    for method in ("create_config_map", "patch_config_map", "delete_config_map"):
        original = getattr(ClusterObjects, method)

        def counted(
            self: ClusterObjects, *args: Any, _method: str = method, _original: Any = original
        ) -> None:
            writes.append(_method)
            _original(self, *args)

        monkeypatch.setattr(ClusterObjects, method, counted)
    return writes


def test_outputs_are_published_kept_in_sync_moved_and_removed(
    kube: KubeApi, namespace: str, template_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    writes = _count_writes(monkeypatch)
    with running_operator([namespace]):
        manifest = turbine_stack("airflow", template_bucket, workers={"maxSize": 4}, outputsConfigMap={})
        stack = kube.create_stack(namespace, manifest)
        body = kube.wait_condition(namespace, "airflow", "Ready", timeout=60)
        published = _published(kube, namespace, "airflow", "airflow-outputs")
        assert published["data"]["MaxWorkers"] == "4"
        assert published["data"]["WebserverURL"] == "http://webserver.example:8080"
        assert published["metadata"]["labels"] == {
            "turbine.dev/outputs-of": "airflow",
            "app.kubernetes.io/managed-by": "turbine-operator",
        }
        assert published["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "turbine.dev/v1alpha1",
                "kind": "TurbineStack",
                "name": "airflow",
                "uid": stack["metadata"]["uid"],
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        condition = wait_for(lambda: _condition(kube, namespace, "airflow"), 10, "OutputsPublished")
        assert (condition["status"], condition["reason"]) == ("True", "Published")
        assert body["status"]["conditions"][0]["type"] == "Ready"

        # Reconciles with the same outputs write nothing: a change handler run and timer ticks.
        assert writes == ["create_config_map"]
        version = published["metadata"]["resourceVersion"]
        kube.patch_stack(namespace, "airflow", {"metadata": {"labels": {"team": "data"}}})
        time.sleep(3)
        assert writes == ["create_config_map"]
        assert _config_map(kube, namespace, "airflow-outputs")["metadata"]["resourceVersion"] == version  # type: ignore[index]

        # A stack update that changes an output: the ConfigMap follows.
        kube.patch_stack(namespace, "airflow", {"spec": {"workers": {"maxSize": 6}}})
        wait_for(
            lambda: (
                (_config_map(kube, namespace, "airflow-outputs") or {}).get("data", {}).get("MaxWorkers")
                == "6"
            ),
            30,
            "the ConfigMap to follow the update",
        )
        assert _published(kube, namespace, "airflow", "airflow-outputs")["data"]["MaxWorkers"] == "6"

        # Another name: ours under the old one goes.
        kube.patch_stack(namespace, "airflow", {"spec": {"outputsConfigMap": {"name": "airflow-env"}}})
        _published(kube, namespace, "airflow", "airflow-env")
        wait_for(
            lambda: _config_map(kube, namespace, "airflow-outputs") is None, 30, "the old ConfigMap to go"
        )

        kube.patch_stack(namespace, "airflow", {"spec": {"outputsConfigMap": None}})
        wait_for(lambda: _config_map(kube, namespace, "airflow-env") is None, 30, "the ConfigMap to go")
        wait_for(lambda: _condition(kube, namespace, "airflow") is None, 10, "OutputsPublished to go")
        # A spec change passes through Reconciling until the next look (0.5 s after the change handler's).
        kube.wait_condition(namespace, "airflow", "Ready", timeout=30)
    reasons = [event.reason for event in kube.events_for(namespace, "airflow")]
    assert {"OutputsConfigMapCreated", "OutputsConfigMapUpdated", "OutputsConfigMapDeleted"} <= set(reasons)


def test_a_config_map_of_that_name_that_is_not_ours_is_left_alone_and_reported(
    kube: KubeApi, namespace: str, template_bucket: str
) -> None:
    kube.put_config_map(namespace, "airflow-outputs", {"mine": "yes"})
    foreign = _config_map(kube, namespace, "airflow-outputs")
    assert foreign is not None
    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("airflow", template_bucket, outputsConfigMap={}))
        kube.wait_condition(namespace, "airflow", "Ready", timeout=60)
        body = kube.wait_condition(namespace, "airflow", "OutputsPublished", status="False", timeout=10)
        reported = next(c for c in body["status"]["conditions"] if c["type"] == "OutputsPublished")
        assert reported["reason"] == "ConfigMapNotOwned"
        assert "ConfigMap airflow-outputs exists and is not owned by this TurbineStack" in reported["message"]
        warnings = [e for e in kube.events_for(namespace, "airflow") if e.reason == "ConfigMapNotOwned"]
        assert [e.type for e in warnings] == ["Warning"]
        kube.patch_stack(
            namespace, "airflow", {"metadata": {"labels": {"team": "data"}}}
        )  # one more reconcile
        time.sleep(2)
        untouched = _config_map(kube, namespace, "airflow-outputs")
        assert untouched is not None
        assert untouched["metadata"]["resourceVersion"] == foreign["metadata"]["resourceVersion"]
        assert untouched["data"] == {"mine": "yes"}
        assert "ownerReferences" not in untouched["metadata"]
        assert len([e for e in kube.events_for(namespace, "airflow") if e.reason == "ConfigMapNotOwned"]) == 1

        # Once its owner deletes it, the name is free: the next reconcile publishes there.
        kube.core.delete_namespaced_config_map("airflow-outputs", namespace)
        kube.patch_stack(namespace, "airflow", {"metadata": {"labels": {"team": "platform"}}})
        _published(kube, namespace, "airflow", "airflow-outputs")
        kube.wait_condition(namespace, "airflow", "OutputsPublished", timeout=10)


@pytest.mark.parametrize("policy", ["Retain", "Delete"])
def test_deleting_the_turbine_stack_garbage_collects_its_config_map(
    kube: KubeApi, namespace: str, template_bucket: str, collecting_garbage: None, policy: str
) -> None:
    with running_operator([namespace]):
        kube.create_stack(
            namespace, turbine_stack("doomed", template_bucket, deletionPolicy=policy, outputsConfigMap={})
        )
        kube.wait_condition(namespace, "doomed", "Ready", timeout=60)
        _published(kube, namespace, "doomed", "doomed-outputs")
        kube.delete_stack(namespace, "doomed")
        wait_for(lambda: kube.get_stack(namespace, "doomed") is None, 30, "the TurbineStack to go")
    # The operator removed its finalizer and published nothing since; Kubernetes' garbage collector deletes
    # what the TurbineStack owned.
    wait_for(lambda: _config_map(kube, namespace, "doomed-outputs") is None, 60, "garbage collection")
