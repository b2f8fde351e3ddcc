"""A small Kubernetes client for tests, the demo and benchmarks (the product uses kopf)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

GROUP = "turbine.dev"
VERSION = "v1alpha1"
PLURAL = "turbinestacks"
REPO_ROOT = Path(__file__).resolve().parents[3]
CRD_PATH = REPO_ROOT / "crds" / "turbinestacks.turbine.dev.yaml"

T = TypeVar("T")
REQUEST_LABELS = ("verb", "resource", "subresource")  # of apiserver_request_total


def wait_for(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25) -> T:
    """Polls until `probe` returns something truthy; the last value is in the timeout message."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}; last seen: {last!r}")


class KubeApi:
    """Plain-dict access to the API; the generated clients' typed models would add nothing here."""

    def __init__(self, kubeconfig: Path) -> None:
        self.api_client: Any = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call,unused-ignore]  # typed from kubernetes 36
        self.core: Any = client.CoreV1Api(self.api_client)
        self.custom: Any = client.CustomObjectsApi(self.api_client)
        self.extensions: Any = client.ApiextensionsV1Api(self.api_client)
        self.rbac: Any = client.RbacAuthorizationV1Api(self.api_client)

    def create_namespace(self, name: str) -> None:
        self.core.create_namespace({"metadata": {"name": name}})

    def install_crd(self, path: Path = CRD_PATH, timeout: float = 30) -> None:
        body = yaml.safe_load(path.read_text())
        name = body["metadata"]["name"]
        for _attempt in range(5):
            try:
                existing = self.extensions.read_custom_resource_definition(name)
                body["metadata"]["resourceVersion"] = existing.metadata.resource_version
                self.extensions.replace_custom_resource_definition(name, body)
                break
            except ApiException as error:
                if error.status == 404:
                    self.extensions.create_custom_resource_definition(body)
                    break
                if error.status != 409:
                    raise
                # The API server updated the CRD's status in between; read it again.

        def established() -> bool:
            crd = self.extensions.read_custom_resource_definition(name)
            return any(c.type == "Established" and c.status == "True" for c in crd.status.conditions or [])

        wait_for(established, timeout, f"CRD {name} Established")

    def create_stack(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body
        )
        return result

    def get_stack(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result: dict[str, Any] = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, namespace, PLURAL, name
            )
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return result

    def watch_stacks(self, namespace: str, timeout: float) -> Iterator[dict[str, Any]]:
        """The TurbineStacks of `namespace` as they are now, then each as it changes, for `timeout` s
        (listed again whenever the watch ends early or its resource version expired)."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            listing = self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
            yield from listing.get("items") or []
            stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
                self.custom.list_namespaced_custom_object,
                GROUP,
                VERSION,
                namespace,
                PLURAL,
                resource_version=listing["metadata"]["resourceVersion"],
                timeout_seconds=max(1, int(remaining)),
            )
            try:
                for event in stream:
                    if event["type"] in ("ADDED", "MODIFIED"):
                        yield event["object"]
            except ApiException as error:
                if error.status != 410:  # Gone: the resource version expired; list again
                    raise

    def request_counts(self) -> dict[tuple[str, str, str], float]:
        """The API server's own count of requests so far, by (verb, resource, subresource)."""
        request = self.api_client.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
        reply = self.api_client.call_api(*request)
        reply.read()
        counts: dict[tuple[str, str, str], float] = {}
        for line in reply.data.decode().splitlines():
            if not line.startswith("apiserver_request_total{"):
                continue
            labels_text, value = line.rsplit(" ", 1)
            labels = dict(
                pair.split("=", 1) for pair in labels_text[len("apiserver_request_total{") : -1].split(",")
            )
            verb, resource, subresource = (labels.get(name, "").strip('"') for name in REQUEST_LABELS)
            key = (verb, resource, subresource)
            counts[key] = counts.get(key, 0.0) + float(value)
        return counts

    def server_metric(self, name: str, **labels: str) -> float:
        """The sum of the API server's own metric `name` over the series carrying all of `labels`."""
        request = self.api_client.param_serialize("GET", "/metrics", auth_settings=["BearerToken"])
        reply = self.api_client.call_api(*request)
        reply.read()
        wanted = {f'{key}="{value}"' for key, value in labels.items()}
        total = 0.0
        for line in reply.data.decode().splitlines():
            if not line.startswith(name + "{"):
                continue
            labels_text, value = line.rsplit(" ", 1)
            if wanted <= set(labels_text[len(name) + 1 : -1].split(",")):
                total += float(value)
        return total

    def patch_stack(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, patch
        )
        return result

    def delete_stack(self, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)

    def condition(self, namespace: str, name: str, kind: str) -> dict[str, Any] | None:
        return condition_of(self.get_stack(namespace, name) or {}, kind)

    def wait_condition(
        self, namespace: str, name: str, kind: str, status: str = "True", timeout: float = 120
    ) -> dict[str, Any]:
        """The resource as it was when `kind` had `status` for its current generation."""

        def matches() -> dict[str, Any] | None:
            # One read: a condition and a body from two reads may describe different moments.
            body = self.get_stack(namespace, name) or {}
            condition = condition_of(body, kind)
            current = body.get("status", {}).get("observedGeneration") == body.get("metadata", {}).get(
                "generation"
            )
            if condition and condition.get("status") == status and current:
                return body
            return None

        return wait_for(matches, timeout, f"{namespace}/{name} {kind}={status}")

    def put_config_map(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """Creates the ConfigMap, or replaces its data if it exists."""
        body = {"metadata": {"name": name}, "data": data}
        try:
            self.core.create_namespaced_config_map(namespace, body)
        except ApiException as error:
            if error.status != 409:
                raise
            self.core.patch_namespaced_config_map(name, namespace, {"data": data})

    def put_secret(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """Creates the Secret (from string values), or replaces its data if it exists."""
        try:
            self.core.create_namespaced_secret(namespace, {"metadata": {"name": name}, "stringData": data})
        except ApiException as error:
            if error.status != 409:
                raise
            self.core.patch_namespaced_secret(name, namespace, {"stringData": data})

    def events_for(self, namespace: str, name: str) -> list[Any]:
        events = self.core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
        return list(events.items)


def condition_of(body: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for condition in body.get("status", {}).get("conditions", []):
        if condition.get("type") == kind:
            return dict(condition)
    return None
