"""Reconciler against the CloudFormation failure states moto cannot produce.

Each test queues the exact AWS replies of one situation, runs one reconcile, and checks the
conditions a person (or kstatus/ArgoCD) reads and which calls reached AWS.
"""

from __future__ import annotations

from typing import Any

import pytest

from stubbed.aws import (
    NAME,
    NAMESPACE,
    QUEUE,
    SERVICE_ROLE,
    SOURCES,
    STACK_ID,
    STACK_NAME,
    spec,
    stack_event,
)
from stubbed.cluster import ObjectsInMemory
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.errors import AwsAccessDenied, ClusterError
from turbine_operator.core.naming import continue_rollback_token, execute_token
from turbine_operator.operations.stack.reconcile import Reconciler

from .harness import (
    LAST_UPDATED,
    NOW,
    StubbedAws,
    change_set_for,
    change_set_token,
    conditions,
    desired_for,
    merged,
    operation_start,
    stack_resource,
)

QUEUE_FAILURE = (
    'Resource handler returned message: "Queue name cannot be empty (Service: Sqs, Status Code: 400)"'
)
OLD_HASH = "0" * 32
OTHER_UID = "0b5e7e4c-1111-2222-3333-444455556666"


def _failed_create_events() -> list[dict[str, Any]]:
    return [
        operation_start("CREATE_IN_PROGRESS", minute=0),
        stack_event("TaskQueue", QUEUE, "CREATE_IN_PROGRESS", minute=1),
        stack_event("TaskQueue", QUEUE, "CREATE_FAILED", QUEUE_FAILURE, minute=2),
        stack_event("Alerts", "AWS::SNS::Topic", "CREATE_FAILED", "Resource creation cancelled", minute=3),
        stack_event(
            STACK_NAME,
            "AWS::CloudFormation::Stack",
            "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [TaskQueue, Alerts]. Rollback requested by user.",
            minute=3,
        ),
        stack_event(STACK_NAME, "AWS::CloudFormation::Stack", "ROLLBACK_COMPLETE", minute=4),
    ]


def _failed_update_events(token: str | None = None) -> list[dict[str, Any]]:
    """A failed update; `token` is the ClientRequestToken CloudFormation puts on its stack events."""
    return [
        operation_start("UPDATE_IN_PROGRESS", minute=0, token=token),
        stack_event("TaskQueue", QUEUE, "UPDATE_FAILED", QUEUE_FAILURE, minute=1),
        stack_event(
            STACK_NAME,
            "AWS::CloudFormation::Stack",
            "UPDATE_ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to update: [TaskQueue].",
            minute=2,
        ),
        stack_event(
            "LogsBucket", "AWS::S3::Bucket", "UPDATE_FAILED", "Access Denied (Service: S3)", minute=3
        ),
    ]


def _assert_stalled(outcome_conditions: dict[str, dict[str, Any]], reason: str) -> None:
    assert outcome_conditions["Ready"]["status"] == "False"
    assert outcome_conditions["Ready"]["reason"] == reason
    assert outcome_conditions["Stalled"]["status"] == "True"
    assert outcome_conditions["Stalled"]["reason"] == reason
    assert "Reconciling" not in outcome_conditions


@pytest.mark.parametrize("stack_status", ["CREATE_FAILED", "ROLLBACK_COMPLETE"])
def test_a_failed_create_stalls_with_the_first_failing_resource(
    aws: StubbedAws, reconciler: Reconciler, stack_status: str
) -> None:
    resource = stack_resource()
    desired = desired_for(resource)
    resource = stack_resource(status={"stackName": STACK_NAME, "lastAttemptedHash": desired.hash})
    aws.stack(stack_status, reason="The following resource(s) failed to create: [TaskQueue, Alerts].")
    aws.events(_failed_create_events())

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeStackEvents"]
    found = conditions(outcome)
    _assert_stalled(found, "StackCreateFailed")
    message = found["Stalled"]["message"]
    assert f"Stack {STACK_NAME} is {stack_status}" in message
    assert f"first failure: TaskQueue (AWS::SQS::Queue): {QUEUE_FAILURE}" in message
    assert "cancelled" not in message
    assert outcome.status["stackStatus"] == stack_status
    assert (
        outcome.status["stackStatusReason"] == f"first failure: TaskQueue (AWS::SQS::Queue): {QUEUE_FAILURE}"
    )
    assert outcome.announcement is not None
    assert (outcome.announcement.reason, outcome.announcement.warning) == ("StackCreateFailed", True)
    assert outcome.finished


