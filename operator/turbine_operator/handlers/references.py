"""Reconciles the TurbineStacks that reference a ConfigMap or Secret whenever it changes.

The change handlers record which TurbineStacks read which objects (core/render/references.py ReaderIndex,
Runtime.readers) and then bring the per-name watches in line (adapters/kube/reference_watches.py); a change
a watch reports becomes a reconcile request (an annotation kopf sees as an update) for each reader.
Content is never logged or compared here: the reconcile reads it again and renders it like any other input.
"""

from __future__ import annotations

import logging

from turbine_operator.core.errors import ClusterError
from turbine_operator.core.plan.reference_watches import WatchKey
from turbine_operator.handlers.runtime import Runtime

logger = logging.getLogger(__name__)


def watch_what_is_read(runtime: Runtime) -> None:
    """Watches exactly the objects the recorded TurbineStacks read; call it after each record or forget."""
    if runtime.reference_watches is not None:
        runtime.reference_watches.sync(runtime.readers.watched)


def request_reconciles(runtime: Runtime, key: WatchKey, version: str) -> None:
    """A watched object changed (or is gone): every TurbineStack reading it reconciles."""
    namespace, kind, name = key
    # The object's version, never its content, tells one change from the next.
    cause = f"{kind.value}/{name}@{version}"
    for stack in runtime.readers.readers(namespace, kind, name):
        logger.info("%s %s/%s changed: reconciling TurbineStack %s", kind.value, namespace, name, stack)
        try:
            runtime.cluster.request_reconcile(namespace, stack, cause)
        except ClusterError as error:
            # The watch does not retry; the stack's next resync reads the object anyway.
            logger.warning("Could not request a reconcile of %s/%s: %s", namespace, stack, error)
