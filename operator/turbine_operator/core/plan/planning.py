"""Desired versus observed, to the one next action. Pure: the handler executes what this decides."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence

from turbine_operator.core.access.ownership import Claim, Ownership, ownership
from turbine_operator.core.access.ownership import needs_template as ownership_needs_template
from turbine_operator.core.naming import OWNER_UID_TAG, change_set_name
from turbine_operator.core.observed.observations import ObservedChangeSet, ObservedStack, StackMemory
from turbine_operator.core.observed.stack_status import StackPhase, phase_of
from turbine_operator.core.render.templates import TURBINE_MASTER, TURBINE_TEMPLATE_METADATA

# What CloudFormation says (as FAILED change set reason) when a change set would change nothing.
_NO_CHANGES_MARKERS = ("didn't contain changes", "No updates are to be performed")


class ChangeSetKind(enum.StrEnum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"


@dataclasses.dataclass(frozen=True)
class StartChangeSet:
    """Create the change set `name`. `request` is how many change sets were requested before this one
    (StackMemory.change_set_requests): with the name, it makes the ClientToken, so a retry of this request
    repeats the token and a later request for the same name never does."""

    name: str
    kind: ChangeSetKind
    request: int = 0


@dataclasses.dataclass(frozen=True)
class DiscardChangeSet:
    """The change set with the desired name can no longer be executed (OBSOLETE): delete it.

    CloudFormation deletes change sets asynchronously, so the name is re-created only once a
    later look finds it gone (meanwhile the plan is WaitForChangeSet).
    """

    name: str


@dataclasses.dataclass(frozen=True)
class WaitForChangeSet:
    name: str


@dataclasses.dataclass(frozen=True)
class ExecuteChangeSet:
    change_set: ObservedChangeSet


@dataclasses.dataclass(frozen=True)
class WaitForUpdateSlot:
    """The update is ready to run, but the operator already runs as many updates as it may at once."""

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
    # Not this TurbineStack's stack, but one being deleted: its name is free once it is gone.
    foreign: bool = False


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
    OWNED_BY_ANOTHER = "StackOwnedByAnotherTurbineStack"
    CREATE_FAILED = "StackCreateFailed"
    UPDATE_ROLLED_BACK = "UpdateRolledBack"
    UPDATE_ROLLBACK_FAILED = "UpdateRollbackFailed"
    DELETE_FAILED = "StackDeleteFailed"
    CHANGE_SET_FAILED = "ChangeSetFailed"
    ACCOUNT_CHANGED = "StackAccountChanged"  # core/plan/accounts.py
    NOT_TURBINE = "StackNotTurbine"  # spec.adopt on a stack whose template is not a Turbine master


@dataclasses.dataclass(frozen=True)
class Stall:
    reason: StallReason
    message: str


Action = (
    StartChangeSet
    | DiscardChangeSet
    | WaitForChangeSet
    | ExecuteChangeSet
    | WaitForUpdateSlot
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
    DiscardChangeSet,
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
    remediate: bool = False  # spec.driftDetection.remediate: re-apply the spec over outside changes
    update_slot_free: bool = True  # whether the operator-wide limit of concurrent updates allows one more
    recorded_stack_id: str | None = None  # status.stackId: the stack this TurbineStack made or managed


def owner_of(intent: Intent, stack: ObservedStack, owner_alive: bool) -> Ownership:
    """Whose the stack is, for this TurbineStack (core/access/ownership.py)."""
    return ownership(
        stack,
        uid=intent.owner_uid,
        recorded_stack_id=intent.recorded_stack_id,
        adopt=intent.adopt,
        owner_alive=owner_alive,
    )


def may_manage(intent: Intent, stack: ObservedStack, owner_alive: bool) -> bool:
    """Ours (by its tags, or by status.stackId when they are gone), or adoptable."""
    return owner_of(intent, stack, owner_alive).manageable


def shown_stack(intent: Intent, stack: ObservedStack | None, owner_alive: bool) -> ObservedStack | None:
    """The stack as this TurbineStack's status shows it. Someone else's shows its id and status (why this one
    waits or stalls) but not its outputs: they are not this TurbineStack's to publish (status.outputs,
    spec.outputsConfigMap), and naming another's stack in spec.stackName must not be a way to read them."""
    if stack is None or may_manage(intent, stack, owner_alive):
        return stack
    return dataclasses.replace(stack, outputs={})


def attempt_of(stack: ObservedStack | None) -> str:
    """What tells apart attempts at one desired state: the stack's last update (none before creation)."""
    if stack is None or phase_of(stack.status) is StackPhase.REVIEW:
        return ""
    return stack.last_updated or ""