def test_a_stall_already_reported_posts_no_second_event(aws: StubbedAws, reconciler: Reconciler) -> None:
    aws.stack("ROLLBACK_COMPLETE")
    aws.events(_failed_create_events())
    aws.stack("ROLLBACK_COMPLETE")
    aws.events(_failed_create_events())

    first = reconciler.reconcile(stack_resource())
    second = reconciler.reconcile(stack_resource(status=merged({}, first.status)))

    aws.verify()
    assert first.announcement is not None
    assert second.announcement is None
    assert conditions(second)["Stalled"]["reason"] == "StackCreateFailed"


def test_an_update_that_rolled_back_stalls_until_the_spec_changes(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    desired = desired_for(stack_resource())
    resource = stack_resource(
        status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH, "lastAttemptedHash": desired.hash}
    )
    aws.stack("UPDATE_ROLLBACK_COMPLETE", reason="The following resource(s) failed to update: [TaskQueue].")
    # This spec's update already rolled back: the plan stalls without reading its change set
    # (still there, EXECUTE_FAILED), so no DescribeChangeSet is queued.
    aws.events(_failed_update_events())

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeStackEvents"]
    assert "DescribeChangeSet" not in aws.calls
    assert aws.mutating_calls == []
    found = conditions(outcome)
    _assert_stalled(found, "UpdateRolledBack")
    assert "change the spec to try again" in found["Stalled"]["message"]
    assert f"first failure: TaskQueue (AWS::SQS::Queue): {QUEUE_FAILURE}" in found["Stalled"]["message"]
    assert outcome.status["lastAttemptedHash"] == desired.hash
    assert outcome.status["lastAppliedHash"] == OLD_HASH


def test_a_changed_spec_after_a_rolled_back_update_creates_a_new_change_set(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    resource = stack_resource(
        spec(workers={"maxSize": 20}),
        status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH, "lastAttemptedHash": "1" * 32},
    )
    desired = desired_for(resource)
    name = change_set_for(desired)
    token = change_set_token(name, "UPDATE")
    aws.stack("UPDATE_ROLLBACK_COMPLETE")
    aws.events(_failed_update_events(token=execute_token("1" * 32, "an earlier change set")))
    aws.no_change_set(name)
    aws.bundle_listing(desired, present=True)
    aws.create_change_set(desired, name, "UPDATE", token)
    aws.existing_change_sets(["turbine-111111111111111111111111", "manual-review", name])
    aws.delete_change_set("turbine-111111111111111111111111")

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == [
        "DescribeStacks",
        "DescribeStackEvents",
        "DescribeChangeSet",
        "ListObjectsV2",
        "CreateChangeSet",  # before the stale ones go: a stack is never left without our change set
        "ListChangeSets",
        "DeleteChangeSet",
    ]
    found = conditions(outcome)
    assert found["Ready"]["status"] == "False"
    assert found["Reconciling"]["reason"] == "ChangeSetCreating"
    assert "Stalled" not in found
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "ChangeSetCreated"


