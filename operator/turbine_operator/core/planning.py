"""Desired versus observed, to the one next action. Pure: the handler executes what this decides."""

from __future__ import annotations

import dataclasses
import enum

from turbine_operator.core.naming import OWNER_UID_TAG, change_set_name
from turbine_operator.core.observations import ObservedChangeSet, ObservedStack, StackMemory
from turbine_operator.core.stack_status import StackPhase, phase_of

# What CloudFormation says (as FAILED change set reason) when a change set would change nothing.
_NO_CHANGES_MARKERS = ("didn't contain changes", "No updates are to be performed")


class ChangeSetKind(enum.StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"


@dataclasses.dataclass(frozen=True)
class StartChangeSet:
    name: str
    kind: ChangeSetKind


@dataclasses.dataclass(frozen=True)
class ReplaceChangeSet:
    """The change set with the desired name is stale (OBSOLETE); delete it and create it anew."""

    name: str
    kind: ChangeSetKind


@dataclasses.dataclass(frozen=True)
class WaitForChangeSet:
    name: str


@dataclasses.dataclass(frozen=True)
class ExecuteChangeSet:
    change_set: ObservedChangeSet


@dataclasses.dataclass(frozen=True)
class AwaitApproval:
    change_set: ObservedChangeSet


@dataclasses.dataclass(frozen=True)
class AcceptEmptyChangeSet:
    """CloudFormation found nothing to change: the stack already is what the spec renders to."""

    name: str


@dataclasses.dataclass(frozen=True)
class WaitForStack:
    status: str


@dataclasses.dataclass(frozen=True)
class ContinueRollback:
    pass


@dataclasses.dataclass(frozen=True)
class SetTerminationProtection:
    enabled: bool


@dataclasses.dataclass(frozen=True)
class InSync:
    pass


class StallReason(enum.StrEnum):
    NOT_OWNED = "StackNotOwned"
    CREATE_FAILED = "StackCreateFailed"
    UPDATE_ROLLED_BACK = "UpdateRolledBack"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"
    DELETE_FAILED = "StackDeleteFailed"
    CHANGE_SET_FAILED = "ChangeSetFailed"


@dataclasses.dataclass(frozen=True)
class Stall:
    reason: StallReason
    message: str


Action = (
    StartChangeSet
    | ReplaceChangeSet
    | WaitForChangeSet
    | ExecuteChangeSet
    | AwaitApproval
    | AcceptEmptyChangeSet
    | WaitForStack
    | ContinueRollback
    | SetTerminationProtection
    | InSync
    | Stall
)

MUTATING_ACTIONS = (
    StartChangeSet,
    ReplaceChangeSet,
    ExecuteChangeSet,
    AcceptEmptyChangeSet,
    ContinueRollback,
    SetTerminationProtection,
)


@dataclasses.dataclass(frozen=True)
class Intent:
    """The parts of the desired state the planner needs, apart from the observation."""

    desired_hash: str
    owner_uid: str
    adopt: bool
    auto_execute: bool
    approved_change_set: str | None
    termination_protection: bool


def is_owned_by(stack: ObservedStack, owner_uid: str) -> bool:
    return stack.tags.get(OWNER_UID_TAG) == owner_uid


def is_empty_change_set(change_set: ObservedChangeSet) -> bool:
    reason = change_set.status_reason or ""
    return change_set.status == "FAILED" and any(marker in reason for marker in _NO_CHANGES_MARKERS)


def needs_change_set(intent: Intent, stack: ObservedStack | None, memory: StackMemory) -> bool:
    """Whether the planner must see the desired change set (so the adapter fetches it only then)."""
    if stack is None or (not intent.adopt and not is_owned_by(stack, intent.owner_uid)):
        return False  # the plan stalls (not ours) without looking at change sets
    phase = phase_of(stack.status)
    if phase is StackPhase.REVIEW:
        return True
    if phase is StackPhase.UPDATE_ROLLED_BACK and memory.attempted_hash == intent.desired_hash:
        return False  # the plan stalls (this spec already rolled back) without looking either
    return (
        phase in (StackPhase.STABLE, StackPhase.UPDATE_ROLLED_BACK)
        and memory.applied_hash != intent.desired_hash
    )


def plan(
    intent: Intent, stack: ObservedStack | None, change_set: ObservedChangeSet | None, memory: StackMemory
) -> Action:
    name = change_set_name(intent.desired_hash)
    if stack is None:
        return StartChangeSet(name, ChangeSetKind.CREATE)
    if not intent.adopt and not is_owned_by(stack, intent.owner_uid):
        return Stall(
            StallReason.NOT_OWNED,
            f"Stack {stack.name} exists but was not created by this TurbineStack; "
            "set spec.adopt to take it over",
        )
    phase = phase_of(stack.status)
    reason = stack.status_reason or stack.status
    if phase is StackPhase.IN_PROGRESS:
        return WaitForStack(stack.status)
    if phase is StackPhase.CREATE_FAILED:
        return Stall(StallReason.CREATE_FAILED, f"Stack {stack.name} is {stack.status}: {reason}")
    if phase is StackPhase.DELETE_FAILED:
        return Stall(StallReason.DELETE_FAILED, f"Stack {stack.name} is {stack.status}: {reason}")
    if phase is StackPhase.UPDATE_ROLLBACK_FAILED:
        if memory.continued_rollback_hash != intent.desired_hash:
            return ContinueRollback()
        return Stall(
            StallReason.UPDATE_ROLLBACK_FAILED,
            f"Stack {stack.name} is {stack.status} after one ContinueUpdateRollback: {reason}",
        )
    if phase is StackPhase.UPDATE_ROLLED_BACK and memory.attempted_hash == intent.desired_hash:
        return Stall(
            StallReason.UPDATE_ROLLED_BACK,
            f"The update of stack {stack.name} rolled back ({reason}); change the spec to try again",
        )
    if phase is not StackPhase.REVIEW and memory.applied_hash == intent.desired_hash:
        return _in_sync(intent, stack)
    kind = ChangeSetKind.CREATE if phase is StackPhase.REVIEW else ChangeSetKind.UPDATE
    return _plan_change_set(intent, stack, name, kind, change_set)


def _in_sync(intent: Intent, stack: ObservedStack) -> Action:
    if stack.termination_protection != intent.termination_protection:
        return SetTerminationProtection(intent.termination_protection)
    return InSync()


def _plan_change_set(
    intent: Intent, stack: ObservedStack, name: str, kind: ChangeSetKind, change_set: ObservedChangeSet | None
) -> Action:
    if change_set is None:
        return StartChangeSet(name, kind)
    if change_set.status in ("CREATE_PENDING", "CREATE_IN_PROGRESS"):
        return WaitForChangeSet(name)
    if is_empty_change_set(change_set):
        return AcceptEmptyChangeSet(name)
    if change_set.status == "FAILED":
        return Stall(StallReason.CHANGE_SET_FAILED, f"Change set {name} failed: {change_set.status_reason}")
    execution = change_set.execution_status
    if execution == "AVAILABLE":
        if intent.auto_execute or intent.approved_change_set == name:
            return ExecuteChangeSet(change_set)
        return AwaitApproval(change_set)
    if execution == "EXECUTE_IN_PROGRESS":
        return WaitForStack(stack.status)
    if execution == "EXECUTE_COMPLETE" and phase_of(stack.status) is StackPhase.STABLE:
        return _in_sync(intent, stack)
    if execution == "EXECUTE_FAILED":
        return Stall(
            StallReason.UPDATE_ROLLED_BACK,
            f"Change set {name} failed to execute ({stack.status}: {stack.status_reason}); "
            "change the spec to retry",
        )
    # OBSOLETE or UNAVAILABLE: the stack moved on since the change set was computed.
    return ReplaceChangeSet(name, kind)
