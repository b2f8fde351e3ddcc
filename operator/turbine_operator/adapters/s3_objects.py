"""S3 objects the reconcile reads, remembered by ETag so that reading an unchanged one transfers nothing.

Every poll tick of an operation in flight renders the spec again, so an `s3Url` template would
otherwise be downloaded whole every few seconds for as long as a stack takes to create.
"""

from __future__ import annotations

import collections
import dataclasses
import threading

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
