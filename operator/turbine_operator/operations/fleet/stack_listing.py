"""The fleet-wide listing: settled TurbineStacks whose stack moved are woken, the others cost nothing.

Every settled TurbineStack says what its status recorded of its stack (`watch`); one thread lists
each region and role the fleet uses once per listing interval and wakes the TurbineStacks whose
stack's status or last-updated time differs from that (core/plan/stack_listing.py). A failed listing
wakes nothing: each stack's own resync, on a longer interval, still looks.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping

from turbine_operator.core.errors import AwsError
from turbine_operator.core.observed.observations import StackSummary
from turbine_operator.core.plan.stack_listing import ListedStack, moved

logger = logging.getLogger(__name__)

Lister = Callable[[str, str | None], Mapping[str, StackSummary]]
MOVED = "moved"  # the wake reason a listing gives


class StackListing:
    def __init__(self, lister: Lister, wake: Callable[[str, str], None]) -> None:
        self._lister, self._wake = lister, wake
        self._lock = threading.Lock()
        self._watched: dict[str, ListedStack] = {}

    def watch(self, uid: str, listed: ListedStack | None) -> None:
        """What the TurbineStack's status recorded (None: nothing to list, for example no stack yet)."""
        with self._lock:
            if listed is None:
                self._watched.pop(uid, None)
            else:
                self._watched[uid] = listed

    def forget(self, uid: str) -> None:
        self.watch(uid, None)

    def refresh(self) -> list[str]:
        """Lists every region and role watched once; wakes and returns the TurbineStacks that moved."""
        with self._lock:
            watched = dict(self._watched)
        by_account: dict[tuple[str, str | None], list[tuple[str, ListedStack]]] = defaultdict(list)
        for uid, listed in watched.items():
            by_account[(listed.region, listed.role_arn)].append((uid, listed))
        woken: list[str] = []
        for (region, role_arn), stacks in by_account.items():
            try:
                summaries = self._lister(region, role_arn)
            except AwsError as error:
                logger.warning(
                    "Could not list the stacks in %s: %s; each stack's resync still looks", region, error
                )
                continue
            for uid, listed in stacks:
                if moved(listed, summaries.get(listed.stack_id)) and self._still_watched(uid, listed):
                    self._wake(uid, MOVED)
                    woken.append(uid)
        return woken

    def _still_watched(self, uid: str, listed: ListedStack) -> bool:
        # A look that ended while the listing ran recorded a newer state: that is not a move.
        with self._lock:
            return self._watched.get(uid) == listed

    def run(self, stop: threading.Event, interval: float) -> None:
        """The listing loop of the operator's listing thread; returns when `stop` is set."""
        while not stop.wait(interval):
            try:
                self.refresh()
            except Exception:
                logger.exception("Listing the stacks failed; trying again in %.0f s", interval)
