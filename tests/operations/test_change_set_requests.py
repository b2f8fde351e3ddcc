"""CreateChangeSet's ClientToken: a retry of one request repeats it, a later request never does.

CloudFormation documents the token only for retries (API_CreateChangeSet, ClientToken); a new request that
repeats a used one is taken for the retry and creates nothing, so a change set wanted again under its old
name (Manual policy, maxSize 10 -> 7 -> 5 -> 7) would never come back.
"""

from __future__ import annotations

from typing import Any

from botocore.stub import ANY

from stubbed.aws import STACK_NAME, change_set_request, spec
from turbine_operator.core.render.rendering import DesiredStack
from turbine_operator.operations.stack.reconcile import Reconciler
from turbine_operator.operations.turbine_stack import StackResource

from .harness import StubbedAws, change_set_for, conditions, desired_for, merged, stack_resource

OLD_HASH = "0" * 32


def _manual(max_size: int, status: dict[str, Any]) -> StackResource:
    return stack_resource(spec(updatePolicy="Manual", workers={"maxSize": max_size}), status)


def _creates(aws: StubbedAws, desired: DesiredStack, name: str) -> None:
    """CreateChangeSet of `name`, whatever its token (the test compares the tokens sent)."""
    aws.cloudformation.add_response(
        "create_change_set",
        {"Id": f"arn:aws:cloudformation:us-east-1:123456789012:changeSet/{name}/1", "StackId": "x"},
        {**change_set_request(desired, name, "UPDATE", "unused"), "ClientToken": ANY},
    )


def test_a_change_set_wanted_again_after_its_deletion_is_requested_with_a_new_token(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    status: dict[str, Any] = {"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH}
    seven, five = _manual(7, status), _manual(5, status)
    at_seven, at_five = desired_for(seven), desired_for(five)
    name_seven, name_five = change_set_for(at_seven), change_set_for(at_five)

    # maxSize 10 -> 7: the change set for 7 is created (the bundle is listed once: the same for all three).
    aws.stack("UPDATE_COMPLETE", applied_hash=OLD_HASH)
    aws.no_change_set(name_seven)
    aws.bundle_listing(at_seven, present=True)
    _creates(aws, at_seven, name_seven)
    aws.existing_change_sets([name_seven])
    status = merged(status, reconciler.reconcile(seven).status)

    # 7 -> 5: the change set for 5 is created, the one for 7 deleted as stale.
    aws.stack("UPDATE_COMPLETE", applied_hash=OLD_HASH)
    aws.no_change_set(name_five)
    _creates(aws, at_five, name_five)
    aws.existing_change_sets([name_seven, name_five])
    aws.delete_change_set(name_seven)
    status = merged(status, reconciler.reconcile(_manual(5, status)).status)

    # 5 -> 7, the stack unchanged: the change set for 7 has the same name as before, and is gone.
    aws.stack("UPDATE_COMPLETE", applied_hash=OLD_HASH)
    aws.no_change_set(name_seven)
    _creates(aws, at_seven, name_seven)
    aws.existing_change_sets([name_seven, name_five])
    aws.delete_change_set(name_five)
    outcome = reconciler.reconcile(_manual(7, status))

    aws.verify()
    first, _, again = aws.cloudformation.sent("CreateChangeSet", "ClientToken")
    assert again != first  # the same token would be taken for a retry of the first and create nothing
    assert conditions(outcome)["Reconciling"]["reason"] == "ChangeSetCreating"


def test_a_failed_request_is_retried_with_its_token(aws: StubbedAws, reconciler: Reconciler) -> None:
    status: dict[str, Any] = {"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH}
    resource = _manual(7, status)
    desired = desired_for(resource)
    name = change_set_for(desired)
    aws.bundle_listing(desired, present=True)
    for look in range(2):
        aws.stack("UPDATE_COMPLETE", applied_hash=OLD_HASH)
        aws.no_change_set(name)
        if look == 0:
            # The first request's answer is lost (a 500 after CloudFormation may have acted on it).
            aws.error(aws.cloudformation, "create_change_set", "InternalFailure", "lost", status=500)
    _creates(aws, desired, name)
    aws.existing_change_sets([name])

    failed = reconciler.reconcile(resource)
    retried = reconciler.reconcile(_manual(7, merged(status, failed.status)))

    aws.verify()
    tokens = set(aws.cloudformation.sent("CreateChangeSet", "ClientToken"))
    assert len(tokens) == 1
    assert conditions(retried)["Reconciling"]["reason"] == "ChangeSetCreating"


def test_a_stale_change_set_still_being_created_is_left_and_the_new_one_awaits_approval(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    # Two edits within one change-set computation: the first edit's change set is still CREATE_IN_PROGRESS
    # when the second's is created, and DeleteChangeSet refuses it (API_DeleteChangeSet).
    status: dict[str, Any] = {"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH}
    resource = _manual(5, status)
    desired = desired_for(resource)
    name, computing = change_set_for(desired), change_set_for(desired_for(_manual(7, status)))
    aws.stack("UPDATE_COMPLETE", applied_hash=OLD_HASH)
    aws.no_change_set(name)
    aws.bundle_listing(desired, present=True)
    _creates(aws, desired, name)
    aws.existing_change_sets([computing, name])
    aws.error(
        aws.cloudformation,
        "delete_change_set",
        "InvalidChangeSetStatus",
        f"ChangeSet [{computing}] cannot be deleted in its current status of [CREATE_IN_PROGRESS]",
    )
    created = reconciler.reconcile(resource)

    aws.stack("UPDATE_COMPLETE", applied_hash=OLD_HASH)
    aws.change_set(name)
    outcome = reconciler.reconcile(_manual(5, merged(status, created.status)))

    aws.verify()
    assert "Stalled" not in conditions(created)
    assert conditions(created)["Reconciling"]["reason"] == "ChangeSetCreating"
    assert outcome.status["pendingChangeSet"]["name"] == name
    assert "Stalled" not in conditions(outcome)


def test_a_change_set_cannot_be_deleted_yet_is_retried_soon(aws: StubbedAws, reconciler: Reconciler) -> None:
    status: dict[str, Any] = {"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH}
    resource = _manual(5, status)
    name = change_set_for(desired_for(resource))
    aws.stack("UPDATE_COMPLETE", applied_hash=OLD_HASH)
    aws.change_set(name, execution_status="OBSOLETE")
    aws.error(
        aws.cloudformation,
        "delete_change_set",
        "InvalidChangeSetStatus",
        f"ChangeSet [{name}] cannot be deleted in its current status of [CREATE_IN_PROGRESS]",
    )

    outcome = reconciler.reconcile(resource)

    aws.verify()
    found = conditions(outcome)
    assert "Stalled" not in found
    assert found["Reconciling"]["reason"] == "Retrying"
    assert outcome.retry_after == 15.0
