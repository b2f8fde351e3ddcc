"""The planner as a decision table: (intent, stack, change set, memory) -> the one next action."""

from __future__ import annotations

import dataclasses
import itertools
import typing

import pytest
from mypy_boto3_cloudformation.literals import StackStatusType

from turbine_operator.core.naming import change_set_name, ownership_tags
from turbine_operator.core.observed.observations import (
    ObservedChangeSet,
    ObservedStack,
    ResourceChange,
    StackMemory,
)
from turbine_operator.core.plan.planning import (
    AcceptEmptyChangeSet,
    Action,
    AwaitApproval,
    ChangeSetKind,
    ContinueRollback,
    DiscardChangeSet,
    ExecuteChangeSet,
    InSync,
    Intent,
    SetTerminationProtection,
    Stall,
    StallReason,
    StartChangeSet,
    WaitForChangeSet,
    WaitForStack,
    WaitForUpdateSlot,
    desired_change_set,
    holds_update_slot,
    is_empty_change_set,
    may_manage,
    needs_change_set,
    needs_last_operation,
    needs_spec_comparison,
    needs_template,
    needs_update_slot,
    plan,
    shown_stack,
)

DESIRED = "d" * 32
PREVIOUS = "p" * 32
UID = "6f1c0d3e-8a40-4c57-9a0e-6d2d5b1c2f10"
NAME = change_set_name(DESIRED)
NO_CHANGES = (
    "The submitted information didn't contain changes. Submit different information to create a change set."
)
NO_UPDATES = "No updates are to be performed."

AUTO = Intent(
    desired_hash=DESIRED,
    owner_uid=UID,
    adopt=False,
    auto_execute=True,
    approved_change_set=None,
    termination_protection=False,
)
MANUAL = dataclasses.replace(AUTO, auto_execute=False)
FRESH = StackMemory()
APPLIED = StackMemory(applied_hash=DESIRED, attempted_hash=DESIRED)
OUTDATED = StackMemory(applied_hash=PREVIOUS, attempted_hash=PREVIOUS)


def stack(
    status: str,
    *,
    owner: str | None = UID,
    protection: bool = False,
    reason: str | None = None,
    turbine_master: bool | None = True,
) -> ObservedStack:
    """A stack whose template is a Turbine master (as the edges read it for an adopter) unless told."""
    tags = ownership_tags("airflow", "prod", owner) if owner else {"team": "data"}
    return ObservedStack(
        stack_id=f"arn:aws:cloudformation:eu-west-1:123456789012:stack/airflow-prod/{status.lower()}",
        name="airflow-prod",
        status=status,
        status_reason=reason,
        tags=tags,
        outputs={},
        termination_protection=protection,
        turbine_master=turbine_master,
    )


def change_set(
    status: str = "CREATE_COMPLETE", execution: str = "AVAILABLE", reason: str | None = None
) -> ObservedChangeSet:
    return ObservedChangeSet(
        name=NAME,
        status=status,
        execution_status=execution,
        status_reason=reason,
        changes=(ResourceChange("Modify", "TaskQueue", "AWS::SQS::Queue", "False"),),
    )


AVAILABLE = change_set()

IN_PROGRESS_STATUSES = [
    "CREATE_IN_PROGRESS",
    "ROLLBACK_IN_PROGRESS",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    "DELETE_IN_PROGRESS",
    "IMPORT_IN_PROGRESS",
    "IMPORT_ROLLBACK_IN_PROGRESS",
]

Expected = Action | StallReason


def check(action: Action, expected: Expected) -> None:
    """A StallReason matches any Stall with that reason (messages are for people, not tables)."""
    if isinstance(expected, StallReason):
        assert isinstance(action, Stall), action
        assert action.reason is expected
        assert action.message
    else:
        assert action == expected


