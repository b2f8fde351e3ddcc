"""Reconciler on the paths that end well: new stacks, approvals, no-ops, suspension, bad specs."""

from __future__ import annotations

import datetime
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
from turbine_operator.core.naming import execute_token, hash_of_token
from turbine_operator.core.render.rendering import DesiredStack
from turbine_operator.operations.stack.reconcile import Reconciler

from .harness import (
    NOW_TEXT,
    StubbedAws,
    change_set_for,
    change_set_token,
    conditions,
    desired_for,
    execute_token_for,
    merged,
    stack_resource,
)

OLD_HASH = "0" * 32


def test_a_new_stack_uploads_the_bundle_and_creates_a_create_change_set(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    resource = stack_resource()
    desired = desired_for(resource)
    name = change_set_for(desired, in_review=True)
    aws.new_stack()
    aws.bundle_listing(desired, present=False)
    aws.bundle_uploads(desired)
    aws.create_change_set(desired, name, "CREATE", change_set_token(name, "CREATE"))

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == [
        "DescribeStacks",
        "DescribeStacks",
        "ListObjectsV2",
        "PutObject",
        "PutObject",
        "CreateChangeSet",
    ]
    found = conditions(outcome)
    assert (found["Ready"]["status"], found["Reconciling"]["reason"]) == ("False", "ChangeSetCreating")
    assert outcome.status["stackName"] == STACK_NAME
    assert outcome.status["region"] == REGION
    assert outcome.status["desiredHash"] == desired.hash
    assert outcome.status["observedGeneration"] == 2
    assert outcome.status["lastSyncTime"] == NOW_TEXT
    # From CreateChangeSet's reply: a delete that looked the new stack up by name might not see it yet.
    assert outcome.status["stackId"] == STACK_ID
    assert outcome.announcement is not None
    assert outcome.announcement.message == f"Created CREATE change set {name} for stack {STACK_NAME}"


def test_a_change_set_already_created_by_a_lost_request_is_success(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    resource = stack_resource()
    desired = desired_for(resource)
    aws.new_stack()
    aws.bundle_listing(desired, present=True)
    aws.error(
        aws.cloudformation,
        "create_change_set",
        "AlreadyExistsException",
        f"ChangeSet {change_set_for(desired, in_review=True)} already exists",
    )

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert conditions(outcome)["Reconciling"]["reason"] == "ChangeSetCreating"
    assert "stackId" not in outcome.status  # the refusal names no stack


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
    name = change_set_for(desired, in_review=True)
    token = execute_token_for(desired, name)
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
    name = change_set_for(desired_for(resource))
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
    aws.change_set(change_set_for(desired_for(resource)), changes=MANUAL_CHANGES)

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.mutating_calls == []
    assert conditions(outcome)["Ready"]["reason"] == "ChangeSetAwaitingApproval"


def test_an_approved_change_set_is_executed(aws: StubbedAws, reconciler: Reconciler) -> None:
    unapproved = stack_resource(spec(updatePolicy="Manual"))
    name = change_set_for(desired_for(unapproved))
    resource = stack_resource(
        spec(updatePolicy="Manual", approvedChangeSet=name),
        status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH, "pendingChangeSet": {"name": name}},
    )
    desired = desired_for(resource)
    assert change_set_for(desired) == name  # approving does not change what is applied
    aws.stack("UPDATE_COMPLETE")
    aws.change_set(name, changes=MANUAL_CHANGES)
    aws.execute_change_set(name, execute_token_for(desired, name))

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet", "ExecuteChangeSet"]
    assert outcome.status["lastAttemptedHash"] == desired.hash
    assert outcome.status["pendingChangeSet"] is None
    assert conditions(outcome)["Reconciling"]["reason"] == "ChangeSetExecuting"


def test_an_executed_change_set_makes_the_stack_ready(aws: StubbedAws, reconciler: Reconciler) -> None:
    # Status still remembers the old hash (the write after the execution was lost, say): the stack's
    # applied-hash tag, set by the update itself, says what it applied.
    resource = stack_resource(status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH})
    desired = desired_for(resource)
    aws.stack("UPDATE_COMPLETE", parameters=desired.parameters, applied_hash=desired.hash)
    aws.original_template(desired)  # settled: the live stack is compared with the spec

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "GetTemplate"]
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
        stack_status,
        outputs={"WebserverURL": "http://webserver.example:8080"},
        parameters=desired.parameters,
        applied_hash=desired.hash,
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