def desired_change_set(intent: Intent, stack: ObservedStack | None) -> str:
    return change_set_name(intent.desired_hash, attempt_of(stack))


def needs_owner_from_change_set(stack: ObservedStack | None) -> bool:
    """A stack a CREATE change set made carries no tags until the change set is executed: while it is
    in review, its owner can only be read from its change sets (the desired one first)."""
    if stack is None or OWNER_UID_TAG in stack.tags:
        return False
    return phase_of(stack.status) is StackPhase.REVIEW


def is_empty_change_set(change_set: ObservedChangeSet) -> bool:
    reason = change_set.status_reason or ""
    return change_set.status == "FAILED" and any(marker in reason for marker in _NO_CHANGES_MARKERS)


def needs_last_operation(stack: ObservedStack) -> bool:
    """Whether the plan needs to know which desired hash the stack's last operation tried.

    Only a rolled-back or rollback-failed stack needs it (to not retry what already failed), so
    the stack's events are read only then.
    """
    return phase_of(stack.status) in (StackPhase.UPDATE_ROLLED_BACK, StackPhase.UPDATE_ROLLBACK_FAILED)


def needs_update_slot(action: Action, stack: ObservedStack | None) -> bool:
    """Whether executing the action starts an update of a live stack (limited operator-wide)."""
    return (
        isinstance(action, ExecuteChangeSet)
        and stack is not None
        and phase_of(stack.status) is not StackPhase.REVIEW
    )


def holds_update_slot(intent: Intent, stack: ObservedStack | None, owner_alive: bool = False) -> bool:
    """Whether this TurbineStack's stack is in the middle of an update (which keeps its slot taken). Someone
    else's update takes none: the slots pace this operator's updates."""
    return (
        stack is not None
        and may_manage(intent, stack, owner_alive)
        and phase_of(stack.status) is StackPhase.IN_PROGRESS
        and stack.status.startswith("UPDATE_")
    )


def needs_spec_comparison(
    intent: Intent, stack: ObservedStack | None, memory: StackMemory, owner_alive: bool = False
) -> bool:
    """Whether the plan needs the live stack compared with the spec (a settled stack of ours)."""
    if stack is None or not may_manage(intent, stack, owner_alive) or _retagging(intent, stack, owner_alive):
        return False  # not ours, or updated anyway to put its tags back
    return phase_of(stack.status) is StackPhase.STABLE and memory.applied_hash == intent.desired_hash


def needs_change_set(
    intent: Intent,
    stack: ObservedStack | None,
    memory: StackMemory,
    differences: Sequence[str] | None = None,
    owner_alive: bool = False,
) -> bool:
    """Whether the planner must see the desired change set (so the adapter fetches it only then)."""
    if stack is None or not may_manage(intent, stack, owner_alive):
        return False  # the plan stalls (not ours) without looking at change sets
    phase = phase_of(stack.status)
    if phase is StackPhase.REVIEW:
        return True
    if phase is StackPhase.UPDATE_ROLLED_BACK and memory.attempted_hash == intent.desired_hash:
        return False  # the plan stalls (this spec already rolled back) without looking either
    if phase is StackPhase.STABLE and memory.applied_hash == intent.desired_hash:
        return _remediating(intent, differences) or _retagging(intent, stack, owner_alive)
    return phase in (StackPhase.STABLE, StackPhase.UPDATE_ROLLED_BACK)


def _retagging(intent: Intent, stack: ObservedStack, owner_alive: bool) -> bool:
    """Ours by status.stackId only: its owner tags were replaced from outside; an update puts them back."""
    return owner_of(intent, stack, owner_alive).claim is Claim.RECORDED


def _remediating(intent: Intent, differences: Sequence[str] | None) -> bool:
    return intent.remediate and bool(differences)