# (intent, stack, change set, memory, expected): the stack-level branches.
STACK_CASES: list[
    tuple[str, Intent, ObservedStack | None, ObservedChangeSet | None, StackMemory, Expected]
] = [
    ("no-stack-creates", AUTO, None, None, FRESH, StartChangeSet(NAME, ChangeSetKind.CREATE)),
    ("no-stack-ignores-memory", AUTO, None, None, APPLIED, StartChangeSet(NAME, ChangeSetKind.CREATE)),
    ("foreign-stack-stalls", AUTO, stack("CREATE_COMPLETE", owner=None), None, FRESH, StallReason.NOT_OWNED),
    (
        "other-owners-stack-stalls",
        AUTO,
        stack("CREATE_COMPLETE", owner="someone-else"),
        None,
        FRESH,
        StallReason.NOT_OWNED,
    ),
    (
        "foreign-stack-stalls-even-while-busy",
        AUTO,
        stack("UPDATE_IN_PROGRESS", owner=None),
        None,
        FRESH,
        StallReason.NOT_OWNED,
    ),
    (
        "adopt-takes-over-foreign-stack",
        dataclasses.replace(AUTO, adopt=True),
        stack("CREATE_COMPLETE", owner=None),
        None,
        FRESH,
        StartChangeSet(NAME, ChangeSetKind.UPDATE),
    ),
    (
        "adopt-executes-on-foreign-stack",
        dataclasses.replace(AUTO, adopt=True),
        stack("UPDATE_COMPLETE", owner="someone-else"),
        AVAILABLE,
        FRESH,
        ExecuteChangeSet(AVAILABLE),
    ),
    ("create-failed-stalls", AUTO, stack("CREATE_FAILED"), None, FRESH, StallReason.CREATE_FAILED),
    ("rollback-complete-stalls", AUTO, stack("ROLLBACK_COMPLETE"), None, FRESH, StallReason.CREATE_FAILED),
    ("rollback-failed-stalls", AUTO, stack("ROLLBACK_FAILED"), None, APPLIED, StallReason.CREATE_FAILED),
    ("delete-failed-stalls", AUTO, stack("DELETE_FAILED"), None, APPLIED, StallReason.DELETE_FAILED),
    (
        "update-rollback-failed-continues",
        AUTO,
        stack("UPDATE_ROLLBACK_FAILED"),
        None,
        OUTDATED,
        ContinueRollback(),
    ),
    (
        "update-rollback-failed-continues-once-per-desired-state",
        AUTO,
        stack("UPDATE_ROLLBACK_FAILED"),
        None,
        dataclasses.replace(OUTDATED, continued_rollback_hash=PREVIOUS),
        ContinueRollback(),
    ),
    (
        "update-rollback-failed-after-continuing-stalls",
        AUTO,
        stack("UPDATE_ROLLBACK_FAILED"),
        None,
        dataclasses.replace(OUTDATED, continued_rollback_hash=DESIRED),
        StallReason.UPDATE_ROLLBACK_FAILED,
    ),
    (
        "import-rollback-failed-continues",
        AUTO,
        stack("IMPORT_ROLLBACK_FAILED"),
        None,
        OUTDATED,
        ContinueRollback(),
    ),
    (
        "update-rolled-back-same-desired-stalls",
        AUTO,
        stack("UPDATE_ROLLBACK_COMPLETE"),
        AVAILABLE,
        StackMemory(applied_hash=PREVIOUS, attempted_hash=DESIRED),
        StallReason.UPDATE_ROLLED_BACK,
    ),
    (
        "update-rolled-back-new-desired-starts-change-set",
        AUTO,
        stack("UPDATE_ROLLBACK_COMPLETE"),
        None,
        OUTDATED,
        StartChangeSet(NAME, ChangeSetKind.UPDATE),
    ),
    (
        "update-rolled-back-new-desired-executes",
        AUTO,
        stack("UPDATE_ROLLBACK_COMPLETE"),
        AVAILABLE,
        OUTDATED,
        ExecuteChangeSet(AVAILABLE),
    ),
    (
        # The spec went back to what the stack was rolled back to.
        "update-rolled-back-to-desired-is-in-sync",
        AUTO,
        stack("UPDATE_ROLLBACK_COMPLETE"),
        None,
        StackMemory(applied_hash=DESIRED, attempted_hash=PREVIOUS),
        InSync(),
    ),
    ("applied-create-complete-in-sync", AUTO, stack("CREATE_COMPLETE"), None, APPLIED, InSync()),
    ("applied-update-complete-in-sync", AUTO, stack("UPDATE_COMPLETE"), None, APPLIED, InSync()),
    ("applied-import-complete-in-sync", AUTO, stack("IMPORT_COMPLETE"), None, APPLIED, InSync()),
    (
        "applied-ignores-a-leftover-change-set",
        AUTO,
        stack("UPDATE_COMPLETE"),
        change_set(execution="OBSOLETE"),
        APPLIED,
        InSync(),
    ),
    (
        "applied-enables-termination-protection",
        dataclasses.replace(AUTO, termination_protection=True),
        stack("UPDATE_COMPLETE"),
        None,
        APPLIED,
        SetTerminationProtection(True),
    ),
    (
        "applied-disables-termination-protection",
        AUTO,
        stack("UPDATE_COMPLETE", protection=True),
        None,
        APPLIED,
        SetTerminationProtection(False),
    ),
    (
        "applied-with-protection-already-on-in-sync",
        dataclasses.replace(AUTO, termination_protection=True),
        stack("UPDATE_COMPLETE", protection=True),
        None,
        APPLIED,
        InSync(),
    ),
    (
        "outdated-stable-starts-update",
        AUTO,
        stack("UPDATE_COMPLETE"),
        None,
        OUTDATED,
        StartChangeSet(NAME, ChangeSetKind.UPDATE),
    ),
    (
        "never-applied-stable-starts-update",
        AUTO,
        stack("CREATE_COMPLETE"),
        None,
        FRESH,
        StartChangeSet(NAME, ChangeSetKind.UPDATE),
    ),
    (
        "review-starts-create",
        AUTO,
        stack("REVIEW_IN_PROGRESS"),
        None,
        FRESH,
        StartChangeSet(NAME, ChangeSetKind.CREATE),
    ),
    (
        # A REVIEW stack has nothing applied, whatever the memory says.
        "review-with-applied-memory-still-creates",
        AUTO,
        stack("REVIEW_IN_PROGRESS"),
        None,
        APPLIED,
        StartChangeSet(NAME, ChangeSetKind.CREATE),
    ),
    (
        "review-executes-create",
        AUTO,
        stack("REVIEW_IN_PROGRESS"),
        AVAILABLE,
        FRESH,
        ExecuteChangeSet(AVAILABLE),
    ),
    (
        "review-manual-awaits-approval",
        MANUAL,
        stack("REVIEW_IN_PROGRESS"),
        AVAILABLE,
        FRESH,
        AwaitApproval(AVAILABLE),
    ),
    ("unknown-status-waits", AUTO, stack("SOMETHING_NEW"), None, FRESH, WaitForStack("SOMETHING_NEW")),
]