def test_a_settled_stack_is_compared_with_its_template_again_only_after_it_changed(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    desired = desired_for(stack_resource())
    resource = stack_resource(
        status={"stackName": STACK_NAME, "stackId": STACK_ID, "lastAppliedHash": desired.hash}
    )
    updated = datetime.datetime(2026, 11, 1, 9, 30, tzinfo=datetime.UTC)
    aws.stack(
        "UPDATE_COMPLETE", parameters=desired.parameters, applied_hash=desired.hash, last_updated=updated
    )
    aws.original_template(desired)
    reconciler.reconcile(resource)
    # The next resync: nothing moved, so the last comparison holds and the template is not read.
    aws.stack(
        "UPDATE_COMPLETE", parameters=desired.parameters, applied_hash=desired.hash, last_updated=updated
    )
    outcome = reconciler.reconcile(resource)
    assert conditions(outcome)["Drifted"]["reason"] == "InSync"
    # Someone updated the stack outside the operator: its LastUpdatedTime moved, so it is read again.
    later = updated + datetime.timedelta(hours=1)
    aws.stack("UPDATE_COMPLETE", parameters=desired.parameters, applied_hash=desired.hash, last_updated=later)
    aws.original_template(desired)
    reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "GetTemplate", "DescribeStacks", "DescribeStacks", "GetTemplate"]


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
    # A name is recorded once chosen with the tenant's prefix, which a suspended TurbineStack does not read.
    assert outcome.status == {"observedGeneration": 2, "region": REGION}
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "Suspended"


@pytest.mark.parametrize(
    ("fields", "message", "reads"),
    [
        # Found while rendering, after the stack was read (its image is kept): no mutating call.
        (
            spec(parameters={"NotAParameter": "x"}),
            "spec.parameters.NotAParameter: is not a parameter of the Turbine master template",
            ["DescribeStacks", "DescribeStacks"],
        ),
        (
            spec(parameters={"MaxGroupSize": "4"}),
            "spec.parameters.MaxGroupSize: repeats the typed field spec.workers.maxSize",
            ["DescribeStacks", "DescribeStacks"],
        ),
        # Found by the parse: no AWS call at all.
        (
            spec(workers={"minSize": 5, "maxSize": 2}),
            "spec.workers.minSize: must not exceed spec.workers.maxSize",
            [],
        ),
        ({"region": REGION}, "spec.templateBucket: is required", []),
    ],
)
def test_an_invalid_spec_stalls_without_any_mutating_aws_call(
    aws: StubbedAws, reconciler: Reconciler, fields: dict[str, object], message: str, reads: list[str]
) -> None:
    if reads:
        aws.new_stack()

    outcome = reconciler.reconcile(stack_resource(fields))

    aws.verify()
    assert aws.calls == reads
    found = conditions(outcome)
    assert (found["Stalled"]["reason"], found["Ready"]["reason"]) == ("InvalidSpec", "InvalidSpec")
    assert found["Stalled"]["message"].startswith(message)
    assert outcome.announcement is not None
    assert outcome.announcement.warning


def test_waiting_for_approval_is_announced_once(aws: StubbedAws, reconciler: Reconciler) -> None:
    resource = stack_resource(
        spec(updatePolicy="Manual"), status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH}
    )
    name = change_set_for(desired_for(resource))
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
    name = change_set_for(desired, in_review=True)
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.change_set(name, changes=[resource_change("Add", "TaskQueue", QUEUE)], owner_uid=OWNER_UID)
    aws.execute_change_set(name, execute_token_for(desired, name))

    outcome = reconciler.reconcile(resource)

    aws.verify()
    # The owner is read from the change set the plan needs anyway: one DescribeChangeSet, no listing.
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet", "ExecuteChangeSet"]
    assert outcome.status["lastAttemptedHash"] == desired.hash
    assert outcome.status["stackId"] == STACK_ID
    assert conditions(outcome)["Reconciling"]["message"] == f"Executing change set {name}: 1 to add"


