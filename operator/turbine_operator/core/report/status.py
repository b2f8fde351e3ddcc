"""The status stanza the operator writes, as one pure function of what happened."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from turbine_operator.core.api.conditions import READY, Verdict, merge_conditions, set_condition
from turbine_operator.core.naming import APPLIED_HASH_TAG, hash_of_token, tried_hash_of_rollback_token
from turbine_operator.core.observed.observations import ObservedStack, StackMemory
from turbine_operator.core.plan.drift import drift_condition, overall_in_sync
from turbine_operator.core.plan.scheduling import parse_timestamp

# Whether the operator's last look at AWS succeeded (as Crossplane's Synced). kstatus, Flux and ArgoCD
# ignore it, so a short AWS outage or throttling burst does not flap a Ready fleet.
SYNCED = "Synced"
# How long a Ready stack stays Ready while AWS cannot be reached; then Ready=False, Reconciling.
TRANSIENT_GRACE = datetime.timedelta(minutes=10)


@dataclasses.dataclass(frozen=True)
class StatusFacts:
    generation: int
    now: str
    stack_name: str | None
    region: str | None
    verdict: Verdict
    stack: ObservedStack | None = None
    stack_id: str | None = None  # of a stack known before it is observed (its CREATE change set's reply)
    stack_status_reason: str | None = None
    desired_hash: str | None = None
    memory: StackMemory | None = None
    pending_change_set: Mapping[str, Any] | None = None
    synced: bool = True
    spec_differences: Sequence[str] | None = None  # None: not compared this time
    managed: bool = True  # whether `stack` is this TurbineStack's to manage (only then is its id recorded)


def memory_from_status(status: Mapping[str, Any]) -> StackMemory:
    return StackMemory(
        applied_hash=status.get("lastAppliedHash"),
        attempted_hash=status.get("lastAttemptedHash"),
        continued_rollback_hash=status.get("continuedRollbackHash"),
        change_set_requests=int(status.get("changeSetRequests") or 0),
    )


def recovered_memory(
    remembered: StackMemory, stack: ObservedStack | None, last_operation_token: str | None
) -> StackMemory:
    """Memory as AWS tells it where it can, so a lost or stale status never repeats a failed update.

    The applied hash is the stack's own tag (set by the update that applied it, and put back by a
    rollback); the attempted and continued-rollback hashes are read from the token of the stack's
    latest operation, which CloudFormation copies onto its events.
    """
    if stack is None:
        return remembered
    applied = stack.tags.get(APPLIED_HASH_TAG) or remembered.applied_hash
    continued = hash_of_token(last_operation_token, rollback=True)
    # A continued rollback's token names the update it rolls back, not the spec it was sent under: the
    # spec may have changed while the stack was UPDATE_ROLLBACK_FAILED, and that one was never tried.
    tried = hash_of_token(last_operation_token) or tried_hash_of_rollback_token(last_operation_token)
    attempted = tried or remembered.attempted_hash
    continued = continued or remembered.continued_rollback_hash
    return dataclasses.replace(
        remembered, applied_hash=applied, attempted_hash=attempted, continued_rollback_hash=continued
    )


def tolerated_failure_patch(
    previous: Mapping[str, Any], generation: int, now: str, reason: str, message: str
) -> dict[str, Any] | None:
    """The status for a transient failure that leaves Ready as it is, or None if Ready must change.

    Ready holds only for a stack that is Ready at this generation, and only for TRANSIENT_GRACE after
    the first failure in a row (when Synced turned False); a spec change or a longer outage is reported.
    """
    conditions = previous.get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == READY), None)
    if ready is None or ready.get("status") != "True" or ready.get("observedGeneration") != generation:
        return None
    synced = next((c for c in conditions if c.get("type") == SYNCED), None)
    if synced is not None and synced.get("status") == "False":
        since, moment = parse_timestamp(synced.get("lastTransitionTime")), parse_timestamp(now)
        if since is not None and moment is not None and moment - since >= TRANSIENT_GRACE:
            return None
    updated = set_condition(
        conditions, SYNCED, status="False", reason=reason, message=message, generation=generation, now=now
    )
    return {"conditions": updated}


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
        if any(c.get("type") == SYNCED for c in patch["conditions"]):
            patch["conditions"] = set_condition(
                patch["conditions"],
                SYNCED,
                status="True",
                reason="Synced",
                message="The last look at AWS succeeded",
                generation=facts.generation,
                now=facts.now,
            )
    if facts.stack_name:
        patch["stackName"] = facts.stack_name
    if facts.region:
        patch["region"] = facts.region
    if facts.desired_hash:
        patch["desiredHash"] = facts.desired_hash
    if facts.stack_id:
        patch["stackId"] = facts.stack_id
    if facts.stack is not None:
        if facts.managed:
            patch["stackId"] = facts.stack.stack_id
        patch["stackStatus"] = facts.stack.status
        patch["stackLastUpdatedTime"] = facts.stack.last_updated
        patch["stackStatusReason"] = facts.stack_status_reason or facts.stack.status_reason
        patch["outputs"] = replaced_map(previous.get("outputs"), facts.stack.outputs)
    if facts.memory is not None:
        patch["lastAppliedHash"] = facts.memory.applied_hash
        patch["lastAttemptedHash"] = facts.memory.attempted_hash
        patch["continuedRollbackHash"] = facts.memory.continued_rollback_hash
        if facts.memory.change_set_requests:  # only ever grows: a status without it has made none
            patch["changeSetRequests"] = facts.memory.change_set_requests
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
