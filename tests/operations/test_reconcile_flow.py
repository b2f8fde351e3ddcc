"""Reconciler on the paths that end well: new stacks, approvals, no-ops, suspension, bad specs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stubbed.aws import (
    OWNER_UID,
    QUEUE,
    REGION,
    STACK_ID,
    STACK_NAME,
    TOPIC,
    resource_change,
    spec,
)
from turbine_operator.core.naming import change_set_name, client_request_token
from turbine_operator.core.rendering import DesiredStack
from turbine_operator.operations.reconcile import Reconciler

from .harness import (
    NOW_TEXT,
    StubbedAws,
    conditions,
    desired_for,
    merged,
    stack_resource,
)

OLD_HASH = "0" * 32


def test_a_new_stack_uploads_the_bundle_and_creates_a_create_change_set(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    resource = stack_resource()
    desired = desired_for(resource)
    name = change_set_name(desired.hash)
    aws.no_stack()
    aws.bundle_listing(desired, present=False)
    aws.bundle_uploads(desired)
    token = client_request_token(OWNER_UID, "change-set", str(resource.generation), desired.hash, "CREATE")
    aws.create_change_set(desired, name, "CREATE", token)

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "ListObjectsV2", "PutObject", "PutObject", "CreateChangeSet"]
    found = conditions(outcome)
    assert (found["Ready"]["status"], found["Reconciling"]["reason"]) == ("False", "ChangeSetCreating")
    assert outcome.status["stackName"] == STACK_NAME
    assert outcome.status["region"] == REGION
    assert outcome.status["desiredHash"] == desired.hash
    assert outcome.status["observedGeneration"] == 2
    assert outcome.status["lastSyncTime"] == NOW_TEXT
    assert outcome.announcement is not None
    assert outcome.announcement.message == f"Created CREATE change set {name} for stack {STACK_NAME}"


def test_a_change_set_already_created_by_a_lost_request_is_success(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    resource = stack_resource()
    desired = desired_for(resource)
    aws.no_stack()
    aws.bundle_listing(desired, present=True)
    aws.error(
        aws.cloudformation,
        "create_change_set",
        "AlreadyExistsException",
        f"ChangeSet {change_set_name(desired.hash)} already exists",
    )

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert conditions(outcome)["Reconciling"]["reason"] == "ChangeSetCreating"


def test_a_stack_in_progress_is_only_described(aws: StubbedAws, reconciler: Reconciler) -> None:
    aws.stack("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")

    outcome = reconciler.reconcile(stack_resource(status={"stackName": STACK_NAME}))

    aws.verify()
    assert aws.calls == ["DescribeStacks"]
    found = conditions(outcome)
    assert found["Reconciling"]["reason"] == "StackOperationInProgress"
    assert found["Ready"]["status"] == "False"


def test_our_create_change_set_in_review_is_executed(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(status={"stackName": STACK_NAME})
    desired = desired_for(resource)
    name = change_set_name(desired.hash)
    token = client_request_token(OWNER_UID, "execute", str(resource.generation), desired.hash)
    # A stack in review that already shows our owner tag: no need to read the change set's tags.
    aws.stack("REVIEW_IN_PROGRESS")
    aws.change_set(name, changes=[resource_change("Add", "TaskQueue", QUEUE)])
    aws.execute_change_set(name, token)

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet", "ExecuteChangeSet"]
    assert outcome.status["lastAttemptedHash"] == desired.hash
    assert conditions(outcome)["Reconciling"]["message"] == f"Executing change set {name}: 1 to add"


MANUAL_CHANGES = [
    resource_change("Modify", "TaskQueue", QUEUE, replacement="True"),
    resource_change("Add", "Alerts", TOPIC),
]


def test_a_manual_change_set_waits_for_approval(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(
        spec(updatePolicy="Manual"), status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH}
    )
    name = change_set_name(desired_for(resource).hash)
    aws.stack("UPDATE_COMPLETE")
    aws.change_set(name, changes=MANUAL_CHANGES)

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet"]
    assert "ExecuteChangeSet" not in aws.calls
    found = conditions(outcome)
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("False", "ChangeSetAwaitingApproval")
    assert set(found) == {"Ready"}  # waiting is neither in progress nor stalled
    assert f"set spec.approvedChangeSet to {name}" in found["Ready"]["message"]
    assert outcome.status["pendingChangeSet"] == {
        "name": name,
        "summary": "1 to add, 1 to modify (1 replaced)",
        "changes": [
            {
                "action": "Modify",
                "logicalResourceId": "TaskQueue",
                "resourceType": QUEUE,
                "replacement": "True",
            },
            {"action": "Add", "logicalResourceId": "Alerts", "resourceType": TOPIC},
        ],
        "createdAt": "2025-03-01T09:30:00Z",
    }
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "ChangeSetAwaitingApproval"


def test_approving_another_change_set_name_still_waits(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(
        spec(updatePolicy="Manual", approvedChangeSet="turbine-ffffffffffffffffffffffff"),
        status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH},
    )
    aws.stack("UPDATE_COMPLETE")
    aws.change_set(change_set_name(desired_for(resource).hash), changes=MANUAL_CHANGES)

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.mutating_calls == []
    assert conditions(outcome)["Ready"]["reason"] == "ChangeSetAwaitingApproval"


def test_an_approved_change_set_is_executed(aws: StubbedAws, reconciler: Reconciler) -> None:
    unapproved = stack_resource(spec(updatePolicy="Manual"))
    name = change_set_name(desired_for(unapproved).hash)
    resource = stack_resource(
        spec(updatePolicy="Manual", approvedChangeSet=name),
        status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH, "pendingChangeSet": {"name": name}},
    )
    desired = desired_for(resource)
    assert change_set_name(desired.hash) == name  # approving does not change what is applied
    aws.stack("UPDATE_COMPLETE")
    aws.change_set(name, changes=MANUAL_CHANGES)
    aws.execute_change_set(
        name, client_request_token(OWNER_UID, "execute", str(resource.generation), desired.hash)
    )

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet", "ExecuteChangeSet"]
    assert outcome.status["lastAttemptedHash"] == desired.hash
    assert outcome.status["pendingChangeSet"] is None
    assert conditions(outcome)["Reconciling"]["reason"] == "ChangeSetExecuting"


def test_an_executed_change_set_makes_the_stack_ready(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH})
    desired = desired_for(resource)
    aws.stack("UPDATE_COMPLETE", parameters=desired.parameters)
    aws.change_set(change_set_name(desired.hash), execution_status="EXECUTE_COMPLETE")
    aws.original_template(desired)  # settled: the live stack is compared with the spec

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet", "GetTemplate"]
    assert aws.mutating_calls == []
    assert outcome.status["lastAppliedHash"] == desired.hash
    assert conditions(outcome)["Ready"]["status"] == "True"


@pytest.mark.parametrize("stack_status", ["CREATE_COMPLETE", "UPDATE_COMPLETE"])
def test_an_unchanged_spec_only_describes_the_stack(
    aws: StubbedAws, reconciler: Reconciler, stack_status: str
) -> None:
    resource = stack_resource()
    desired = desired_for(resource)
    resource = stack_resource(
        status={"stackName": STACK_NAME, "stackId": STACK_ID, "lastAppliedHash": desired.hash}
    )
    aws.stack(
        stack_status, outputs={"WebserverURL": "http://webserver.example:8080"}, parameters=desired.parameters
    )
    aws.original_template(desired)  # read only: the live template, compared with the spec

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "GetTemplate"]
    assert aws.mutating_calls == []
    found = conditions(outcome)
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("True", "StackReady")
    assert set(found) == {"Ready", "Drifted"}  # neither in progress nor stalled
    assert (found["Drifted"]["status"], found["Drifted"]["reason"]) == ("False", "InSync")
    assert outcome.status["lastAppliedHash"] == desired.hash
    assert outcome.status["outputs"] == {"WebserverURL": "http://webserver.example:8080"}
    assert outcome.announcement is None


def test_an_unchanged_spec_turns_termination_protection_on(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(spec(terminationProtection=True))
    desired = desired_for(resource)
    resource = stack_resource(resource.spec, {"stackName": STACK_NAME, "lastAppliedHash": desired.hash})
    aws.stack("UPDATE_COMPLETE", termination_protection=False, parameters=desired.parameters)
    aws.original_template(desired)
    aws.cloudformation.add_response(
        "update_termination_protection",
        {"StackId": STACK_ID},
        {"StackName": STACK_NAME, "EnableTerminationProtection": True},
    )

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "GetTemplate", "UpdateTerminationProtection"]
    assert conditions(outcome)["Ready"]["status"] == "True"


def test_a_suspended_resource_makes_no_aws_call(aws: StubbedAws, reconciler: Reconciler) -> None:
    outcome = reconciler.reconcile(stack_resource(spec(suspend=True)))

    aws.verify()
    assert aws.calls == []
    assert outcome.status == {"observedGeneration": 2, "stackName": STACK_NAME, "region": REGION}
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "Suspended"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            spec(parameters={"NotAParameter": "x"}),
            "spec.parameters.NotAParameter: is not a parameter of the Turbine master template",
        ),
        (
            spec(parameters={"MaxGroupSize": "4"}),
            "spec.parameters.MaxGroupSize: repeats the typed field spec.workers.maxSize",
        ),
        (
            spec(workers={"minSize": 5, "maxSize": 2}),
            "spec.workers.minSize: must not exceed spec.workers.maxSize",
        ),
        ({"region": REGION}, "spec.templateBucket: is required"),
    ],
)
def test_an_invalid_spec_stalls_without_any_aws_call(
    aws: StubbedAws, reconciler: Reconciler, fields: dict[str, object], message: str
) -> None:
    outcome = reconciler.reconcile(stack_resource(fields))

    aws.verify()
    assert aws.calls == []
    found = conditions(outcome)
    assert (found["Stalled"]["reason"], found["Ready"]["reason"]) == ("InvalidSpec", "InvalidSpec")
    assert found["Stalled"]["message"].startswith(message)
    assert outcome.announcement is not None
    assert outcome.announcement.warning


def test_waiting_for_approval_is_announced_once(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(
        spec(updatePolicy="Manual"), status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH}
    )
    name = change_set_name(desired_for(resource).hash)
    for _ in range(2):
        aws.stack("UPDATE_COMPLETE")
        aws.change_set(name, changes=MANUAL_CHANGES)

    first = reconciler.reconcile(resource)
    second = reconciler.reconcile(stack_resource(resource.spec, merged(resource.status, first.status)))

    aws.verify()
    assert first.announcement is not None
    assert second.announcement is None
    assert second.status["pendingChangeSet"]["name"] == name


# A stack in review shows no tags on real AWS until its CREATE change set runs: the owner is on the
# change set, read (ListChangeSets, then DescribeChangeSet of the first turbine-* one) before planning.


def test_an_untagged_stack_in_review_with_our_change_set_is_executed(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    resource = stack_resource(status={"stackName": STACK_NAME})
    desired = desired_for(resource)
    name = change_set_name(desired.hash)
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.existing_change_sets(["manual-review", name])
    aws.change_set_tags(name, OWNER_UID)
    aws.change_set(name, changes=[resource_change("Add", "TaskQueue", QUEUE)])
    aws.execute_change_set(
        name, client_request_token(OWNER_UID, "execute", str(resource.generation), desired.hash)
    )

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == [
        "DescribeStacks",
        "ListChangeSets",
        "DescribeChangeSet",
        "DescribeChangeSet",
        "ExecuteChangeSet",
    ]
    assert outcome.status["lastAttemptedHash"] == desired.hash
    assert outcome.status["stackId"] == STACK_ID
    assert conditions(outcome)["Reconciling"]["message"] == f"Executing change set {name}: 1 to add"


def test_an_untagged_stack_in_review_with_our_manual_change_set_waits_for_approval(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    resource = stack_resource(spec(updatePolicy="Manual"), status={"stackName": STACK_NAME})
    name = change_set_name(desired_for(resource).hash)
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.existing_change_sets([name])
    aws.change_set_tags(name, OWNER_UID)
    aws.change_set(name, changes=[resource_change("Add", "TaskQueue", QUEUE)])

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "ListChangeSets", "DescribeChangeSet", "DescribeChangeSet"]
    assert aws.mutating_calls == []
    found = conditions(outcome)
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("False", "ChangeSetAwaitingApproval")
    assert "Stalled" not in found
    assert outcome.status["pendingChangeSet"]["name"] == name


# ClientRequestTokens: derived from the resource's uid and generation (and the desired state)


def _queue_change_set(aws: StubbedAws, desired: DesiredStack, generation: int) -> None:
    aws.no_stack()
    aws.bundle_listing(desired, present=True)
    token = client_request_token(OWNER_UID, "change-set", str(generation), desired.hash, "CREATE")
    aws.create_change_set(desired, change_set_name(desired.hash), "CREATE", token)


def _queue_execute(aws: StubbedAws, desired: DesiredStack, generation: int) -> None:
    name = change_set_name(desired.hash)
    aws.stack("UPDATE_COMPLETE")
    aws.change_set(name, changes=[resource_change("Add", "TaskQueue", QUEUE)])
    aws.execute_change_set(name, client_request_token(OWNER_UID, "execute", str(generation), desired.hash))


def _queue_continue_rollback(aws: StubbedAws, desired: DesiredStack, generation: int) -> None:
    aws.stack("UPDATE_ROLLBACK_FAILED")
    token = client_request_token(OWNER_UID, "continue-rollback", str(generation), desired.hash)
    aws.cloudformation.add_response(
        "continue_update_rollback", {}, {"StackName": STACK_NAME, "ClientRequestToken": token}
    )


@pytest.mark.parametrize(
    ("queue", "operation", "parameter"),
    [
        (_queue_change_set, "CreateChangeSet", "ClientToken"),
        (_queue_execute, "ExecuteChangeSet", "ClientRequestToken"),
        (_queue_continue_rollback, "ContinueUpdateRollback", "ClientRequestToken"),
    ],
    ids=["change-set", "execute", "continue-rollback"],
)
def test_tokens_are_equal_within_a_generation_and_differ_across_generations(
    aws: StubbedAws,
    reconciler: Reconciler,
    queue: Callable[[StubbedAws, DesiredStack, int], None],
    operation: str,
    parameter: str,
) -> None:
    generations = (2, 2, 3)  # a retry of generation 2, then a new generation with the same spec
    resources = [
        stack_resource(status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH}, generation=generation)
        for generation in generations
    ]
    hashes = {desired_for(resource).hash for resource in resources}
    assert len(hashes) == 1  # the generation is not part of the desired state
    for resource in resources:
        queue(aws, desired_for(resource), resource.generation)
        reconciler.reconcile(resource)

    aws.verify()
    first, retry, next_generation = aws.cloudformation.sent(operation, parameter)
    assert first == retry
    assert next_generation != first
