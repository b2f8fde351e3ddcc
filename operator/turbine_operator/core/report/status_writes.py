"""Which part of a status merge patch is worth a write: only what changes the status.

Every write of a TurbineStack's status is a request to the API server and a watch event that every watcher
(the operator itself first) decodes and processes. A look at a stack in flight finds the same status most
of the time, with a new `lastSyncTime` (to the second): that alone is not worth a write while the stack is
in flight, since only a settled stack's schedule reads it (core.plan.scheduling); the write that settles the
stack records it. On AWS an operation takes minutes and is looked at many times; with the emulator under
load, a stack took 0.4-1 writes more than the three that bring it up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from turbine_operator.core.api.conditions import is_reconciling

SYNC_TIME = "lastSyncTime"


def changes(previous: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The part of merge patch `patch` (RFC 7386) that changes `previous`: a nested map keeps only the keys
    that change (an empty one where there is none changes nothing), a null only removes what is there."""
    changed: dict[str, Any] = {}
    for key, value in patch.items():
        before = previous.get(key)
        if isinstance(value, Mapping) and (before is None or isinstance(before, Mapping)):
            nested = changes(before or {}, value)
            if nested:
                changed[key] = nested
        elif value is None:
            if before is not None:
                changed[key] = None
        elif value != before:
            changed[key] = value
    return changed


def status_writes(previous: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """What of `patch` to write: its changes, and nothing when they are only a stack in flight's sync time."""
    changed = changes(previous, patch)
    conditions = changed.get("conditions", previous.get("conditions")) or []
    if set(changed) == {SYNC_TIME} and is_reconciling(conditions):
        return {}
    return changed


# How long the watch event of a status write may lag before a look goes ahead without it: a write that
# kopf failed to apply must not keep the stack from being looked at.
ECHO_WAIT_SECONDS = 10.0


class PendingEchoes:
    """The status each TurbineStack's last look wrote, until kopf's view of the object shows it.

    A look starts from kopf's view of the object, which the watch event of each write updates. Under load
    that event can arrive after the next look is due: the look then starts from the status before the
    write and makes the same transition again, with a new transition time and a DescribeStacks of its own.
    With 300 stacks applied at once, 136 wrote Ready twice. In memory only: after a restart every view is
    taken as current, as before.
    """

    def __init__(self) -> None:
        self._written: dict[str, tuple[dict[str, Any], float]] = {}

    def wrote(self, uid: str, written: Mapping[str, Any], now: float) -> None:
        if written:
            self._written[uid] = (dict(written), now)

    def behind(self, uid: str, status: Mapping[str, Any], now: float) -> bool:
        """Whether `status` (kopf's view) does not show the last write yet, and may still come to."""
        entry = self._written.get(uid)
        if entry is None:
            return False
        written, at = entry
        if changes(status, written) and now - at < ECHO_WAIT_SECONDS:
            return True
        self._written.pop(uid, None)
        return False

    def forget(self, uid: str) -> None:
        self._written.pop(uid, None)