@pytest.mark.parametrize(
    ("intent", "observed", "observed_change_set", "memory", "expected"),
    [pytest.param(*case, id=case_id) for case_id, *case in STACK_CASES],
)
def test_plan_for_the_stack(
    intent: Intent,
    observed: ObservedStack | None,
    observed_change_set: ObservedChangeSet | None,
    memory: StackMemory,
    expected: Expected,
) -> None:
    check(plan(intent, observed, observed_change_set, memory), expected)


@pytest.mark.parametrize("status", IN_PROGRESS_STATUSES)
@pytest.mark.parametrize("memory", [FRESH, APPLIED, OUTDATED], ids=["fresh", "applied", "outdated"])
def test_stack_in_progress_waits(status: str, memory: StackMemory) -> None:
    assert plan(AUTO, stack(status), AVAILABLE, memory) == WaitForStack(status)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("CREATE_FAILED", "Resource creation cancelled"),
        ("DELETE_FAILED", "Bucket not empty"),
        ("ROLLBACK_COMPLETE", None),
    ],
)
def test_stall_message_names_the_stack_and_why(status: str, reason: str | None) -> None:
    action = plan(AUTO, stack(status, reason=reason), None, FRESH)
    assert isinstance(action, Stall)
    assert "airflow-prod" in action.message
    assert (reason or status) in action.message


