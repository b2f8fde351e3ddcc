"""Ready, Reconciling and Stalled, kept consistent the way kstatus and ArgoCD read them.

Reconciling and Stalled are "abnormal-true": present only while True. Ready is always present.
`lastTransitionTime` moves only when a condition's status changes.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping, Sequence
from typing import Any

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
_MANAGED = (READY, RECONCILING, STALLED)


class Health(enum.Enum):
    READY = "ready"
    PROGRESSING = "progressing"  # something is in flight: Reconciling=True
    WAITING = "waiting"  # nothing in flight, not ready, and not a failure (awaiting approval)
    STALLED = "stalled"  # needs a human: Stalled=True


@dataclasses.dataclass(frozen=True)
class Verdict:
    health: Health
    reason: str
    message: str


def ready(reason: str, message: str) -> Verdict:
    return Verdict(Health.READY, reason, message)


def progressing(reason: str, message: str) -> Verdict:
    return Verdict(Health.PROGRESSING, reason, message)


def waiting(reason: str, message: str) -> Verdict:
    return Verdict(Health.WAITING, reason, message)


def stalled(reason: str, message: str) -> Verdict:
    return Verdict(Health.STALLED, reason, message)


def _condition(kind: str, status: str, verdict: Verdict, generation: int, now: str) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": now,
        "reason": verdict.reason,
        "message": verdict.message,
    }


def desired_conditions(verdict: Verdict, generation: int, now: str) -> list[dict[str, Any]]:
    conditions = [
        _condition(READY, "True" if verdict.health is Health.READY else "False", verdict, generation, now)
    ]
    if verdict.health is Health.PROGRESSING:
        conditions.append(_condition(RECONCILING, "True", verdict, generation, now))
    if verdict.health is Health.STALLED:
        conditions.append(_condition(STALLED, "True", verdict, generation, now))
    return conditions


def merge_conditions(
    current: Sequence[Mapping[str, Any]], verdict: Verdict, generation: int, now: str
) -> list[dict[str, Any]]:
    """The new condition list: ours replaced, foreign ones kept, transition times preserved."""
    previous = {str(item.get("type")): item for item in current}
    merged: list[dict[str, Any]] = []
    for condition in desired_conditions(verdict, generation, now):
        before = previous.get(condition["type"])
        if before is not None and before.get("status") == condition["status"]:
            condition["lastTransitionTime"] = before.get("lastTransitionTime", now)
        merged.append(condition)
    merged.extend(dict(item) for kind, item in previous.items() if kind not in _MANAGED)
    return merged


def ready_reason(conditions: Sequence[Mapping[str, Any]]) -> str | None:
    """The reason of the Ready condition, if any (used to post an event once per transition)."""
    for condition in conditions:
        if condition.get("type") == READY:
            return str(condition.get("reason"))
    return None


def stalled_reason(conditions: Sequence[Mapping[str, Any]]) -> str:
    """The reason of a True Stalled condition, "" when the stack is not Stalled."""
    for condition in conditions:
        if condition.get("type") == STALLED and condition.get("status") == "True":
            return str(condition.get("reason") or "")
    return ""


def condition_is(conditions: Sequence[Mapping[str, Any]], kind: str, status: str = "True") -> bool:
    """Whether the condition of this type is there with this status."""
    return any(c.get("type") == kind and c.get("status") == status for c in conditions)


def is_reconciling(conditions: Sequence[Mapping[str, Any]]) -> bool:
    return condition_is(conditions, RECONCILING)


def set_condition(
    conditions: Sequence[Mapping[str, Any]],
    kind: str,
    *,
    status: str,
    reason: str,
    message: str,
    generation: int,
    now: str,
) -> list[dict[str, Any]]:
    """Sets one condition by type, keeping the others and the transition time if status is unchanged."""
    previous = next((c for c in conditions if c.get("type") == kind), None)
    unchanged = previous is not None and previous.get("status") == status
    condition = {
        "type": kind,
        "status": status,
        "observedGeneration": generation,
        "reason": reason,
        "message": message,
        "lastTransitionTime": previous.get("lastTransitionTime", now) if previous and unchanged else now,
    }
    others = [dict(c) for c in conditions if c.get("type") != kind]
    if previous is None:
        return [*others, condition]
    # Keep the list's order, so a status write does not reshuffle kubectl's view of it.
    return [condition if c.get("type") == kind else dict(c) for c in conditions]