def test_a_failed_rollback_is_continued_once_then_stalls(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(
        spec(serviceRoleArn=SERVICE_ROLE), status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH}
    )
    desired = desired_for(resource)
    token = continue_rollback_token(desired.hash, STACK_ID, LAST_UPDATED, tried=desired.hash)
    reason = "The following resource(s) failed to update: [LogsBucket]."
    aws.stack("UPDATE_ROLLBACK_FAILED", reason=reason)
    aws.events(_failed_update_events(token=execute_token(desired.hash, "the change set")))
    aws.cloudformation.add_response(
        "continue_update_rollback",
        {},
        {"StackName": STACK_NAME, "ClientRequestToken": token, "RoleARN": SERVICE_ROLE},
    )

    first = reconciler.reconcile(resource)

    assert aws.calls == ["DescribeStacks", "DescribeStackEvents", "ContinueUpdateRollback"]
    assert first.status["continuedRollbackHash"] == desired.hash
    found = conditions(first)
    assert found["Reconciling"]["reason"] == "ContinuingUpdateRollback"
    assert found["Ready"]["status"] == "False"
    assert "Stalled" not in found

    # The continued rollback failed again: no second ContinueUpdateRollback, a stall instead. The
    # status that remembered it is lost: the events of the continued rollback carry its token.
    aws.stack("UPDATE_ROLLBACK_FAILED", reason=reason)
    aws.events(_failed_update_events(token=token))
    second = reconciler.reconcile(stack_resource(resource.spec, {"stackName": STACK_NAME}))

    aws.verify()
    assert aws.calls == [
        "DescribeStacks",
        "DescribeStackEvents",
        "ContinueUpdateRollback",
        "DescribeStacks",
        "DescribeStackEvents",
    ]
    found = conditions(second)
    _assert_stalled(found, "UpdateRollbackFailed")
    assert "after one ContinueUpdateRollback" in found["Stalled"]["message"]
    assert "first failure: TaskQueue (AWS::SQS::Queue)" in found["Stalled"]["message"]
    assert second.status["continuedRollbackHash"] == desired.hash


def test_a_stack_that_failed_to_delete_stalls_with_the_failed_resources(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    aws.stack("DELETE_FAILED", reason="The following resource(s) failed to delete: [LogsBucket, DagsBucket].")
    aws.resources(
        {
            "LogsBucket": ("DELETE_FAILED", "The bucket you tried to delete is not empty"),
            "DagsBucket": ("DELETE_FAILED", None),
            "TaskQueue": ("DELETE_COMPLETE", None),
        }
    )

    outcome = reconciler.reconcile(stack_resource(status={"stackName": STACK_NAME}))

    aws.verify()
    assert aws.calls == ["DescribeStacks", "ListStackResources"]
    found = conditions(outcome)
    _assert_stalled(found, "StackDeleteFailed")
    assert (
        "resources that failed to delete: LogsBucket: The bucket you tried to delete is not empty, "
        "DagsBucket: DELETE_FAILED"
    ) in found["Stalled"]["message"]


@pytest.mark.parametrize(
    "reason",
    [
        "The submitted information didn't contain changes. "
        "Submit different information to create a change set.",
        "No updates are to be performed.",
    ],
)
def test_an_empty_change_set_is_deleted_and_the_stack_is_ready(
    aws: StubbedAws, reconciler: Reconciler, reason: str
) -> None:
    resource = stack_resource(status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH})
    desired = desired_for(resource)
    name = change_set_for(desired)
    aws.stack("UPDATE_COMPLETE", outputs={"WebserverURL": "http://webserver.example:8080"})
    aws.change_set(name, status="FAILED", execution_status="UNAVAILABLE", reason=reason)
    aws.delete_change_set(name, stack=STACK_NAME)

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet", "DeleteChangeSet"]
    found = conditions(outcome)
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("True", "StackReady")
    assert set(found) == {"Ready"}
    assert outcome.status["lastAppliedHash"] == desired.hash == outcome.status["desiredHash"]
    assert outcome.status["outputs"] == {"WebserverURL": "http://webserver.example:8080"}
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "NoChanges"