# (intent, change set, expected) on an outdated, owned UPDATE_COMPLETE stack: the change-set branches.
CHANGE_SET_CASES: list[tuple[str, Intent, ObservedChangeSet | None, Expected]] = [
    ("missing-starts", AUTO, None, StartChangeSet(NAME, ChangeSetKind.UPDATE)),
    ("create-pending-waits", AUTO, change_set("CREATE_PENDING", "UNAVAILABLE"), WaitForChangeSet(NAME)),
    (
        "create-in-progress-waits",
        AUTO,
        change_set("CREATE_IN_PROGRESS", "UNAVAILABLE"),
        WaitForChangeSet(NAME),
    ),
    (
        "failed-no-changes-accepted",
        AUTO,
        change_set("FAILED", "UNAVAILABLE", NO_CHANGES),
        AcceptEmptyChangeSet(NAME),
    ),
    (
        "failed-no-updates-accepted",
        AUTO,
        change_set("FAILED", "UNAVAILABLE", NO_UPDATES),
        AcceptEmptyChangeSet(NAME),
    ),
    (
        "failed-no-changes-accepted-even-in-manual",
        MANUAL,
        change_set("FAILED", "UNAVAILABLE", NO_CHANGES),
        AcceptEmptyChangeSet(NAME),
    ),
    (
        "failed-template-error-stalls",
        AUTO,
        change_set("FAILED", "UNAVAILABLE", "Template format error: Unresolved resource dependencies"),
        StallReason.CHANGE_SET_FAILED,
    ),
    (
        "failed-without-reason-stalls",
        AUTO,
        change_set("FAILED", "UNAVAILABLE", None),
        StallReason.CHANGE_SET_FAILED,
    ),
    ("available-auto-executes", AUTO, AVAILABLE, ExecuteChangeSet(AVAILABLE)),
    ("available-manual-awaits-approval", MANUAL, AVAILABLE, AwaitApproval(AVAILABLE)),
    (
        "available-manual-approved-executes",
        dataclasses.replace(MANUAL, approved_change_set=NAME),
        AVAILABLE,
        ExecuteChangeSet(AVAILABLE),
    ),
    (
        # An approval of an earlier change set does not carry over to a different desired state.
        "available-manual-other-approved-awaits",
        dataclasses.replace(MANUAL, approved_change_set=change_set_name(PREVIOUS)),
        AVAILABLE,
        AwaitApproval(AVAILABLE),
    ),
    (
        "execute-in-progress-waits",
        AUTO,
        change_set(execution="EXECUTE_IN_PROGRESS"),
        WaitForStack("UPDATE_COMPLETE"),
    ),
    ("execute-complete-in-sync", AUTO, change_set(execution="EXECUTE_COMPLETE"), InSync()),
    (
        "execute-complete-sets-protection",
        dataclasses.replace(AUTO, termination_protection=True),
        change_set(execution="EXECUTE_COMPLETE"),
        SetTerminationProtection(True),
    ),
    ("execute-failed-stalls", AUTO, change_set(execution="EXECUTE_FAILED"), StallReason.UPDATE_ROLLED_BACK),
    (
        "obsolete-discarded",
        AUTO,
        change_set(execution="OBSOLETE"),
        DiscardChangeSet(NAME),
    ),
    (
        "unavailable-discarded",
        AUTO,
        change_set(execution="UNAVAILABLE"),
        DiscardChangeSet(NAME),
    ),
    # CloudFormation deletes change sets asynchronously: one being deleted is waited for, not re-created.
    ("delete-pending-waits", AUTO, change_set("DELETE_PENDING", "OBSOLETE"), WaitForChangeSet(NAME)),
    ("delete-in-progress-waits", AUTO, change_set("DELETE_IN_PROGRESS", "OBSOLETE"), WaitForChangeSet(NAME)),
    ("delete-failed-waits", AUTO, change_set("DELETE_FAILED", "OBSOLETE"), WaitForChangeSet(NAME)),
]


