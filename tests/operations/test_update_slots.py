"""Staged rollouts: an operator-wide limit on stack updates in flight."""

from __future__ import annotations

from stubbed.aws import QUEUE, STACK_NAME, resource_change
from turbine_operator.operations.fleet.rate_limits import UpdateSlots
from turbine_operator.operations.stack.reconcile import Reconciler

from .harness import (
    StubbedAws,
    change_set_for,
    conditions,
    desired_for,
    execute_token_for,
    stack_resource,
)

OLD_HASH = "0" * 32
OTHER_UID = "0b5e7e4c-1111-2222-3333-444455556666"


def test_slots_are_limited_and_given_back() -> None:
    seen: list[tuple[int, int]] = []
    slots = UpdateSlots(limit=2, observer=lambda held, waiting: seen.append((held, waiting)))
    assert slots.try_acquire("a")
    assert slots.try_acquire("b")
    assert slots.try_acquire("a")  # a stack that holds a slot keeps it
    assert not slots.try_acquire("c")
    assert seen[-1] == (2, 1)
    slots.release("a")
    assert slots.try_acquire("c")
    assert seen[-1] == (2, 0)
    slots.occupy("d")  # found updating after a restart: counted even beyond the limit
    assert seen[-1] == (3, 0)
    assert not slots.available_to("e")


def test_no_limit_when_zero() -> None:
    slots = UpdateSlots(limit=0)
    assert all(slots.try_acquire(str(number)) for number in range(100))


def test_an_update_waits_for_a_slot_without_executing(aws: StubbedAws, reconciler: Reconciler) -> None:
    slots = UpdateSlots(limit=1)
    assert slots.try_acquire("another-stack")
    limited = Reconciler(
        reconciler._sessions,
        reconciler._sources,
        reconciler._settings,
        reconciler._objects,
        slots=slots,
    )
    resource = stack_resource(status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH})
    desired = desired_for(resource)
    name = change_set_for(desired)
    aws.stack("UPDATE_COMPLETE")
    aws.change_set(name, changes=[resource_change("Modify", "TaskQueue", QUEUE)])

    outcome = limited.reconcile(resource)

    aws.verify()
    assert aws.mutating_calls == []
    found = conditions(outcome)
    assert (found["Reconciling"]["status"], found["Reconciling"]["reason"]) == (
        "True",
        "WaitingForUpdateSlot",
    )

    # The other stack's update finished: this one takes the slot and executes.
    slots.release("another-stack")
    aws.stack("UPDATE_COMPLETE")
    aws.change_set(name, changes=[resource_change("Modify", "TaskQueue", QUEUE)])
    aws.execute_change_set(name, execute_token_for(desired, name))

    outcome = limited.reconcile(resource)

    aws.verify()
    assert aws.mutating_calls == ["ExecuteChangeSet"]
    assert not slots.available_to("a-third-stack")


def test_someone_elses_stack_being_updated_takes_no_slot(aws: StubbedAws, reconciler: Reconciler) -> None:
    # A TurbineStack stalled on another's stack must not count that stack's update against the operator's
    # own: the slots pace this operator's updates only.
    slots = UpdateSlots(limit=1)
    limited = Reconciler(
        reconciler._sessions,
        reconciler._sources,
        reconciler._settings,
        reconciler._objects,
        slots=slots,
    )
    aws.stack("UPDATE_IN_PROGRESS", owner_uid=OTHER_UID)

    outcome = limited.reconcile(stack_resource())

    aws.verify()
    assert conditions(outcome)["Stalled"]["reason"] == "StackNotOwned"
    assert slots.available_to("one-of-ours")
