"""When the operator looks at a stack again: closely while an operation is young, rarely when idle."""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Mapping
from typing import Any

from turbine_operator.core.api.conditions import is_reconciling


def parse_timestamp(value: object) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def follow_up_due(status: Mapping[str, Any], now: datetime.datetime, resync_seconds: float) -> bool:
    """In-flight work is followed on every tick; settled stacks only once per resync interval."""
    if is_reconciling(status.get("conditions") or []):
        return True
    if status.get("dags") and dags_check_due(status, now):
        return True  # spec.airflow.dags: the scheduler's bundle report is read every DAGS_CHECK_SECONDS
    if users_pending(status, now):
        return True  # the scheduler has not reported the published users yet (operations.airflow)
    last = parse_timestamp(status.get("lastSyncTime"))
    return last is None or (now - last).total_seconds() >= resync_seconds


def settled_wait(
    status: Mapping[str, Any], now: datetime.datetime, resync_seconds: float, drift_seconds: float | None
) -> float:
    """Seconds until a settled stack's next look is due (0: now): its resync, the DAG report, pending
    users, or its drift (`drift_seconds`, None when drift detection does not apply). A change to the
    stack made outside the operator is not waited for: the fleet listing wakes the stack."""
    if follow_up_due(status, now, resync_seconds):
        return 0.0
    waits = [resync_seconds - _age(status.get("lastSyncTime"), now, resync_seconds)]
    if status.get("dags"):
        waits.append(DAGS_CHECK_SECONDS - _age((status.get("dags") or {}).get("checkedTime"), now, 0.0))
    if drift_seconds is not None:
        waits.append(drift_seconds)
    return max(0.0, min(waits))


def _age(value: object, now: datetime.datetime, unknown: float) -> float:
    at = parse_timestamp(value)
    return unknown if at is None else (now - at).total_seconds()


# How often the scheduler's report on spec.airflow.dags is read (core.airflow.dag_report): a bad commit gets
# status and events about two minutes after the DAG processor saw it, for a reconcile every 120 s (30
# DescribeStacks and 30 GetParameter calls an hour per stack with a DAG source).
DAGS_CHECK_SECONDS = 120.0


# How long after publishing users their report is looked for on every tick: the scheduler applies a version
# within about 40 s. Beyond it (a scheduler down, a version that keeps failing to apply) the report is read
# at each resync only, so a broken scheduler costs no more than a settled stack.
USERS_PENDING_SECONDS = 600.0


def users_pending(status: Mapping[str, Any], now: datetime.datetime) -> bool:
    users = status.get("airflowUsers") or {}
    if not users.get("version") or users.get("appliedVersion") == users.get("version"):
        return False
    published = parse_timestamp(users.get("publishedTime"))
    return published is None or (now - published).total_seconds() < USERS_PENDING_SECONDS


def dags_check_due(status: Mapping[str, Any], now: datetime.datetime) -> bool:
    """Whether the DAG report should be read again (the first time as soon as there is a stack)."""
    checked = parse_timestamp((status.get("dags") or {}).get("checkedTime"))
    return checked is None or (now - checked).total_seconds() >= DAGS_CHECK_SECONDS


# CloudFormation finishes a small change in a second or two and a database in tens of minutes. An
# operation in flight is looked at every half second at first, then at an eighth of its age, and at
# most every poll interval: a stack that completes at once is Ready within about a second, and a
# 20-minute creation costs about 30 more looks than with a fixed 15 s interval.
FIRST_FOLLOW_UP_SECONDS = 0.5
FOLLOW_UP_AGE_DIVISOR = 8.0


def follow_up_delay(age_seconds: float, ceiling_seconds: float) -> float:
    """Seconds between looks at an operation in flight `age_seconds` old (at most the poll interval)."""
    return min(ceiling_seconds, max(FIRST_FOLLOW_UP_SECONDS, age_seconds / FOLLOW_UP_AGE_DIVISOR))


class FollowUps:
    """When each TurbineStack's operation in flight was first and last looked at.

    An operation is told apart by the TurbineStack's generation: a spec change in flight starts
    the close follow-up again. In memory only: after a restart every operation in flight counts
    as young, which costs a few early looks and loses nothing.
    """

    def __init__(self) -> None:
        self._seen: dict[str, tuple[int, float, float]] = {}  # uid -> (generation, first, last look)

    def until_due(self, uid: str, generation: int, now: float, ceiling_seconds: float) -> float:
        """Seconds until the next look at this operation is due (0: now). Records nothing."""
        seen = self._seen.get(uid)
        if seen is None or seen[0] != generation:
            return 0.0
        _, first, last = seen
        return max(0.0, follow_up_delay(now - first, ceiling_seconds) - (now - last))

    def looked(self, uid: str, generation: int, now: float) -> None:
        """A look was taken now (a new generation starts a young operation)."""
        seen = self._seen.get(uid)
        first = seen[1] if seen is not None and seen[0] == generation else now
        self._seen[uid] = (generation, first, now)

    def forget(self, uid: str) -> None:
        """The operation settled (or the TurbineStack is gone): the next one starts young."""
        self._seen.pop(uid, None)


def spread_offset(key: str, interval_seconds: float) -> float:
    """A stable offset in [interval/2, 3*interval/2) derived from `key` (a uid): spreads a fleet's timers."""
    fraction = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") / 2**32
    return interval_seconds * (0.5 + fraction)