@pytest.mark.parametrize(
    ("intent", "observed_change_set", "expected"),
    [pytest.param(*case, id=case_id) for case_id, *case in CHANGE_SET_CASES],
)
def test_plan_for_the_change_set(
    intent: Intent, observed_change_set: ObservedChangeSet | None, expected: Expected
) -> None:
    check(plan(intent, stack("UPDATE_COMPLETE"), observed_change_set, OUTDATED), expected)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("CREATE_COMPLETE", ChangeSetKind.UPDATE),
        ("UPDATE_ROLLBACK_COMPLETE", ChangeSetKind.UPDATE),
        ("REVIEW_IN_PROGRESS", ChangeSetKind.CREATE),
    ],
)
def test_change_set_kind_follows_the_stack(status: str, kind: ChangeSetKind) -> None:
    assert plan(AUTO, stack(status), None, OUTDATED) == StartChangeSet(NAME, kind)


@pytest.mark.parametrize("execution", ["UNAVAILABLE", "OBSOLETE"])
def test_a_stack_in_review_keeps_its_only_change_set(execution: str) -> None:
    # The change set's tags are the only sign of a stack in review's owner: never discard it.
    observed = change_set(execution=execution)
    assert plan(AUTO, stack("REVIEW_IN_PROGRESS"), observed, FRESH) == WaitForChangeSet(NAME)


def test_an_untagged_stack_in_review_names_the_way_out() -> None:
    untagged = dataclasses.replace(stack("REVIEW_IN_PROGRESS"), tags={})
    action = plan(AUTO, untagged, None, FRESH)
    assert isinstance(action, Stall)
    assert action.reason is StallReason.NOT_OWNED
    assert "no change set that names its owner" in action.message
    # spec.adopt takes it: no live TurbineStack is named on it.
    assert plan(dataclasses.replace(AUTO, adopt=True), untagged, None, FRESH) == StartChangeSet(
        NAME, ChangeSetKind.CREATE
    )


@pytest.mark.parametrize("owner", [None, "0b5e7e4c-1111-2222-3333-444455556666"], ids=["untagged", "another"])
@pytest.mark.parametrize(("adopt", "owner_alive"), [(False, False), (True, True)], ids=["plain", "adopter"])
def test_someone_elses_stack_being_deleted_is_waited_for_not_stalled_on(
    owner: str | None, adopt: bool, owner_alive: bool
) -> None:
    # A TurbineStack deleted and one with the same stack name applied in its place: the name is free once
    # the old stack is gone, so this is progress (kstatus InProgress), not a stall (Failed) until the next
    # listing.
    intent = dataclasses.replace(AUTO, adopt=adopt)
    going = stack("DELETE_IN_PROGRESS", owner=owner)
    action = plan(intent, going, None, FRESH, owner_alive=owner_alive)
    assert action == WaitForStack("DELETE_IN_PROGRESS", foreign=True)
    assert not needs_change_set(intent, going, FRESH, owner_alive=owner_alive)
    # Once it failed to go, it stays someone else's.
    failed = stack("DELETE_FAILED", owner=owner)
    assert isinstance(plan(intent, failed, None, FRESH, owner_alive=owner_alive), Stall)


def test_change_set_is_named_after_the_desired_state() -> None:
    action = plan(dataclasses.replace(AUTO, desired_hash="e" * 32), None, None, FRESH)
    assert action == StartChangeSet(change_set_name("e" * 32), ChangeSetKind.CREATE)


@pytest.mark.parametrize(
    ("observed_change_set", "empty"),
    [
        (change_set("FAILED", "UNAVAILABLE", NO_CHANGES), True),
        (change_set("FAILED", "UNAVAILABLE", NO_UPDATES), True),
        (change_set("FAILED", "UNAVAILABLE", "Parameter X is invalid"), False),
        (change_set("FAILED", "UNAVAILABLE", None), False),
        # Only a FAILED change set can be empty; a reason on another status is just text.
        (change_set("CREATE_COMPLETE", "AVAILABLE", NO_CHANGES), False),
    ],
)
def test_is_empty_change_set(observed_change_set: ObservedChangeSet, empty: bool) -> None:
    assert is_empty_change_set(observed_change_set) is empty


