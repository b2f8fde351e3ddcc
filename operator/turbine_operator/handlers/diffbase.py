"""kopf's record of the last handled TurbineStack: in status, small, and only of what the handlers read.

kopf keeps the "essence" of the object it last handled and compares each event's with it: a difference is
an update cause, which runs the change handlers; none means the event was a status write. Three choices:

- **In status (`status.lastHandledConfiguration`), not an annotation.** kopf stores the record in the same
  patch as the handler's status, so it goes to the status subresource in that one request. In an
  annotation it took a second request to the object itself, and a second watch event that kopf then
  processed for nothing: one write and one event of the seven and six that bring up a stack. The
  annotation an earlier version wrote is still read, so an upgrade handles again (one idempotent
  reconcile) only the objects with annotations that the new record leaves out.
- **Only what the handlers read:** the spec, the labels, the drift-check annotation and the reconcile
  request a watched ConfigMap or Secret's change writes (handlers/references.py). kopf's default
  record holds every annotation except those under a prefix of a kopf-based operator, and its progress
  storage then clears every annotation under its own prefix from both records: an annotation written by
  ArgoCD or Flux ran a reconcile for nothing, and `turbine.dev/requested-drift-check` (our prefix) never
  did, so a settled stack, which waits without ticking, did not see it until its next due look.
- **Long strings as their digests:** an inline template may be hundreds of KiB; with `kubectl apply` it is
  already in the object twice (spec and kubectl's last-applied annotation), and etcd caps an object at
  1.5 MiB. The handlers read only the current body, never kopf's diff or old value, so the record only
  needs to change exactly when the spec does.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any, cast

import kopf

from turbine_operator.adapters.kube.cluster import RECONCILE_REQUEST
from turbine_operator.core.plan.drift import REQUEST_ANNOTATION

STATUS_FIELD = "lastHandledConfiguration"
# Where versions before this one kept the record (kopf's annotation storage, prefix turbine.dev).
LEGACY_ANNOTATION = "turbine.dev/last-handled-configuration"
# The annotations the handlers act on; a change to any other is no reason to reconcile.
READ_ANNOTATIONS = (REQUEST_ANNOTATION, RECONCILE_REQUEST)
# Strings up to this many characters stay as they are: names, ARNs, parameters and most policies.
LONGEST_KEPT_STRING = 1024


class StatusDiffBaseStorage(kopf.DiffBaseStorage):
    """The record in status.lastHandledConfiguration, as compact JSON of spec, labels and read annotations."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        # Built from the few parts it keeps: kopf's own build deep-copies the whole object (managed fields
        # and status included) at every event, to throw most of it away.
        essence: dict[str, Any] = {}
        spec = body.get("spec")
        if spec:
            essence["spec"] = digested(spec)  # a copy: digested() rebuilds every dict and list
        metadata: dict[str, Any] = {}
        labels = dict(body.metadata.labels)
        if labels:
            metadata["labels"] = labels
        present = body.metadata.annotations
        annotations = {key: present[key] for key in READ_ANNOTATIONS if key in present}
        if annotations:
            metadata["annotations"] = annotations
        if metadata:
            essence["metadata"] = metadata
        for field in extra_fields or ():
            _copy_field(body, essence, field)
        return cast(kopf.BodyEssence, essence)

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:
        encoded = (body.get("status") or {}).get(STATUS_FIELD)
        if encoded is None:
            encoded = body.metadata.annotations.get(LEGACY_ANNOTATION)
        return None if encoded is None else cast(kopf.BodyEssence, json.loads(encoded))

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: kopf.BodyEssence) -> None:
        patch.status[STATUS_FIELD] = json.dumps(essence, separators=(",", ":"), sort_keys=True)


class ProgressAnnotations(kopf.AnnotationsProgressStorage):
    """kopf's progress of a handler in annotations, as before, but leaving the records alone: they hold no
    progress annotation (StatusDiffBaseStorage.build keeps only READ_ANNOTATIONS), while kopf's clear()
    removed every annotation under the prefix, the drift-check one included, from deep copies of both
    records at every event."""

    def clear(self, *, essence: kopf.BodyEssence) -> kopf.BodyEssence:
        return essence

    def _store_marker(self, prefix: str, patch: kopf.Patch, body: kopf.Body) -> None:
        """No `turbine.dev/kopf-managed` marker: kopf wrote it with the first progress record, which a
        handler's success purges in the same patch, so every TurbineStack took one more write (and one more
        watch event) for a marker. It tells other kopf-based operators to leave our annotations out of
        their records; none watches TurbineStacks, and their writes are not in ours (READ_ANNOTATIONS)."""


def digested(value: Any) -> Any:
    """`value` with every string longer than LONGEST_KEPT_STRING replaced by a digest of it."""
    if isinstance(value, str) and len(value) > LONGEST_KEPT_STRING:
        digest = hashlib.sha256(value.encode()).hexdigest()
        return f"sha256:{digest} ({len(value)} characters)"
    if isinstance(value, dict):
        return {key: digested(item) for key, item in value.items()}
    if isinstance(value, list):
        return [digested(item) for item in value]
    return value


def _copy_field(body: Mapping[str, Any], essence: dict[str, Any], field: Any) -> None:
    """Copies a field a handler filters on (kopf passes it as a dotted string or a tuple) into the record."""
    path = field.split(".") if isinstance(field, str) else list(field)
    value: Any = body
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return
        value = value[key]
    target = essence
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = digested(value)  # a copy, as above
