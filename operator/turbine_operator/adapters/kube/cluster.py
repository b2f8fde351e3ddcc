"""The Kubernetes adapter: reads referenced ConfigMaps and Secrets, asks for reconciles, and writes the
ConfigMaps that publish stack outputs.

kopf owns the watches and the TurbineStack writes of its handlers; this synchronous client covers
what kopf does not offer: reading other objects on demand and nudging a TurbineStack from a
handler of another resource.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from turbine_operator.core.errors import ClusterError
from turbine_operator.core.naming import API_GROUP, API_VERSION, PLURAL
from turbine_operator.core.render.references import SourceKind, StoredObject
from turbine_operator.core.report.outputs_config_map import ConfigMapSeen

# Not below turbine.dev/: kopf keeps its own state there and leaves those annotations out of what
# it compares, so a change to one would never reach the update handler.
RECONCILE_REQUEST = "references.turbine.dev/changed"
_TIMEOUT = 30


def api_client() -> kubernetes.client.ApiClient:
    """In-cluster credentials when running in a pod, the kubeconfig otherwise (read now, not at import)."""
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call,unused-ignore]  # typed from kubernetes 36
    except ConfigException:
        # The library's default path was read from KUBECONFIG when it was imported; read it now.
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call,unused-ignore]  # typed from kubernetes 36
            config_file=os.environ.get("KUBECONFIG") or None, client_configuration=configuration
        )
    return kubernetes.client.ApiClient(configuration)


class ClusterObjects:
    def __init__(self, client: kubernetes.client.ApiClient) -> None:
        # The generated client is typed loosely (models come back as BaseModel).
        self._core: Any = kubernetes.client.CoreV1Api(client)
        self._custom: Any = kubernetes.client.CustomObjectsApi(client)

    def read(self, kind: SourceKind, namespace: str, name: str) -> StoredObject | None:
        """A ConfigMap or Secret, or None if it does not exist."""
        read = {
            SourceKind.CONFIG_MAP: self._core.read_namespaced_config_map,
            SourceKind.SECRET: self._core.read_namespaced_secret,
        }[kind]
        raw = _read_or_none(
            f"reading {kind.value} {namespace}/{name}",
            lambda: read(name, namespace, _request_timeout=_TIMEOUT).to_dict(),
        )
        return None if raw is None else _stored(kind, raw)

    def turbine_stack_uid(self, namespace: str, name: str) -> str | None:
        """The uid of a TurbineStack, or None if it does not exist (to tell a live owner from a gone one)."""
        raw = _read_or_none(
            f"reading TurbineStack {namespace}/{name}",
            lambda: self._custom.get_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, PLURAL, name, _request_timeout=_TIMEOUT
            ),
        )
        return None if raw is None else str((raw.get("metadata") or {}).get("uid") or "") or None

    def request_reconcile(self, namespace: str, name: str, cause: str) -> None:
        """Changes an annotation of the TurbineStack, which kopf sees as an update."""
        patch = {"metadata": {"annotations": {RECONCILE_REQUEST: cause}}}
        try:
            self._custom.patch_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, PLURAL, name, patch, _request_timeout=_TIMEOUT
            )
        except ApiException as error:
            if error.status == 404:
                return
            raise cluster_error(f"requesting a reconcile of {namespace}/{name}", error) from None

    def labelled_config_maps(self, namespace: str, labels: Mapping[str, str]) -> list[ConfigMapSeen]:
        """The ConfigMaps of the namespace with all these labels (the API server filters them)."""
        selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
        found = _read_or_none(
            f"listing ConfigMaps {selector} in {namespace}",
            lambda: self._core.list_namespaced_config_map(
                namespace, label_selector=selector, _request_timeout=_TIMEOUT
            ),
        )
        return [_seen(item.to_dict()) for item in (found.items if found else None) or []]

    def config_map(self, namespace: str, name: str) -> ConfigMapSeen | None:
        raw = _read_or_none(
            f"reading ConfigMap {namespace}/{name}",
            lambda: self._core.read_namespaced_config_map(
                name, namespace, _request_timeout=_TIMEOUT
            ).to_dict(),
        )
        return None if raw is None else _seen(raw)

    def create_config_map(self, namespace: str, body: Mapping[str, Any]) -> None:
        """Creates it; a transient ClusterError if one of that name was created meanwhile (the next look
        tells whose it is)."""
        name = body["metadata"]["name"]
        _write(
            f"creating ConfigMap {namespace}/{name}",
            lambda: self._core.create_namespaced_config_map(namespace, dict(body), _request_timeout=_TIMEOUT),
            transient=(409,),
        )

    def patch_config_map(self, namespace: str, name: str, patch: Mapping[str, Any]) -> None:
        """A strategic merge patch, which for labels and data is a JSON merge patch: null removes a key."""
        _write(
            f"patching ConfigMap {namespace}/{name}",
            lambda: self._core.patch_namespaced_config_map(
                name, namespace, dict(patch), _request_timeout=_TIMEOUT
            ),
        )

    def delete_config_map(self, namespace: str, name: str, uid: str) -> None:
        """Deletes that very ConfigMap: one created again under its name meanwhile (another uid) stays."""
        _write(
            f"deleting ConfigMap {namespace}/{name}",
            lambda: self._core.delete_namespaced_config_map(
                name, namespace, body={"preconditions": {"uid": uid}}, _request_timeout=_TIMEOUT
            ),
            ignored=(404, 409),  # gone already, or no longer that object
        )


def _write(
    action: str, write: Callable[[], Any], *, ignored: tuple[int, ...] = (), transient: tuple[int, ...] = ()
) -> None:
    """One write: statuses in `ignored` are success, those in `transient` worth a later retry."""
    try:
        write()
    except ApiException as error:
        if error.status in ignored:
            return
        if error.status in transient:
            raise ClusterError(
                f"{action}: HTTP {error.status} {error.reason or ''}".rstrip(), transient=True
            ) from None
        raise cluster_error(action, error) from None
    except HTTPError as error:
        raise ClusterError(f"{action}: {type(error).__name__}", transient=True) from None


def _seen(raw: Mapping[str, Any]) -> ConfigMapSeen:
    metadata = raw.get("metadata") or {}
    return ConfigMapSeen(
        name=str(metadata.get("name") or ""),
        uid=str(metadata.get("uid") or ""),
        owner_uids=frozenset(str(ref.get("uid")) for ref in metadata.get("owner_references") or []),
        labels=dict(metadata.get("labels") or {}),
        data={str(key): str(value) for key, value in (raw.get("data") or {}).items()},
    )


def _read_or_none(action: str, read: Callable[[], Any]) -> Any:
    """One object read: None if it does not exist, a ClusterError (transient or not) if the read failed."""
    try:
        return read()
    except ApiException as error:
        if error.status == 404:
            return None
        raise cluster_error(action, error) from None
    except HTTPError as error:
        raise ClusterError(f"{action}: {type(error).__name__}", transient=True) from None


def _stored(kind: SourceKind, raw: Mapping[str, Any]) -> StoredObject:
    metadata = raw.get("metadata") or {}
    data: dict[str, bytes] = {}
    if kind is SourceKind.SECRET:
        data.update({key: _decoded(value) for key, value in (raw.get("data") or {}).items()})
    else:
        data.update({key: _decoded(value) for key, value in (raw.get("binary_data") or {}).items()})
        data.update({key: str(value).encode() for key, value in (raw.get("data") or {}).items()})
    return StoredObject(
        uid=str(metadata.get("uid") or ""),
        resource_version=str(metadata.get("resource_version") or ""),
        data=data,
    )


def _decoded(value: object) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except binascii.Error:
        return b""


def cluster_error(action: str, error: ApiException) -> ClusterError:
    status = int(error.status or 0)
    # Only the status and reason: an API error body may echo the object it refused.
    transient = status in {0, 408, 429} or status >= 500
    return ClusterError(f"{action}: HTTP {status} {error.reason or ''}".rstrip(), transient=transient)