@pytest.mark.parametrize(
    ("observed", "memory", "needed"),
    [
        (None, FRESH, False),
        (stack("REVIEW_IN_PROGRESS"), FRESH, True),
        (stack("REVIEW_IN_PROGRESS"), APPLIED, True),
        (stack("CREATE_COMPLETE"), FRESH, True),
        (stack("UPDATE_COMPLETE"), OUTDATED, True),
        (stack("UPDATE_COMPLETE"), APPLIED, False),
        (stack("UPDATE_ROLLBACK_COMPLETE"), OUTDATED, True),
        (stack("UPDATE_ROLLBACK_COMPLETE"), APPLIED, False),
        (stack("UPDATE_IN_PROGRESS"), OUTDATED, False),
        (stack("CREATE_FAILED"), FRESH, False),
        (stack("UPDATE_ROLLBACK_FAILED"), OUTDATED, False),
        (stack("DELETE_FAILED"), OUTDATED, False),
    ],
    ids=lambda value: value.status if isinstance(value, ObservedStack) else None,
)
def test_needs_change_set(observed: ObservedStack | None, memory: StackMemory, needed: bool) -> None:
    assert needs_change_set(AUTO, observed, memory) is needed


# The adapter reports a DELETE_COMPLETE stack as no stack at all, so the planner never sees one.
OBSERVABLE_STATUSES = sorted(set(typing.get_args(StackStatusType)) - {"DELETE_COMPLETE"})
MEMORIES = [
    FRESH,
    APPLIED,
    OUTDATED,
    StackMemory(applied_hash=PREVIOUS, attempted_hash=DESIRED),
    StackMemory(applied_hash=PREVIOUS, attempted_hash=DESIRED, continued_rollback_hash=DESIRED),
]
ANY_CHANGE_SETS = [
    AVAILABLE,
    change_set("CREATE_PENDING", "UNAVAILABLE"),
    change_set("FAILED", "UNAVAILABLE", NO_CHANGES),
    change_set(execution="EXECUTE_COMPLETE"),
    change_set(execution="OBSOLETE"),
]


INTENTS = [AUTO, MANUAL, dataclasses.replace(AUTO, adopt=True)]


@pytest.mark.parametrize("status", OBSERVABLE_STATUSES)
def test_plan_ignores_the_change_set_when_needs_change_set_is_false(status: str) -> None:
    # The reconciler fetches the change set only when needs_change_set is true and passes None
    # otherwise; a plan that would differ with a change set would then silently act on None.
    observed = stack(status)
    for memory, intent in itertools.product(MEMORIES, INTENTS):
        if needs_change_set(intent, observed, memory):
            continue
        without = plan(intent, observed, None, memory)
        for candidate in ANY_CHANGE_SETS:
            assert plan(intent, observed, candidate, memory) == without, (memory, intent, candidate)


# Adoption never takes a stack from a TurbineStack that still exists.


def _foreign(status: str = "UPDATE_COMPLETE") -> ObservedStack:
    return stack(status, owner="0b5e7e4c-1111-2222-3333-444455556666")


def test_adoption_of_a_stack_whose_owner_is_alive_stalls() -> None:
    adopter = dataclasses.replace(AUTO, adopt=True)
    action = plan(adopter, _foreign(), None, OUTDATED, owner_alive=True)
    assert isinstance(action, Stall)
    assert action.reason is StallReason.OWNED_BY_ANOTHER
    assert "airflow/prod" in action.message
    assert not needs_change_set(adopter, _foreign(), OUTDATED, owner_alive=True)


def test_adoption_of_a_stack_whose_owner_is_gone_proceeds() -> None:
    adopter = dataclasses.replace(AUTO, adopt=True)
    assert plan(adopter, _foreign(), None, OUTDATED, owner_alive=False) == StartChangeSet(
        NAME, ChangeSetKind.UPDATE
    )


