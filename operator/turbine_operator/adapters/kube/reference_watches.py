"""Watches each referenced ConfigMap and Secret by name, and reports when one changes.

A watch is `GET /api/v1/namespaces/<ns>/<kind>?watch=true&fieldSelector=metadata.name=<name>`: the API
server sends this watch nothing of any other object, so ten thousand unrelated Secrets cost the operator
nothing. Each asks for metadata only (`as=PartialObjectMetadata`): a Secret's data never reaches the
watch, which needs only the version. Each runs in its own thread while some TurbineStack reads its
object (core/plan/reference_watches.py decides which); ReaderIndex says which TurbineStacks to reconcile.

RBAC: `get` (the first read, and again after an expired watch) and `watch`; no `list`, since nothing
lists. A watch whose version expired (410 Gone) reads its object again and reports a change if the
version moved meanwhile; a failed connection resumes from the last version after a backoff.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from turbine_operator.adapters.metrics import REFERENCE_WATCH_EVENTS, REFERENCE_WATCHES
from turbine_operator.core.plan.reference_watches import ObjectVersion, WatchKey, plan_watches
from turbine_operator.core.render.references import SourceKind

logger = logging.getLogger(__name__)

# Metadata only, for reads and watch events alike (what metadata-only informers ask for).
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
_PLURALS = {SourceKind.CONFIG_MAP: "configmaps", SourceKind.SECRET: "secrets"}
_READ_TIMEOUT = 30
# The API server ends each watch after this long (kube-apiserver would pick 30-60 min); the watch then
# resumes from its last version. Bookmarks keep that version fresh, so a quiet object's resume is cheap.
_SERVER_TIMEOUT = 300
_BACKOFF_CAP = 30.0

Changed = Callable[[WatchKey, str], None]  # (the object, its new version or "gone")


class WatchBroken(Exception):
    """The API server ended a watch with an error other than an expired version."""


class WatchExpired(Exception):
    """410 Gone: the version to resume from is too old; read the object again."""


class ReferenceWatches:
    """The running per-name watches; `sync` starts and stops them to match what TurbineStacks read."""

    def __init__(self, client: kubernetes.client.ApiClient, changed: Changed) -> None:
        self._client = client
        self._changed = changed
        self._lock = threading.Lock()
        self._watches: dict[WatchKey, _Watch] = {}

    def sync(self, wanted: Callable[[], frozenset[WatchKey]]) -> None:
        """Watches exactly the objects in `wanted()` (read under this lock, so two handlers' syncs never
        undo each other), and returns once each has its first version.

        That first read happens before the caller's reconcile reads the object: any later change then
        arrives through the watch.
        """
        with self._lock:
            keys = wanted()
            plan = plan_watches(keys, frozenset(self._watches))
            for key in plan.stop:
                self._watches.pop(key).stop()
            started = [_Watch(key, self._client, self._changed) for key in plan.start]
            self._watches.update((watch.key, watch) for watch in started)
            needed = [self._watches[key] for key in keys]
            _count_watches(keys)
        for watch in started:
            watch.begin()
        for watch in needed:
            watch.ready.wait(_READ_TIMEOUT)

    def watching(self) -> frozenset[WatchKey]:
        with self._lock:
            return frozenset(self._watches)

    def stop(self) -> None:
        with self._lock:
            watches, self._watches = list(self._watches.values()), {}
            _count_watches(frozenset())
        for watch in watches:
            watch.stop()
        for watch in watches:
            watch.join(5)


def _count_watches(keys: frozenset[WatchKey]) -> None:
    for kind in (SourceKind.CONFIG_MAP, SourceKind.SECRET):
        REFERENCE_WATCHES.labels(kind.value).set(sum(1 for _, watched, _ in keys if watched is kind))


class _Watch:
    def __init__(self, key: WatchKey, client: kubernetes.client.ApiClient, changed: Changed) -> None:
        self.key = key
        self.ready = threading.Event()
        self._client = client
        self._changed = changed
        self._stopping = threading.Event()
        self._response: Any = None  # the open watch stream, closed by stop() to end a blocked read
        self._position = ObjectVersion.unknown()
        self._thread = threading.Thread(target=self._run, name=f"turbine-watch-{key[2]}", daemon=True)

    def begin(self) -> None:
        try:
            self._position = ObjectVersion(self._read())
        except (ApiException, HTTPError, OSError, ValueError) as error:
            # The thread reads it again; its answer counts as a change (ObjectVersion.unknown).
            logger.warning("Could not read %s: %s", self._describe(), _reason(error))
        self.ready.set()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.ready.set()
        response = self._response
        if response is not None:
            # Wakes the thread from its blocked read of the stream.
            response.shutdown()

    def join(self, timeout: float) -> None:
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _describe(self) -> str:
        namespace, kind, name = self.key
        return f"{kind.value} {namespace}/{name}"

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                if self._position.must_read:
                    self._report(self._position.read(self._read()), self._position.seen)
                self._follow()
                failures = 0
            except WatchExpired:
                self._position.lost()
            except (ApiException, HTTPError, OSError, ValueError, WatchBroken) as error:
                if self._stopping.is_set():
                    return
                failures += 1
                logger.warning("Watch of %s failed: %s", self._describe(), _reason(error))
                self._stopping.wait(min(_BACKOFF_CAP, 0.5 * 2**failures))

    def _report(self, changed: bool, version: str | None) -> None:
        if changed and not self._stopping.is_set():
            self._changed(self.key, version or "gone")

    def _follow(self) -> None:
        """One watch stream, until the API server ends it (or `stop`)."""
        for event in self._events():
            event_type = str(event.get("type") or "")
            body = event.get("object") or {}
            logger.debug("Watch of %s: %s", self._describe(), event_type)
            if event_type == "ERROR":
                if body.get("code") == 410:
                    raise WatchExpired
                raise WatchBroken(f"HTTP {body.get('code')} {body.get('reason') or ''}".rstrip())
            version = str((body.get("metadata") or {}).get("resourceVersion") or "")
            if event_type != "BOOKMARK":
                REFERENCE_WATCH_EVENTS.labels(self.key[1].value).inc()
            self._report(self._position.event(event_type, version), self._position.seen)

    def _events(self) -> Iterator[dict[str, Any]]:
        namespace, kind, name = self.key
        query: list[tuple[str, str]] = [
            ("watch", "true"),
            ("fieldSelector", f"metadata.name={name}"),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(_SERVER_TIMEOUT)),
        ]
        if self._position.resume_from is not None:
            query.append(("resourceVersion", self._position.resume_from))
        logger.debug("Watching %s from version %s", self._describe(), self._position.resume_from or "now")
        response = self._request(
            f"/api/v1/namespaces/{namespace}/{_PLURALS[kind]}", query, timeout=(10, _SERVER_TIMEOUT + 30)
        )
        self._response = response
        try:
            if self._stopping.is_set():
                return
            pending = b""
            for chunk in response.stream(64 * 1024, decode_content=True):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        finally:
            self._response = None
            response.release_conn()

    def _read(self) -> str | None:
        """The object's resourceVersion, None if it does not exist (its metadata only, never its data)."""
        namespace, kind, name = self.key
        response = self._request(
            f"/api/v1/namespaces/{namespace}/{_PLURALS[kind]}/{name}",
            [],
            timeout=_READ_TIMEOUT,
            missing_ok=True,
        )
        if response is None:
            return None
        try:
            metadata = json.loads(response.data).get("metadata") or {}
        finally:
            response.release_conn()
        return str(metadata.get("resourceVersion") or "")

    def _request(
        self, path: str, query: list[tuple[str, str]], *, timeout: Any, missing_ok: bool = False
    ) -> Any:
        """An urllib3 response whose body is not read yet; ApiException for a refusal (None for a 404 if
        `missing_ok`)."""
        method, url, headers, _, _ = self._client.param_serialize(
            "GET",
            path,
            query_params=query,
            header_params={"Accept": METADATA_ONLY},
            auth_settings=["BearerToken"],
        )
        reply = self._client.call_api(method, url, headers, _request_timeout=timeout)
        response = reply.response
        if response.status == 404 and missing_ok:
            response.drain_conn()
            response.release_conn()
            return None
        if not 200 <= response.status < 300:
            response.drain_conn()
            response.release_conn()
            if response.status == 410:
                # Some servers refuse a watch from an expired version outright rather than in the stream.
                raise WatchExpired
            raise ApiException(status=response.status, reason=response.reason)
        return response


def _reason(error: Exception) -> str:
    # Only the status and reason of an API error: its body may echo the object.
    if isinstance(error, ApiException):
        return f"HTTP {error.status} {error.reason or ''}".rstrip()
    return type(error).__name__ if not str(error) else f"{type(error).__name__}: {error}"
