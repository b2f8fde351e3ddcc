"""The status stanza the operator writes, as one pure function of what happened."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from turbine_operator.core.conditions import Verdict, merge_conditions
from turbine_operator.core.drift import drift_condition, overall_in_sync
from turbine_operator.core.observations import ObservedStack, StackMemory


@dataclasses.dataclass(frozen=True)
class StatusFacts:
    generation: int
    now: str
    stack_name: str | None
    region: str | None
    verdict: Verdict
    stack: ObservedStack | None = None
    stack_status_reason: str | None = None
    desired_hash: str | None = None
    memory: StackMemory | None = None
    pending_change_set: Mapping[str, Any] | None = None
    synced: bool = True
    spec_differences: Sequence[str] | None = None  # None: not compared this time


def memory_from_status(status: Mapping[str, Any]) -> StackMemory:
    return StackMemory(
        applied_hash=status.get("lastAppliedHash"),
        attempted_hash=status.get("lastAttemptedHash"),
        continued_rollback_hash=status.get("continuedRollbackHash"),
    )


def replaced_map(previous: Mapping[str, Any] | None, current: Mapping[str, str]) -> dict[str, str | None]:
    """A merge-patch value that makes the map exactly `current` (keys that disappeared become null)."""
    removed: dict[str, str | None] = {key: None for key in (previous or {}) if key not in current}
    return {**removed, **current}


def status_patch(previous: Mapping[str, Any], facts: StatusFacts) -> dict[str, Any]:
    """Fields to merge into .status; None removes a field."""
    patch: dict[str, Any] = {
        "observedGeneration": facts.generation,
        "conditions": merge_conditions(
            previous.get("conditions") or [], facts.verdict, facts.generation, facts.now
        ),
    }
    if facts.synced:
        # Only a completed look at AWS may clear the pending change set; a throttled call must not.
        patch["pendingChangeSet"] = dict(facts.pending_change_set) if facts.pending_change_set else None
        patch["lastSyncTime"] = facts.now
    if facts.stack_name:
        patch["stackName"] = facts.stack_name
    if facts.region:
        patch["region"] = facts.region
    if facts.desired_hash:
        patch["desiredHash"] = facts.desired_hash
    if facts.stack is not None:
        patch["stackId"] = facts.stack.stack_id
        patch["stackStatus"] = facts.stack.status
        patch["stackStatusReason"] = facts.stack_status_reason or facts.stack.status_reason
        patch["outputs"] = replaced_map(previous.get("outputs"), facts.stack.outputs)
    if facts.memory is not None:
        patch["lastAppliedHash"] = facts.memory.applied_hash
        patch["lastAttemptedHash"] = facts.memory.attempted_hash
        patch["continuedRollbackHash"] = facts.memory.continued_rollback_hash
    if facts.spec_differences is not None:
        checked = {
            "specInSync": not facts.spec_differences,
            "specDifferences": list(facts.spec_differences),
            "lastSpecCheckTime": facts.now,
        }
        merged = {**(previous.get("drift") or {}), **checked}
        patch["drift"] = {**checked, "inSync": overall_in_sync(merged)}
        patch["conditions"] = drift_condition(patch["conditions"], merged, facts.generation, facts.now)
    return patch