# Change set names: one per desired state and stack state, so a new attempt never reuses a name.


def test_a_new_attempt_at_the_same_desired_state_gets_a_new_change_set_name() -> None:
    before = dataclasses.replace(stack("UPDATE_COMPLETE"), last_updated="2025-03-01T09:30:00Z")
    after = dataclasses.replace(before, last_updated="2025-03-01T10:45:00Z")
    names = {desired_change_set(AUTO, before), desired_change_set(AUTO, after)}
    assert len(names) == 2
    # Before the stack exists, and while it is in review, the name does not depend on the stack.
    review = dataclasses.replace(stack("REVIEW_IN_PROGRESS"), last_updated="2025-03-01T09:30:00Z")
    assert desired_change_set(AUTO, None) == desired_change_set(AUTO, review) == NAME


# Drift remediation is the planner's decision.


def test_remediation_starts_a_change_set_over_outside_changes() -> None:
    remediating = dataclasses.replace(AUTO, remediate=True)
    differences = ["parameter WorkerInstanceType: spec t3.large, stack m5.large"]
    ready = stack("UPDATE_COMPLETE")
    assert needs_change_set(remediating, ready, APPLIED, differences)
    assert plan(remediating, ready, None, APPLIED, differences=differences) == StartChangeSet(
        NAME, ChangeSetKind.UPDATE
    )
    available = change_set()
    assert plan(remediating, ready, available, APPLIED, differences=differences) == ExecuteChangeSet(
        available
    )


@pytest.mark.parametrize(
    ("remediate", "differences"), [(False, ["parameter X differs"]), (True, []), (True, None)]
)
def test_without_remediation_or_differences_a_settled_stack_is_in_sync(
    remediate: bool, differences: list[str] | None
) -> None:
    intent = dataclasses.replace(AUTO, remediate=remediate)
    assert not needs_change_set(intent, stack("UPDATE_COMPLETE"), APPLIED, differences)
    assert plan(intent, stack("UPDATE_COMPLETE"), None, APPLIED, differences=differences) == InSync()


def test_the_spec_is_compared_only_on_a_settled_stack_of_ours() -> None:
    assert needs_spec_comparison(AUTO, stack("UPDATE_COMPLETE"), APPLIED)
    assert not needs_spec_comparison(AUTO, stack("UPDATE_COMPLETE"), OUTDATED)
    assert not needs_spec_comparison(AUTO, stack("UPDATE_IN_PROGRESS"), APPLIED)
    assert not needs_spec_comparison(AUTO, _foreign(), APPLIED)
    assert not needs_spec_comparison(AUTO, None, APPLIED)


@pytest.mark.parametrize(
    ("status", "needed"),
    [
        ("UPDATE_ROLLBACK_COMPLETE", True),
        ("UPDATE_ROLLBACK_FAILED", True),
        ("UPDATE_COMPLETE", False),
        ("CREATE_COMPLETE", False),
        ("ROLLBACK_COMPLETE", False),
    ],
)
def test_the_last_operation_is_read_only_after_a_failed_update(status: str, needed: bool) -> None:
    assert needs_last_operation(stack(status)) is needed


# Staged rollouts: updates (not creations) wait for one of the operator's update slots.


def test_an_update_without_a_free_slot_waits_for_one() -> None:
    busy = dataclasses.replace(AUTO, update_slot_free=False)
    available = change_set()
    assert plan(busy, stack("UPDATE_COMPLETE"), available, OUTDATED) == WaitForUpdateSlot(available)
    # A creation is not limited: it disturbs nothing that runs.
    assert plan(busy, stack("REVIEW_IN_PROGRESS"), available, FRESH) == ExecuteChangeSet(available)
    # Approval comes first: a change set waiting for a person does not queue for a slot.
    assert plan(
        dataclasses.replace(busy, auto_execute=False), stack("UPDATE_COMPLETE"), available, OUTDATED
    ) == (AwaitApproval(available))


