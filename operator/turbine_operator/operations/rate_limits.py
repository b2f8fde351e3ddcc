"""Operator-wide limits: a token bucket for AWS APIs, and slots for concurrent stack updates."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBucket:
    def __init__(self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0
        self._capacity = float(burst)
        self._tokens = float(burst)
        self._clock = clock
        self._updated = clock()
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


class UpdateSlots:
    """At most `limit` stack updates in flight at once (0: no limit), so that an operator upgrade
    that changes the template bundle rolls through the fleet instead of updating every stack at once.

    A stack takes a slot when its UPDATE change set is executed and gives it back once the stack is
    seen settled. The state is this process's: after a restart, stacks found updating take a slot
    again (`occupy`), so the limit holds from then on.
    """

    def __init__(self, limit: int, observer: Callable[[int, int], None] | None = None) -> None:
        self._limit = limit
        self._held: set[str] = set()
        self._waiting: set[str] = set()
        self._lock = threading.Lock()
        self._observer = observer

    def available_to(self, uid: str) -> bool:
        with self._lock:
            return self._free(uid)

    def try_acquire(self, uid: str) -> bool:
        with self._lock:
            if not self._free(uid):
                self._waiting.add(uid)
                self._report()
                return False
            self._held.add(uid)
            self._waiting.discard(uid)
            self._report()
            return True

    def occupy(self, uid: str) -> None:
        """A stack seen updating holds a slot, even beyond the limit (it is updating already)."""
        with self._lock:
            self._held.add(uid)
            self._waiting.discard(uid)
            self._report()

    def release(self, uid: str) -> None:
        with self._lock:
            if uid in self._held or uid in self._waiting:
                self._held.discard(uid)
                self._waiting.discard(uid)
                self._report()

    def waiting(self, uid: str) -> None:
        with self._lock:
            self._waiting.add(uid)
            self._report()

    def _free(self, uid: str) -> bool:
        return self._limit <= 0 or uid in self._held or len(self._held) < self._limit

    def _report(self) -> None:
        if self._observer is not None:
            self._observer(len(self._held), len(self._waiting))