def plan(
    intent: Intent,
    stack: ObservedStack | None,
    change_set: ObservedChangeSet | None,
    memory: StackMemory,
    *,
    differences: Sequence[str] | None = None,
    owner_alive: bool = False,
) -> Action:
    """The one next action. `differences` is how the live stack differs from the spec (None when not
    compared); `owner_alive` whether the TurbineStack the stack's tags name still exists."""
    name = desired_change_set(intent, stack)
    if stack is None:
        return StartChangeSet(name, ChangeSetKind.CREATE, memory.change_set_requests)
    if not may_manage(intent, stack, owner_alive):
        if stack.status == "DELETE_IN_PROGRESS":
            # Someone else's stack on its way out, as when a TurbineStack is deleted and one with the same
            # stack name applied in its place: not ours to touch, and not a stall either. The follow-ups look
            # until it is gone, and the next look creates this TurbineStack's own.
            return WaitForStack(stack.status, foreign=True)
        return _not_ours(intent, stack, owner_alive)
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
        if not (_remediating(intent, differences) or _retagging(intent, stack, owner_alive)):
            return _in_sync(intent, stack)
        if change_set is None or change_set.execution_status == "EXECUTE_COMPLETE":
            # The stack was changed outside the operator: re-apply the spec over it.
            return StartChangeSet(name, ChangeSetKind.UPDATE, memory.change_set_requests)
    kind = ChangeSetKind.CREATE if phase is StackPhase.REVIEW else ChangeSetKind.UPDATE
    return _plan_change_set(intent, stack, StartChangeSet(name, kind, memory.change_set_requests), change_set)


def needs_template(intent: Intent, stack: ObservedStack | None, owner_alive: bool) -> bool:
    """Whether the plan needs to know if the stack's template is a Turbine master (core.access.ownership):
    only for a stack spec.adopt would take over, read once per look until it is ours."""
    return ownership_needs_template(
        stack,
        uid=intent.owner_uid,
        recorded_stack_id=intent.recorded_stack_id,
        adopt=intent.adopt,
        owner_alive=owner_alive,
    )


def _not_ours(intent: Intent, stack: ObservedStack, owner_alive: bool) -> Stall:
    if owner_of(intent, stack, owner_alive).claim is Claim.NOT_TURBINE:
        return Stall(
            StallReason.NOT_TURBINE,
            f"Stack {stack.name} is not a Turbine stack: its template's Metadata has no "
            f"{TURBINE_TEMPLATE_METADATA}: {TURBINE_MASTER}. spec.adopt takes over only Turbine stacks, "
            "since adopting replaces the template and CloudFormation would delete the resources the "
            "Turbine one lacks",
        )
    if intent.adopt:
        owner = owner_of(intent, stack, owner_alive=True).owner
        who = f"{owner.namespace}/{owner.name}" if owner else "another TurbineStack"
        return Stall(
            StallReason.OWNED_BY_ANOTHER,
            f"Stack {stack.name} belongs to TurbineStack {who}, which still exists; "
            "spec.adopt takes over only stacks whose TurbineStack is gone",
        )
    if phase_of(stack.status) is StackPhase.REVIEW and OWNER_UID_TAG not in stack.tags:
        return Stall(
            StallReason.NOT_OWNED,
            f"Stack {stack.name} is in review with no change set that names its owner; "
            "delete the stack or set spec.adopt to take it over",
        )
    return Stall(
        StallReason.NOT_OWNED,
        f"Stack {stack.name} exists but was not created by this TurbineStack; set spec.adopt to take it over",
    )


def _in_sync(intent: Intent, stack: ObservedStack) -> Action:
    if stack.termination_protection != intent.termination_protection:
        return SetTerminationProtection(intent.termination_protection)
    return InSync()


def _plan_change_set(
    intent: Intent, stack: ObservedStack, start: StartChangeSet, change_set: ObservedChangeSet | None
) -> Action:
    """What to do with the desired change set; `start` is how to create it if it is missing."""
    name, kind = start.name, start.kind
    if change_set is None:
        return start
    if change_set.status in ("CREATE_PENDING", "CREATE_IN_PROGRESS") or change_set.status.startswith(
        "DELETE_"
    ):
        # Being computed, or being deleted (asynchronously): the next look decides.
        return WaitForChangeSet(name)
    if is_empty_change_set(change_set):
        return AcceptEmptyChangeSet(name)
    if change_set.status == "FAILED":
        return Stall(StallReason.CHANGE_SET_FAILED, f"Change set {name} failed: {change_set.status_reason}")
    execution = change_set.execution_status
    if execution == "AVAILABLE":
        if not (intent.auto_execute or intent.approved_change_set == name):
            return AwaitApproval(change_set)
        if kind is ChangeSetKind.UPDATE and not intent.update_slot_free:
            return WaitForUpdateSlot(change_set)  # creations are not limited: they disturb nothing running
        return ExecuteChangeSet(change_set)
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
    if kind is ChangeSetKind.CREATE:
        # A stack in review cannot move on without this change set, so it cannot be stale: a
        # moment's UNAVAILABLE passes. Deleting it would leave the stack untagged with no change
        # set, and nothing would show whose it is.
        return WaitForChangeSet(name)
    # OBSOLETE or UNAVAILABLE: the stack moved on since the change set was computed.
    return DiscardChangeSet(name)