@pytest.mark.parametrize(
    ("status", "holds"),
    [("UPDATE_IN_PROGRESS", True), ("UPDATE_ROLLBACK_IN_PROGRESS", True), ("CREATE_IN_PROGRESS", False)],
)
def test_a_stack_holds_its_slot_while_it_updates(status: str, holds: bool) -> None:
    assert holds_update_slot(AUTO, stack(status)) is holds
    assert not holds_update_slot(AUTO, stack("UPDATE_COMPLETE"))
    # Someone else's update is not one of ours; an adopter's, once the owner is gone, is.
    assert not holds_update_slot(AUTO, _foreign(status))
    assert holds_update_slot(dataclasses.replace(AUTO, adopt=True), _foreign(status)) is holds


def test_only_executing_an_update_needs_a_slot() -> None:
    available = change_set()
    assert needs_update_slot(ExecuteChangeSet(available), stack("UPDATE_COMPLETE"))
    assert not needs_update_slot(ExecuteChangeSet(available), stack("REVIEW_IN_PROGRESS"))
    assert not needs_update_slot(InSync(), stack("UPDATE_COMPLETE"))


# A stack whose tags an outside update-stack replaced: status.stackId says it is this TurbineStack's.


def _retagged(status: str = "UPDATE_COMPLETE") -> ObservedStack:
    return stack(status, owner=None)


def test_a_stack_whose_tags_were_replaced_is_still_managed_and_updated_to_put_them_back() -> None:
    recorded = dataclasses.replace(AUTO, recorded_stack_id=_retagged().stack_id)
    in_sync = StackMemory(applied_hash=DESIRED)

    assert needs_change_set(recorded, _retagged(), in_sync)
    assert plan(recorded, _retagged(), None, in_sync) == StartChangeSet(
        change_set_name(DESIRED, _retagged().last_updated or ""), ChangeSetKind.UPDATE
    )


def test_a_stack_without_owner_tags_that_status_does_not_record_is_not_managed() -> None:
    action = plan(AUTO, _retagged(), None, StackMemory(applied_hash=DESIRED))

    assert isinstance(action, Stall)
    assert action.reason is StallReason.NOT_OWNED


@pytest.mark.parametrize("turbine_master", [False, None], ids=["not-turbine", "not-read"])
@pytest.mark.parametrize(
    "owner", [None, "0b5e7e4c-1111-2222-3333-444455556666"], ids=["untagged", "owner-gone"]
)
def test_an_adopter_refuses_a_stack_that_is_not_a_turbine_stack(
    owner: str | None, turbine_master: bool | None
) -> None:
    # Adopting replaces the template: CloudFormation would delete the resources a Turbine master lacks.
    adopter = dataclasses.replace(AUTO, adopt=True)
    foreign = stack("UPDATE_COMPLETE", owner=owner, turbine_master=turbine_master)

    action = plan(adopter, foreign, AVAILABLE, OUTDATED, owner_alive=False)

    assert isinstance(action, Stall)
    assert action.reason is StallReason.NOT_TURBINE
    assert "turbine.dev/template: master" in action.message
    assert not may_manage(adopter, foreign, owner_alive=False)
    assert not needs_change_set(adopter, foreign, OUTDATED, owner_alive=False)
    assert shown_stack(adopter, foreign, owner_alive=False) == dataclasses.replace(foreign, outputs={})
    assert needs_template(adopter, foreign, owner_alive=False) is (turbine_master is None)


def test_the_template_is_read_only_for_a_stack_spec_adopt_would_take() -> None:
    unread = stack("UPDATE_COMPLETE", owner=None, turbine_master=None)
    assert needs_template(dataclasses.replace(AUTO, adopt=True), unread, owner_alive=False)
    assert not needs_template(AUTO, unread, owner_alive=False)
    assert not needs_template(
        dataclasses.replace(AUTO, adopt=True), stack("UPDATE_COMPLETE", turbine_master=None), False
    )
    assert not needs_template(dataclasses.replace(AUTO, adopt=True), None, owner_alive=False)
