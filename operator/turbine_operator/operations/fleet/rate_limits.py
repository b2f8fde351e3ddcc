"""Operator-wide limits: a token bucket for AWS APIs, fair turns at it, slots for concurrent updates."""

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

    @property
    def rate_per_second(self) -> float:
        return self._rate

    def available(self) -> float:
        with self._lock:
            elapsed = self._clock() - self._updated
            return min(self._capacity, self._tokens + elapsed * self._rate)


class FairTurns:
    """Turns at a token bucket, the longest-waiting first: drift detections for a fleet.

    With fewer tokens than askers, a first-come rule would serve whichever stack asks first, and an
    unlucky stack could wait for ever. Here a stack gets a token only while fewer stacks have been due
    longer than it than there are tokens. A stack that is refused learns when its turn should come
    (`retry_in`) and waits that long instead of asking on every tick. Askers not heard of for
    `forget_after` seconds beyond their expected turn (deleted, or no longer due) drop out.
    """

    def __init__(
        self,
        bucket: TokenBucket,
        forget_after: float,
        observer: Callable[[int, float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket, self._forget_after, self._clock = bucket, forget_after, clock
        self._observer = observer
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[float, float]] = {}  # uid -> (due since, forget at), monotonic

    def try_acquire(self, uid: str, due_for_seconds: float) -> bool:
        """`due_for_seconds`: how long this stack's detection has been due."""
        with self._lock:
            now = self._clock()
            since = now - due_for_seconds
            self._waiting = {u: w for u, w in self._waiting.items() if now <= w[1]}
            ahead = sum(1 for u, (due, _) in self._waiting.items() if due < since and u != uid)
            granted = ahead < int(self._bucket.available()) and self._bucket.try_acquire()
            if granted:
                self._waiting.pop(uid, None)
            else:
                self._waiting[uid] = (since, now + self._turn_in(ahead) + self._forget_after)
            self._observe(now)
            return granted

    def retry_in(self, uid: str) -> float | None:
        """Seconds until a refused stack's turn should come (None: it is not waiting)."""
        with self._lock:
            waiting = self._waiting.get(uid)
            if waiting is None:
                return None
            ahead = sum(1 for due, _ in self._waiting.values() if due < waiting[0])
            return self._turn_in(ahead)

    def withdraw(self, uid: str) -> None:
        """The stack no longer waits (detected, deleted, or its detection is no longer due)."""
        with self._lock:
            if self._waiting.pop(uid, None) is not None:
                self._observe(self._clock())

    def _turn_in(self, ahead: int) -> float:
        # The tokens for the stacks ahead, and one for this one, at the bucket's rate (none: an hour).
        if self._bucket.rate_per_second <= 0:
            return 3600.0
        return max(1.0, ahead + 1 - self._bucket.available()) / self._bucket.rate_per_second

    def backlog(self) -> tuple[int, float]:
        """How many stacks wait, and how long the stalest of them has been due (seconds)."""
        with self._lock:
            return self._backlog(self._clock())

    def _backlog(self, now: float) -> tuple[int, float]:
        if not self._waiting:
            return 0, 0.0
        return len(self._waiting), now - min(since for since, _ in self._waiting.values())

    def _observe(self, now: float) -> None:
        if self._observer is not None:
            self._observer(*self._backlog(now))


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
