"""S3 objects the reconcile reads, remembered by ETag so that reading an unchanged one transfers nothing;
and bundles already uploaded, so a fleet uploads each once.

Every poll tick of an operation in flight renders the spec again, so an `s3Url` template would
otherwise be downloaded whole every few seconds for as long as a stack takes to create.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Hashable

DEFAULT_CAPACITY_BYTES = 16 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class RememberedObject:
    etag: str
    body: bytes


class RememberedObjects:
    """A thread-safe store of object bodies by bucket and key that drops the least recently used first.

    It holds content only: each read still asks S3 (with If-None-Match), so S3 still authorises
    every read, and a stack whose role lost access to the object is not served from memory.
    """

    def __init__(self, capacity_bytes: int = DEFAULT_CAPACITY_BYTES) -> None:
        self._capacity = capacity_bytes
        self._objects: collections.OrderedDict[tuple[str, str], RememberedObject] = collections.OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, bucket: str, key: str) -> RememberedObject | None:
        with self._lock:
            remembered = self._objects.get((bucket, key))
            if remembered is not None:
                self._objects.move_to_end((bucket, key))
            return remembered

    def put(self, bucket: str, key: str, etag: str, body: bytes) -> None:
        with self._lock:
            self._drop((bucket, key))
            if len(body) > self._capacity:
                return
            self._objects[(bucket, key)] = RememberedObject(etag, body)
            self._size += len(body)
            while self._size > self._capacity:
                self._drop(next(iter(self._objects)))

    def forget(self, bucket: str, key: str) -> None:
        with self._lock:
            self._drop((bucket, key))

    @property
    def size(self) -> int:
        with self._lock:
            return self._size

    def _drop(self, identity: tuple[str, str]) -> None:
        removed = self._objects.pop(identity, None)
        if removed is not None:
            self._size -= len(removed.body)


# How long a bundle seen complete is trusted without listing it again: a lifecycle rule or a person may
# delete it, and a change set that reads a missing template fails.
UPLOADED_BUNDLE_TTL_SECONDS = 300.0


class UploadedBundles:
    """Bundles known to be complete in S3, shared operator-wide, so a fleet that starts together uploads
    (and lists) each bundle once instead of once per stack.

    Keyed by the role and region too: what one role uploaded says nothing about what another may
    read. Stacks that need the same bundle at the same moment wait for the first one's upload.
    """

    def __init__(
        self, ttl_seconds: float = UPLOADED_BUNDLE_TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl, self._clock = ttl_seconds, clock
        self._guard = threading.Lock()
        self._locks: dict[Hashable, threading.Lock] = {}
        self._complete_at: dict[Hashable, float] = {}

    def ensure(self, key: Hashable, upload: Callable[[], int]) -> int:
        """Runs `upload` unless the bundle was seen complete within the TTL; returns what it uploaded."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            seen = self._complete_at.get(key)
            if seen is not None and self._clock() - seen < self._ttl:
                return 0
            uploaded = upload()  # on an error nothing is recorded: the next stack tries again
            self._complete_at[key] = self._clock()
            return uploaded