def test_a_change_set_that_failed_for_another_reason_stalls(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH})
    name = change_set_for(desired_for(resource))
    aws.stack("UPDATE_COMPLETE")
    aws.change_set(
        name,
        status="FAILED",
        execution_status="UNAVAILABLE",
        reason="Parameter validation failed: parameter value t3.nope for parameter name WorkerInstanceType "
        "does not exist",
    )

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.mutating_calls == []
    found = conditions(outcome)
    _assert_stalled(found, "ChangeSetFailed")
    assert "t3.nope" in found["Stalled"]["message"]


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [("Throttling", "Rate exceeded", 400), ("ServiceUnavailable", "Service is unavailable", 503)],
)
def test_throttling_or_5xx_on_describe_stacks_is_retried_without_raising(
    aws: StubbedAws, reconciler: Reconciler, code: str, message: str, status: int
) -> None:
    previous = {
        "stackName": STACK_NAME,
        "lastAppliedHash": OLD_HASH,
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "StackReady",
                "message": "ok",
                "lastTransitionTime": "2025-02-01T00:00:00Z",
                "observedGeneration": 1,
            }
        ],
    }
    aws.error(aws.cloudformation, "describe_stacks", code, message, status)

    outcome = reconciler.reconcile(stack_resource(status=previous))

    aws.verify()
    assert aws.calls == ["DescribeStacks"]
    found = conditions(outcome)
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("False", "Retrying")
    assert (found["Reconciling"]["status"], found["Reconciling"]["reason"]) == ("True", "Retrying")
    assert "Stalled" not in found
    assert f"DescribeStacks: {code}: {message}" in found["Reconciling"]["message"]
    assert outcome.retry_after == 15.0
    assert "lastSyncTime" not in outcome.status
    assert "lastAppliedHash" not in outcome.status  # the memory of earlier reconciles is kept
    assert outcome.announcement is not None
    assert outcome.announcement.warning


def test_throttling_in_the_middle_of_a_reconcile_is_retried(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH})
    desired = desired_for(resource)
    aws.stack("UPDATE_COMPLETE")
    aws.no_change_set(change_set_for(desired))
    aws.bundle_listing(desired, present=True)
    aws.error(aws.cloudformation, "create_change_set", "Throttling", "Rate exceeded")

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls[-1] == "CreateChangeSet"
    assert conditions(outcome)["Reconciling"]["reason"] == "Retrying"
    assert outcome.retry_after == 15.0


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "AccessDenied",
            "User: arn:aws:sts::123456789012:assumed-role/turbine-operator/x is not authorized to perform: "
            "cloudformation:DescribeStacks",
        ),
        ("ExpiredToken", "The security token included in the request is expired"),
    ],
)
def test_access_denied_stalls(aws: StubbedAws, reconciler: Reconciler, code: str, message: str) -> None:
    aws.error(aws.cloudformation, "describe_stacks", code, message, 403)

    outcome = reconciler.reconcile(stack_resource())

    aws.verify()
    assert aws.calls == ["DescribeStacks"]
    found = conditions(outcome)
    _assert_stalled(found, "AwsAccessDenied")
    assert message in found["Stalled"]["message"]
    assert outcome.retry_after is None
    assert outcome.announcement is not None
    assert outcome.announcement.warning


