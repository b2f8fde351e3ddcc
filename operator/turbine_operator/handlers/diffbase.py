"""kopf's record of the last handled spec, kept small enough for an annotation.

kopf stores the "essence" of the object it last handled (its spec, labels and annotations) in an
annotation, to tell a real change from a status write. The API server caps all of an object's annotations
at 256 KiB together, and an inline template may be far larger: with the whole spec in the annotation,
kopf's patch is refused: it never records that it handled the TurbineStack and handles it again at every
event. The handlers read only the current body, never kopf's diff or old value, so the essence only needs
to change exactly when the spec does: a long string is replaced by its SHA-256 digest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, cast

import kopf

# Strings up to this many characters stay as they are: names, ARNs, parameters and most policies.
LONGEST_KEPT_STRING = 1024


class DigestedDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """AnnotationsDiffBaseStorage whose essence holds long strings as their digests."""

    def build(self, *, body: kopf.Body, extra_fields: Iterable[Any] | None = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        return cast(kopf.BodyEssence, digested(essence))


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
