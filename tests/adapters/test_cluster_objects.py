"""The Kubernetes adapter's pure parts: ConfigMaps and Secrets as StoredObjects, and API errors as
ClusterErrors that say whether to retry and never carry the API's response body."""

from __future__ import annotations

import base64
from typing import Any

import kubernetes
import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ProtocolError

from turbine_operator.adapters.kube.cluster import ClusterObjects, _stored, cluster_error
from turbine_operator.core.errors import ClusterError
from turbine_operator.core.render.references import SourceKind, StoredObject

SECRET_BODY = '{"kind":"Secret","data":{"password":"aHVudGVyMg=="},"message":"hunter2-leaked"}'


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode()


def metadata() -> Any:
    return kubernetes.client.V1ObjectMeta(name="settings", uid="uid-1", resource_version="42")


def api_error(status: int | None, reason: str | None = "Something") -> ApiException:
    error = ApiException(status=status, reason=reason)
    error.body = SECRET_BODY
    return error


def test_a_secret_is_stored_with_its_data_decoded() -> None:
    secret = kubernetes.client.V1Secret(
        metadata=metadata(), data={"token": b64(b"hunter2"), "binary": b64(b"\x00\xff\xfe")}
    )
    assert _stored(SourceKind.SECRET, secret.to_dict()) == StoredObject(
        uid="uid-1", resource_version="42", data={"token": b"hunter2", "binary": b"\x00\xff\xfe"}
    )


def test_a_config_map_keeps_its_data_as_utf8_and_decodes_its_binary_data() -> None:
    config_map = kubernetes.client.V1ConfigMap(
        metadata=metadata(),
        data={"body.yaml": "Description: Grüße\n", "looks-encoded": b64(b"hello")},
        binary_data={"logo.png": b64(b"\x89PNG\r\n\x1a\n")},
    )
    assert _stored(SourceKind.CONFIG_MAP, config_map.to_dict()) == StoredObject(
        uid="uid-1",
        resource_version="42",
        data={
            "body.yaml": "Description: Grüße\n".encode(),
            "looks-encoded": b64(b"hello").encode(),
            "logo.png": b"\x89PNG\r\n\x1a\n",
        },
    )


def test_a_secret_binary_data_field_is_not_read() -> None:
    raw = {"metadata": {"uid": "u", "resource_version": "1"}, "binary_data": {"k": b64(b"v")}}
    assert _stored(SourceKind.SECRET, raw).data == {}


@pytest.mark.parametrize("kind", [SourceKind.CONFIG_MAP, SourceKind.SECRET])
def test_an_empty_object_is_stored_without_keys(kind: SourceKind) -> None:
    assert _stored(kind, {"metadata": None, "data": None, "binary_data": None}) == StoredObject(
        uid="", resource_version="", data={}
    )


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (0, True),
        (None, True),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (422, False),
    ],
)
def test_an_api_error_is_transient_only_when_a_retry_may_succeed(status: int | None, transient: bool) -> None:
    assert cluster_error("reading Secret airflow/tokens", api_error(status)).transient is transient


@pytest.mark.parametrize("status", [0, 403, 404, 429, 500])
def test_an_api_error_message_has_the_action_status_and_reason_but_never_the_body(status: int) -> None:
    error = cluster_error("reading Secret airflow/tokens", api_error(status, "Forbidden"))
    assert str(error) == f"reading Secret airflow/tokens: HTTP {status} Forbidden"
    assert "hunter2" not in str(error)
    assert "aHVudGVyMg" not in str(error)


def test_an_api_error_without_a_reason_has_no_trailing_space() -> None:
    assert (
        str(cluster_error("reading ConfigMap a/b", api_error(500, None))) == "reading ConfigMap a/b: HTTP 500"
    )


# --- ClusterObjects.read over a fake CoreV1Api ------------------------------------------------------


class FakeCore:
    """Answers read_namespaced_config_map/secret with `answer`, or raises it."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.calls: list[tuple[str, str, str]] = []

    def _read(self, kind: str, name: str, namespace: str, **_: object) -> object:
        self.calls.append((kind, namespace, name))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    def read_namespaced_config_map(self, name: str, namespace: str, **options: object) -> object:
        return self._read("ConfigMap", name, namespace, **options)

    def read_namespaced_secret(self, name: str, namespace: str, **options: object) -> object:
        return self._read("Secret", name, namespace, **options)


def cluster_objects(answer: object) -> tuple[ClusterObjects, FakeCore]:
    objects = ClusterObjects(kubernetes.client.ApiClient())
    core = FakeCore(answer)
    objects._core = core
    return objects, core


@pytest.mark.parametrize("kind", [SourceKind.CONFIG_MAP, SourceKind.SECRET])
def test_read_asks_for_the_kind_and_stores_what_it_gets(kind: SourceKind) -> None:
    answer: Any = (
        kubernetes.client.V1ConfigMap(metadata=metadata(), data={"k": "v"})
        if kind is SourceKind.CONFIG_MAP
        else kubernetes.client.V1Secret(metadata=metadata(), data={"k": b64(b"v")})
    )
    objects, core = cluster_objects(answer)
    assert objects.read(kind, "airflow", "settings") == StoredObject("uid-1", "42", {"k": b"v"})
    assert core.calls == [(kind.value, "airflow", "settings")]


def test_read_of_a_missing_object_is_none() -> None:
    objects, _ = cluster_objects(api_error(404, "Not Found"))
    assert objects.read(SourceKind.SECRET, "airflow", "tokens") is None


@pytest.mark.parametrize(("status", "transient"), [(403, False), (500, True), (429, True)])
def test_read_failures_become_cluster_errors_without_the_body(status: int, transient: bool) -> None:
    objects, _ = cluster_objects(api_error(status, "Refused"))
    with pytest.raises(ClusterError) as caught:
        objects.read(SourceKind.SECRET, "airflow", "tokens")
    assert caught.value.transient is transient
    assert str(caught.value) == f"reading Secret airflow/tokens: HTTP {status} Refused"
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_read_network_failures_are_transient_and_name_only_the_error_type() -> None:
    objects, _ = cluster_objects(ProtocolError("Connection aborted.", SECRET_BODY))
    with pytest.raises(ClusterError) as caught:
        objects.read(SourceKind.CONFIG_MAP, "airflow", "settings")
    assert caught.value.transient
    assert str(caught.value) == "reading ConfigMap airflow/settings: ProtocolError"
