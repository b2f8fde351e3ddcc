"""A spec changed while the stack was UPDATE_ROLLBACK_FAILED is tried once the continued rollback ends.

ContinueUpdateRollback's events carry its token only (API_StackEvent); what the stack tried is the update
being rolled back, not the spec the rollback was continued under.
"""

from __future__ import annotations

from typing import Any

from botocore.stub import ANY

from stubbed.aws import STACK_NAME, change_set_request, spec, stack_level_event
from turbine_operator.core.naming import execute_token
from turbine_operator.operations.stack.reconcile import Reconciler

from .harness import (
    StubbedAws,
    change_set_for,
    conditions,
    desired_for,
    merged,
    operation_start,
    stack_resource,
)

OLD_HASH = "0" * 32
TRIED = "1" * 32  # the update that failed and whose rollback failed too


def test_a_spec_changed_during_a_failed_rollback_is_tried_after_the_continued_rollback(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    status: dict[str, Any] = {
        "stackName": STACK_NAME,
        "lastAppliedHash": OLD_HASH,
        "lastAttemptedHash": TRIED,
    }
    resource = stack_resource(spec(workers={"maxSize": 20}), status)  # changed since TRIED failed
    desired = desired_for(resource)
    name = change_set_for(desired)
    failed_update = operation_start(
        "UPDATE_IN_PROGRESS", minute=0, token=execute_token(TRIED, "its change set")
    )
    aws.stack("UPDATE_ROLLBACK_FAILED", reason="The following resource(s) failed to update: [LogsBucket].")
    aws.events([failed_update, stack_level_event("UPDATE_ROLLBACK_FAILED", minute=2)])
    aws.cloudformation.add_response(
        "continue_update_rollback", {}, {"StackName": STACK_NAME, "ClientRequestToken": ANY}
    )
    status = merged(status, reconciler.reconcile(resource).status)
    (token,) = aws.cloudformation.sent("ContinueUpdateRollback", "ClientRequestToken")

    # The rollback ended; the status that remembered what was tried is lost, as it may be.
    aws.stack("UPDATE_ROLLBACK_COMPLETE")
    aws.events(
        [
            failed_update,
            operation_start("UPDATE_ROLLBACK_IN_PROGRESS", minute=5, token=token),
            stack_level_event("UPDATE_ROLLBACK_COMPLETE", minute=6, token=token),
        ]
    )
    aws.no_change_set(name)
    aws.bundle_listing(desired, present=True)
    aws.cloudformation.add_response(
        "create_change_set",
        {"Id": f"arn:aws:cloudformation:us-east-1:123456789012:changeSet/{name}/1", "StackId": "x"},
        {**change_set_request(desired, name, "UPDATE", "unused"), "ClientToken": ANY},
    )
    aws.existing_change_sets([name])
    lost = {key: value for key, value in status.items() if key != "lastAttemptedHash"}
    outcome = reconciler.reconcile(stack_resource(resource.spec, lost))

    aws.verify()
    found = conditions(outcome)
    assert "Stalled" not in found  # not "rolled back; change the spec": this spec was never tried
    assert found["Reconciling"]["reason"] == "ChangeSetCreating"
    assert outcome.status["lastAttemptedHash"] == TRIED
