"""Reconciles the TurbineStacks that reference a ConfigMap or Secret whenever it changes.

The change handlers record which TurbineStacks read which objects (core/render/references.py ReaderIndex,
Runtime.readers); an event handler per kind turns a change into a reconcile request (an annotation
kopf sees as an update). Content is never logged or compared here: the reconcile reads it again and
renders it like any other input.
"""

from __future__ import annotations

import logging
from typing import Any

import kopf

from turbine_operator.core.errors import ClusterError
from turbine_operator.core.render.references import SourceKind, change_needs_reconcile
from turbine_operator.handlers.runtime import runtime_of

logger = logging.getLogger(__name__)


@kopf.on.event("", "v1", "configmaps")
def config_map_changed(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _request_reconciles(SourceKind.CONFIG_MAP, event, memo)


@kopf.on.event("", "v1", "secrets")
def secret_changed(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
    _request_reconciles(SourceKind.SECRET, event, memo)


def _request_reconciles(kind: SourceKind, event: kopf.RawEvent, memo: kopf.Memo) -> None:
    metadata = event["object"].get("metadata") or {}
    namespace, name = str(metadata.get("namespace")), str(metadata.get("name"))
    runtime = runtime_of(memo)
    # Every object's version is kept, read or not yet: a TurbineStack records what it reads only when its
    # change handler runs, after kopf's first listing, and a listing again after a broken watch must still
    # tell a changed object from one it saw before.
    key, version = (kind, namespace, name), str(metadata.get("resourceVersion", ""))
    previous = runtime.reference_versions.get(key)
    if event.get("type") == "DELETED":
        runtime.reference_versions.pop(key, None)
    else:
        runtime.reference_versions[key] = version
    if not change_needs_reconcile(event.get("type"), previous, version):
        return
    stacks = runtime.readers.readers(namespace, kind, name)
    # The object's version, never its content, tells one change from the next.
    cause = f"{kind.value}/{name}@{version}"
    for stack in stacks:
        logger.info("%s %s/%s changed: reconciling TurbineStack %s", kind.value, namespace, name, stack)
        try:
            runtime.cluster.request_reconcile(namespace, stack, cause)
        except ClusterError as error:
            # kopf does not retry event handlers; the stack's next resync reads the object anyway.
            logger.warning("Could not request a reconcile of %s/%s: %s", namespace, stack, error)
