"""Whose stack it is: the one decision reconcile and deletion both take, in the order docs/ownership.md draws.

The inputs are what AWS and the TurbineStack remember: the stack's owner tags (for a stack in review, those
of its change sets, which the adapter merges in), the stack id this TurbineStack recorded in status.stackId
(written only for stacks it may manage, first from its own CreateChangeSet's reply), whether spec.adopt is
set and whether the TurbineStack the tags name still exists. Tags are mutable: the Tags of an outside
`update-stack --tags ...` become the stack's tags, ours gone (API_UpdateStack, Tags,
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_UpdateStack.html), so a stack without
owner tags whose id this TurbineStack recorded is still its own, and is tagged again.
"""

from __future__ import annotations

import dataclasses
import enum

from turbine_operator.core.naming import OWNER_NAME_TAG, OWNER_NAMESPACE_TAG, OWNER_UID_TAG
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.core.observed.stack_status import StackPhase, phase_of


class Claim(enum.StrEnum):
    OURS = "ours"  # its owner tags name this TurbineStack
    RECORDED = "recorded"  # no owner tags, but status.stackId records it: ours, its tags to be put back
    ADOPTABLE = "adoptable"  # spec.adopt, and no TurbineStack that still exists owns it
    ANOTHERS = "anothers"  # its tags name another TurbineStack (that still exists, if spec.adopt)
    UNOWNED = "unowned"  # no owner tags, not recorded, no spec.adopt: not ours to touch
    LOST_IN_DELETION = "lost-in-deletion"  # untagged, unrecorded and being deleted: whose can't be read
    NOT_TURBINE = "not-turbine"  # spec.adopt would take it, but its template is not a Turbine master


@dataclasses.dataclass(frozen=True)
class OwnerRef:
    """The TurbineStack a stack's ownership tags name."""

    namespace: str
    name: str
    uid: str


@dataclasses.dataclass(frozen=True)
class Ownership:
    claim: Claim
    owner: OwnerRef | None = None  # the other TurbineStack the tags name, if any

    @property
    def manageable(self) -> bool:
        """Whether this TurbineStack may change (and delete) the stack."""
        return self.claim in (Claim.OURS, Claim.RECORDED, Claim.ADOPTABLE)


def named_owner(stack: ObservedStack | None, uid: str) -> OwnerRef | None:
    """Another TurbineStack that the stack's tags name as owner (None if ours or untagged): spec.adopt may
    take the stack over only when that one no longer exists, so the caller looks it up for `owner_alive`."""
    if stack is None:
        return None
    tagged = stack.tags.get(OWNER_UID_TAG)
    if not tagged or tagged == uid:
        return None
    return OwnerRef(stack.tags.get(OWNER_NAMESPACE_TAG, ""), stack.tags.get(OWNER_NAME_TAG, ""), tagged)


def ownership(
    stack: ObservedStack,
    *,
    uid: str,
    recorded_stack_id: str | None,
    adopt: bool,
    owner_alive: bool,
) -> Ownership:
    """Whose `stack` is, for the TurbineStack `uid` (see docs/ownership.md for the order)."""
    tagged = stack.tags.get(OWNER_UID_TAG)
    if tagged == uid:
        return Ownership(Claim.OURS)
    if tagged:
        owner = named_owner(stack, uid)
        if adopt and not owner_alive:
            return _adoptable(stack, owner)
        return Ownership(Claim.ANOTHERS, owner)
    if recorded_stack_id and stack.stack_id == recorded_stack_id:
        return Ownership(Claim.RECORDED)
    if stack.status == "DELETE_IN_PROGRESS":
        # The stub of a CREATE change set takes its owner from its change sets, which its DeleteStack deletes:
        # while it goes nothing tells whose it was, so a deletion waits for it instead of releasing.
        return Ownership(Claim.LOST_IN_DELETION)
    return _adoptable(stack) if adopt else Ownership(Claim.UNOWNED)


def _adoptable(stack: ObservedStack, owner: OwnerRef | None = None) -> Ownership:
    """spec.adopt takes only a Turbine stack: adopting replaces the template, and CloudFormation deletes the
    resources the new one lacks, so another kind of stack would lose them. A stack in review holds no
    resources yet (its CREATE change set is not executed), so it needs no look at a template."""
    if stack.turbine_master or phase_of(stack.status) is StackPhase.REVIEW:
        return Ownership(Claim.ADOPTABLE, owner)
    return Ownership(Claim.NOT_TURBINE, owner)


def needs_template(
    stack: ObservedStack | None, *, uid: str, recorded_stack_id: str | None, adopt: bool, owner_alive: bool
) -> bool:
    """Whether spec.adopt would take the stack if its template is a Turbine master, not read yet: the edges
    then read it (GetTemplate) and set ObservedStack.turbine_master before asking ownership() again."""
    if stack is None or not adopt or stack.turbine_master is not None:
        return False
    claim = ownership(
        stack, uid=uid, recorded_stack_id=recorded_stack_id, adopt=adopt, owner_alive=owner_alive
    ).claim
    return claim is Claim.NOT_TURBINE


def goes_by_legacy_name(stack: ObservedStack | None, *, namespace: str, name: str) -> bool:
    """Whether the stack found under the legacy default name (naming.legacy_stack_name) is the one an earlier
    operator made for this TurbineStack, which then keeps that name: its owner tags name this namespace and
    name. Any uid: a TurbineStack restored from a backup has a new one, and ownership() then decides as the
    earlier operator would have. A stack tagged for another TurbineStack (`team/a-prod`'s `team-a-prod`, for
    `team-a/prod`) or not tagged at all is not looked at again: the TurbineStack takes its own default name.
    """
    if stack is None:
        return False
    return stack.tags.get(OWNER_NAMESPACE_TAG) == namespace and stack.tags.get(OWNER_NAME_TAG) == name