def test_a_stack_in_review_keeps_its_earlier_change_sets_when_the_spec_moves_on(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    # A spec that goes A to B (and maybe back to A) while the stack is in review: A's change set
    # stays, so the stack keeps a change set that names its owner and A finds its own again.
    resource = stack_resource(status={"stackName": STACK_NAME})
    desired = desired_for(resource)
    earlier = "turbine-111111111111111111111111"
    name = change_set_for(desired, in_review=True)
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.no_change_set(name)  # B's is not there yet: the owner comes from A's, found by the listing
    aws.existing_change_sets([earlier])
    aws.change_set_tags(earlier, OWNER_UID)
    aws.bundle_listing(desired, present=True)
    aws.create_change_set(desired, name, "CREATE", change_set_token(name, "CREATE"))

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls[-1] == "CreateChangeSet"
    assert "DeleteChangeSet" not in aws.calls
    assert conditions(outcome)["Reconciling"]["reason"] == "ChangeSetCreating"


def test_an_untagged_stack_in_review_with_our_manual_change_set_waits_for_approval(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    resource = stack_resource(spec(updatePolicy="Manual"), status={"stackName": STACK_NAME})
    name = change_set_for(desired_for(resource), in_review=True)
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.change_set(name, changes=[resource_change("Add", "TaskQueue", QUEUE)], owner_uid=OWNER_UID)

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeChangeSet"]
    assert aws.mutating_calls == []
    found = conditions(outcome)
    assert (found["Ready"]["status"], found["Ready"]["reason"]) == ("False", "ChangeSetAwaitingApproval")
    assert "Stalled" not in found
    assert outcome.status["pendingChangeSet"]["name"] == name


# ClientRequestTokens: equal for retries of one request, different for every new attempt


def _queue_change_set(aws: StubbedAws, desired: DesiredStack, first: bool) -> None:
    aws.no_stack()
    if first:  # the operator lists a bundle once; later change sets trust it (UploadedBundles)
        aws.bundle_listing(desired, present=True)
    name = change_set_for(desired, in_review=True)
    aws.create_change_set(desired, name, "CREATE", change_set_token(name, "CREATE"))


def _queue_execute(aws: StubbedAws, desired: DesiredStack, first: bool) -> None:
    name = change_set_for(desired)
    aws.stack("UPDATE_COMPLETE")
    aws.change_set(name, changes=[resource_change("Add", "TaskQueue", QUEUE)])
    aws.execute_change_set(name, execute_token_for(desired, name))


@pytest.mark.parametrize(
    ("queue", "operation", "parameter"),
    [
        (_queue_change_set, "CreateChangeSet", "ClientToken"),
        (_queue_execute, "ExecuteChangeSet", "ClientRequestToken"),
    ],
    ids=["change-set", "execute"],
)
def test_a_retried_request_repeats_its_token(
    aws: StubbedAws,
    reconciler: Reconciler,
    queue: Callable[[StubbedAws, DesiredStack, bool], None],
    operation: str,
    parameter: str,
) -> None:
    generations = (2, 2, 3)  # a retry of generation 2, then a new generation with the same spec
    resources = [
        stack_resource(status={"stackName": STACK_NAME, "lastAppliedHash": OLD_HASH}, generation=generation)
        for generation in generations
    ]
    for index, resource in enumerate(resources):
        queue(aws, desired_for(resource), index == 0)
        reconciler.reconcile(resource)

    aws.verify()
    tokens = aws.cloudformation.sent(operation, parameter)
    assert len(set(tokens)) == 1  # the same change set on the same stack: one request, retried


def test_every_change_set_is_executed_with_its_own_token() -> None:
    # A spec that goes A to B and back to A, or a drift remediation, applies the same desired hash
    # again: CloudFormation would take a reused token for a retry of the first execution.
    desired = "a" * 32
    first = execute_token(desired, "arn:aws:cloudformation:us-east-1:1:changeSet/x/1111")
    again = execute_token(desired, "arn:aws:cloudformation:us-east-1:1:changeSet/x/2222")
    assert first != again
    assert hash_of_token(first) == hash_of_token(again) == desired
    assert len(first) <= 128


@pytest.mark.parametrize("updated_since", [False, True])
def test_a_stack_just_created_by_our_change_set_is_not_read_back_for_spec_drift(
    aws: StubbedAws, reconciler: Reconciler, updated_since: bool
) -> None:
    resource = stack_resource(status={"stackName": STACK_NAME})
    desired = desired_for(resource)
    name = change_set_for(desired, in_review=True)
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.change_set(name, changes=[resource_change("Add", "TaskQueue", QUEUE)], owner_uid=OWNER_UID)
    aws.execute_change_set(name, execute_token_for(desired, name))
    reconciler.reconcile(resource)
    # The creation completed. Never updated since, its template is the one executed: no GetTemplate.
    # Updated since (by someone else: LastUpdatedTime is there), it is read as any other.
    later = datetime.datetime(2026, 11, 1, 9, 30, tzinfo=datetime.UTC) if updated_since else None
    aws.stack("CREATE_COMPLETE", parameters=desired.parameters, applied_hash=desired.hash, last_updated=later)
    if updated_since:
        aws.original_template(desired)
    outcome = reconciler.reconcile(
        stack_resource(
            status={"stackName": STACK_NAME, "stackId": STACK_ID, "lastAttemptedHash": desired.hash}
        )
    )

    aws.verify()
    expected = ["DescribeStacks", "GetTemplate"] if updated_since else ["DescribeStacks"]
    assert aws.calls[3:] == expected
    assert conditions(outcome)["Ready"]["status"] == "True"
    assert conditions(outcome)["Drifted"]["reason"] == "InSync"