def test_a_missing_template_bucket_stalls_before_any_change_set(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    aws.new_stack()
    aws.error(aws.s3, "list_objects_v2", "NoSuchBucket", "The specified bucket does not exist", 404)

    outcome = reconciler.reconcile(stack_resource())

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeStacks", "ListObjectsV2"]
    assert "CreateChangeSet" not in aws.calls
    found = conditions(outcome)
    _assert_stalled(found, "TemplateBucketMissing")
    assert "NoSuchBucket" in found["Stalled"]["message"]


def test_a_change_set_aws_rejects_stalls(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource()
    desired = desired_for(resource)
    aws.new_stack()
    aws.bundle_listing(desired, present=True)
    aws.error(
        aws.cloudformation,
        "create_change_set",
        "InsufficientCapabilitiesException",
        "Requires capabilities : [CAPABILITY_NAMED_IAM]",
    )

    outcome = reconciler.reconcile(resource)

    aws.verify()
    _assert_stalled(conditions(outcome), "AwsRequestRejected")


def test_a_stack_owned_by_someone_else_is_left_alone(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource()
    aws.stack("UPDATE_COMPLETE", owner_uid=OTHER_UID)
    # Not ours (and no adopt): the plan stalls without looking for a change set.

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.mutating_calls == []
    assert aws.calls == ["DescribeStacks"]
    found = conditions(outcome)
    _assert_stalled(found, "StackNotOwned")
    assert "set spec.adopt" in found["Stalled"]["message"]


def test_the_outputs_of_a_stack_owned_by_someone_else_are_not_shown(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    # Naming someone else's stack in spec.stackName must not be a way to read its outputs: they would land in
    # this TurbineStack's status and its spec.outputsConfigMap. Its status still says why this one stalls.
    resource = stack_resource()
    aws.stack("UPDATE_COMPLETE", owner_uid=OTHER_UID, outputs={"WebserverUrl": "http://theirs.example"})

    outcome = reconciler.reconcile(resource)

    aws.verify()
    _assert_stalled(conditions(outcome), "StackNotOwned")
    assert "theirs.example" not in repr(outcome.status)
    assert not outcome.status.get("outputs")
    assert outcome.status["stackStatus"] == "UPDATE_COMPLETE"


def test_adopting_a_foreign_stack_proceeds_to_a_change_set(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(spec(adopt=True))
    desired = desired_for(resource)
    name = change_set_for(desired)
    aws.stack("UPDATE_COMPLETE", owner_uid=OTHER_UID)  # its TurbineStack is gone
    aws.original_template(desired)  # a Turbine master: adoptable
    aws.no_change_set(name)
    aws.bundle_listing(desired, present=False)
    aws.bundle_uploads(desired)
    aws.create_change_set(desired, name, "UPDATE", change_set_token(name, "UPDATE"))
    aws.existing_change_sets([name])

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == [
        "DescribeStacks",
        "GetTemplate",
        "DescribeChangeSet",
        "ListObjectsV2",
        "PutObject",
        "PutObject",
        "CreateChangeSet",
        "ListChangeSets",
    ]
    assert conditions(outcome)["Reconciling"]["reason"] == "ChangeSetCreating"
    assert outcome.status["stackId"] == STACK_ID


def test_adopting_a_stack_whose_turbinestack_still_exists_stalls(
    aws: StubbedAws, reconciler: Reconciler, objects: ObjectsInMemory
) -> None:
    # Adoption is for stacks no live TurbineStack owns: the other team's stack is never touched.
    objects.turbine_stacks[(NAMESPACE, NAME)] = OTHER_UID
    aws.stack("UPDATE_COMPLETE", owner_uid=OTHER_UID)

    outcome = reconciler.reconcile(stack_resource(spec(adopt=True, deletionPolicy="Delete")))

    aws.verify()
    assert aws.calls == ["DescribeStacks"]
    assert aws.mutating_calls == []
    found = conditions(outcome)
    _assert_stalled(found, "StackOwnedByAnotherTurbineStack")
    assert f"belongs to TurbineStack {NAMESPACE}/{NAME}, which still exists" in found["Stalled"]["message"]


def test_a_transient_error_keeps_the_change_set_waiting_for_approval(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    pending = {"name": "turbine-0123456789abcdef01234567", "summary": "1 to modify", "changes": []}
    previous = {"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH, "pendingChangeSet": pending}
    aws.error(aws.cloudformation, "describe_stacks", "Throttling", "Rate exceeded")

    outcome = reconciler.reconcile(stack_resource(spec(updatePolicy="Manual"), previous))

    aws.verify()
    assert conditions(outcome)["Reconciling"]["reason"] == "Retrying"
    assert "pendingChangeSet" not in outcome.status  # neither set nor cleared
    assert merged(previous, outcome.status)["pendingChangeSet"] == pending


# A stack in review carries no tags yet: its owner is read from our (turbine-*) change set.


def test_an_untagged_stack_in_review_whose_change_set_is_someone_elses_is_left_alone(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    theirs = "turbine-aaaaaaaaaaaaaaaaaaaaaaaa"
    resource = stack_resource(status={"stackName": STACK_NAME})
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.no_change_set(change_set_for(desired_for(resource), in_review=True))
    aws.existing_change_sets(["manual-review", theirs])
    aws.change_set_tags(theirs, OTHER_UID)

    outcome = reconciler.reconcile(resource)

    aws.verify()
    # Not ours: the owner comes from their change set, and nothing changed.
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet", "ListChangeSets", "DescribeChangeSet"]
    assert aws.mutating_calls == []
    found = conditions(outcome)
    _assert_stalled(found, "StackNotOwned")
    assert "set spec.adopt" in found["Stalled"]["message"]


@pytest.mark.parametrize("names", [[], ["manual-review"]])
def test_an_untagged_stack_in_review_without_a_turbine_change_set_is_not_ours(
    aws: StubbedAws, reconciler: Reconciler, names: list[str]
) -> None:
    resource = stack_resource(status={"stackName": STACK_NAME})
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.no_change_set(change_set_for(desired_for(resource), in_review=True))
    aws.existing_change_sets(names)

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet", "ListChangeSets"]
    _assert_stalled(conditions(outcome), "StackNotOwned")


def test_throttling_while_reading_the_owner_of_a_stack_in_review_is_retried(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    resource = stack_resource(status={"stackName": STACK_NAME})
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.no_change_set(change_set_for(desired_for(resource), in_review=True))
    aws.error(aws.cloudformation, "list_change_sets", "Throttling", "Rate exceeded")

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet", "ListChangeSets"]
    found = conditions(outcome)
    assert found["Reconciling"]["reason"] == "Retrying"
    assert "Stalled" not in found
    assert outcome.retry_after == 15.0


def test_only_a_completed_reconcile_writes_the_pending_change_set(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    pending = {"name": "turbine-0123456789abcdef01234567", "summary": "1 to modify", "changes": []}
    previous = {"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH, "pendingChangeSet": pending}
    resource = stack_resource(spec(updatePolicy="Manual"), previous)
    aws.stack("UPDATE_COMPLETE")
    aws.error(aws.cloudformation, "describe_change_set", "Throttling", "Rate exceeded")

    throttled = reconciler.reconcile(resource)

    # Throttled after DescribeStacks: the pending change set is neither set nor cleared.
    assert conditions(throttled)["Reconciling"]["reason"] == "Retrying"
    assert "pendingChangeSet" not in throttled.status
    after_throttling = merged(previous, throttled.status)
    assert after_throttling["pendingChangeSet"] == pending

    # The next look completes (someone executed the change set; the stack is updating): cleared.
    aws.stack("UPDATE_IN_PROGRESS")
    completed = reconciler.reconcile(stack_resource(resource.spec, after_throttling))

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet", "DescribeStacks"]
    assert conditions(completed)["Reconciling"]["reason"] == "StackOperationInProgress"
    assert completed.status["pendingChangeSet"] is None
    assert "pendingChangeSet" not in merged(after_throttling, completed.status)


def test_throttling_at_a_resync_keeps_a_ready_stack_ready(aws: StubbedAws, reconciler: Reconciler) -> None:
    # One throttle during a resync must not flip Ready (a burst would flap a fleet in Flux and ArgoCD).
    ready_condition = {
        "type": "Ready",
        "status": "True",
        "reason": "StackReady",
        "message": "ok",
        "lastTransitionTime": "2025-02-01T00:00:00Z",
        "observedGeneration": 2,
    }
    previous = {"stackName": STACK_NAME, "observedGeneration": 2, "conditions": [ready_condition]}
    aws.error(aws.cloudformation, "describe_stacks", "Throttling", "Rate exceeded")

    outcome = reconciler.reconcile(stack_resource(status=previous))

    aws.verify()
    found = conditions(outcome)
    assert found["Ready"] == ready_condition
    assert "Reconciling" not in found
    assert (found["Synced"]["status"], found["Synced"]["reason"]) == ("False", "Retrying")
    assert "Rate exceeded" in found["Synced"]["message"]
    assert outcome.retry_after == 15.0
    assert outcome.announcement is not None
    assert outcome.announcement.warning


def test_an_unassumable_role_stalls_instead_of_crashing(
    aws: StubbedAws, reconciler: Reconciler, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AwsAccessDenied("AssumeRole", "AccessDenied", "not authorized to perform: sts:AssumeRole")

    monkeypatch.setattr(aws.sessions, "client", refuse)

    outcome = reconciler.reconcile(stack_resource(spec(roleArn="arn:aws:iam::123456789012:role/nope")))

    found = conditions(outcome)
    _assert_stalled(found, "AwsAccessDenied")
    assert "sts:AssumeRole" in found["Stalled"]["message"]


def test_a_stack_whose_tags_were_replaced_from_outside_is_updated_to_put_them_back(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    # `aws cloudformation update-stack --tags Key=team,Value=data` replaced every tag, the owner's too:
    # status.stackId (written from this TurbineStack's own CreateChangeSet) still proves the stack its own.
    resource = stack_resource(spec())
    desired = desired_for(resource)
    resource = stack_resource(
        spec(), {"stackName": STACK_NAME, "stackId": STACK_ID, "lastAppliedHash": desired.hash}
    )
    name = change_set_for(desired)
    aws.stack("UPDATE_COMPLETE", tagged=False)
    aws.no_change_set(name)
    aws.bundle_listing(desired, present=True)
    aws.create_change_set(desired, name, "UPDATE", change_set_token(name, "UPDATE"))  # with the owner tags
    aws.existing_change_sets([name])

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert "Stalled" not in conditions(outcome)
    assert conditions(outcome)["Reconciling"]["reason"] == "ChangeSetCreating"
    assert aws.mutating_calls == ["CreateChangeSet"]
    assert outcome.status["stackId"] == STACK_ID


def test_a_foreign_stack_found_by_name_is_not_recorded_as_this_turbinestacks(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    # status.stackId proves a stack this TurbineStack's: naming someone else's stack must not write its id.
    aws.stack("UPDATE_COMPLETE", owner_uid=OTHER_UID)

    outcome = reconciler.reconcile(stack_resource(spec()))

    _assert_stalled(conditions(outcome), "StackNotOwned")
    assert "stackId" not in outcome.status


class _OwnersForbidden(ObjectsInMemory):
    """A namespace-scoped install: reading a TurbineStack of another namespace is refused."""

    def turbine_stack_uid(self, namespace: str, name: str) -> str | None:
        raise ClusterError(f"reading TurbineStack {namespace}/{name}: HTTP 403 Forbidden", transient=False)


def test_an_adopter_that_may_not_read_the_owner_stalls_instead_of_retrying_for_ever(
    aws: StubbedAws, settings: OperatorSettings
) -> None:
    reconciler = Reconciler(aws.sessions, SOURCES, settings, _OwnersForbidden(), clock=lambda: NOW)
    aws.stack("UPDATE_COMPLETE", owner_uid=OTHER_UID)

    outcome = reconciler.reconcile(stack_resource(spec(adopt=True)))

    aws.verify()
    assert aws.mutating_calls == []
    _assert_stalled(conditions(outcome), "StackOwnedByAnotherTurbineStack")
    assert outcome.retry_after is None


@pytest.mark.parametrize("owner_uid", [OTHER_UID, None], ids=["owner-gone", "untagged"])
def test_adopting_a_stack_that_is_not_a_turbine_stack_stalls_without_a_mutating_call(
    aws: StubbedAws, reconciler: Reconciler, owner_uid: str | None
) -> None:
    # Adopting replaces the template: a stack of another kind would lose its resources. Its template's
    # Metadata tells, whatever its name.
    if owner_uid is None:
        aws.stack("UPDATE_COMPLETE", tagged=False)
    else:
        aws.stack("UPDATE_COMPLETE", owner_uid=owner_uid)
    aws.foreign_template()

    outcome = reconciler.reconcile(stack_resource(spec(adopt=True)))

    aws.verify()
    assert aws.calls == ["DescribeStacks", "GetTemplate"]
    assert aws.mutating_calls == []
    stalled = conditions(outcome)["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "StackNotTurbine")
    assert f"Stack {STACK_NAME} is not a Turbine stack" in stalled["message"]
    assert "stackId" not in outcome.status  # not this TurbineStack's
    assert "outputs" not in outcome.status or outcome.status["outputs"] == {}
