"""Deleter: retain or delete the stack, and never report "finished" while a stack may remain."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from stubbed.aws import (
    NAME,
    NAMESPACE,
    OWNER_UID,
    REGION,
    SERVICE_ROLE,
    STACK_ID,
    STACK_NAME,
    spec,
    stack_description,
)
from stubbed.cluster import ObjectsInMemory
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.errors import ClusterError
from turbine_operator.core.naming import client_request_token
from turbine_operator.core.plan import delete_retries
from turbine_operator.operations.stack.deletion import Deleter

from .harness import (
    NOW,
    StubbedAws,
    conditions,
    merged,
    stack_resource,
)

SETTINGS = OperatorSettings(default_region=REGION, poll_interval=15.0)
KNOWN = {"stackName": STACK_NAME, "stackId": STACK_ID, "region": "us-east-1"}
FIRST_TOKEN = client_request_token(OWNER_UID, "delete", STACK_ID)


def _delete_stack(aws: StubbedAws, token: str, role: str | None = None) -> None:
    request: dict[str, Any] = {"StackName": STACK_ID, "ClientRequestToken": token}
    if role:
        request["RoleARN"] = role
    aws.cloudformation.add_response("delete_stack", {}, request)


def test_retain_makes_no_aws_call(aws: StubbedAws, deleter: Deleter) -> None:
    outcome = deleter.delete(stack_resource(status=KNOWN), attempt=0)

    aws.verify()
    assert aws.calls == []
    assert outcome.finished
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "StackRetained"
    assert STACK_NAME in outcome.announcement.message


def test_a_resource_with_no_status_and_no_stack_is_finished(aws: StubbedAws, deleter: Deleter) -> None:
    aws.new_stack()  # the spec names the stack: it is looked up even with no status, and its legacy name

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete")), attempt=0)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeStacks"]
    assert outcome.finished


def test_a_stack_created_before_status_was_written_is_deleted(aws: StubbedAws, deleter: Deleter) -> None:
    # The operator died after its CreateChangeSet and before writing status: the stack (in review,
    # untagged until executed) is found by the spec's name and recognised by our change set's tags.
    name = "turbine-0123456789abcdef01234567"
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.existing_change_sets([name])
    aws.change_set_tags(name, OWNER_UID)
    _delete_stack(aws, FIRST_TOKEN)

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete")), attempt=0)

    aws.verify()
    assert "DeleteStack" in aws.calls
    assert not outcome.finished  # it waits for the stack to go


def test_deleting_a_suspended_resource_makes_no_aws_call(aws: StubbedAws, deleter: Deleter) -> None:
    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete", suspend=True), KNOWN), attempt=0)

    aws.verify()
    assert aws.calls == []
    assert outcome.finished
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "StackRetained"
    assert "spec.suspend is true" in outcome.announcement.message


def test_an_adopter_never_deletes_the_stack_of_a_live_turbinestack(
    aws: StubbedAws, deleter: Deleter, objects: ObjectsInMemory
) -> None:
    other = "0b5e7e4c-1111-2222-3333-444455556666"
    objects.turbine_stacks[(NAMESPACE, NAME)] = other  # the TurbineStack its tags name still exists
    aws.stack("UPDATE_COMPLETE", owner_uid=other, requested_as=STACK_ID)

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete", adopt=True), KNOWN), attempt=0)

    aws.verify()
    assert aws.mutating_calls == []
    assert outcome.finished
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "StackNotOwned"


def test_an_adopter_never_deletes_a_stack_that_is_not_a_turbine_stack(
    aws: StubbedAws, deleter: Deleter
) -> None:
    # Its owner is gone, so spec.adopt would take it; but its template is not a Turbine master.
    aws.stack("UPDATE_COMPLETE", owner_uid="0b5e7e4c-1111-2222-3333-444455556666", requested_as=STACK_ID)
    aws.foreign_template()

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete", adopt=True), KNOWN), attempt=0)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "GetTemplate"]
    assert outcome.finished
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "StackNotOwned"
    assert "not a Turbine master" in outcome.announcement.message


class _OwnersUnreadable(ObjectsInMemory):
    """A namespace-scoped install's view: reading a TurbineStack of another namespace is forbidden."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def turbine_stack_uid(self, namespace: str, name: str) -> str | None:
        reason = {403: "Forbidden", 503: "Service Unavailable"}[self.status]
        raise ClusterError(
            f"reading TurbineStack {namespace}/{name}: HTTP {self.status} {reason}",
            transient=self.status != 403,
        )


def test_an_adopter_that_cannot_read_the_owner_releases_without_deleting(aws: StubbedAws) -> None:
    deleter = Deleter(
        aws.sessions, OperatorSettings(default_region=REGION), _OwnersUnreadable(403), lambda: NOW
    )
    aws.stack("UPDATE_COMPLETE", owner_uid="0b5e7e4c-1111-2222-3333-444455556666", requested_as=STACK_ID)

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete", adopt=True), KNOWN), attempt=0)

    aws.verify()
    assert aws.mutating_calls == []
    assert outcome.finished  # not a retry of the same 403 for ever
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "StackNotOwned"
    assert f"TurbineStack {NAMESPACE}/{NAME}, which cannot be read: " in outcome.announcement.message
    assert "HTTP 403 Forbidden" in outcome.announcement.message


def test_an_adopter_retries_when_the_owner_is_briefly_unreadable(aws: StubbedAws) -> None:
    deleter = Deleter(
        aws.sessions, OperatorSettings(default_region=REGION), _OwnersUnreadable(503), lambda: NOW
    )
    aws.stack("UPDATE_COMPLETE", owner_uid="0b5e7e4c-1111-2222-3333-444455556666", requested_as=STACK_ID)

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete", adopt=True), KNOWN), attempt=0)

    assert aws.mutating_calls == []
    assert not outcome.finished
    assert conditions(outcome)["Reconciling"]["reason"] == "Retrying"


@pytest.mark.parametrize("role", [None, SERVICE_ROLE])
def test_delete_starts_a_delete_with_a_token_and_waits(
    aws: StubbedAws, deleter: Deleter, role: str | None
) -> None:
    fields = spec(deletionPolicy="Delete", **({"serviceRoleArn": role} if role else {}))
    aws.stack("CREATE_COMPLETE", requested_as=STACK_ID)
    _delete_stack(aws, FIRST_TOKEN, role)

    outcome = deleter.delete(stack_resource(fields, KNOWN), attempt=0)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DeleteStack"]
    assert not outcome.finished
    assert outcome.retry_after == 15.0
    assert conditions(outcome)["Reconciling"]["reason"] == "Deleting"
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "StackDeleting"


def test_the_delete_token_does_not_depend_on_the_generation(aws: StubbedAws, deleter: Deleter) -> None:
    for _ in range(2):
        aws.stack("CREATE_COMPLETE", requested_as=STACK_ID)
        _delete_stack(aws, FIRST_TOKEN)

    for generation in (2, 3):
        deleter.delete(stack_resource(spec(deletionPolicy="Delete"), KNOWN, generation=generation), attempt=0)

    aws.verify()
    assert aws.cloudformation.sent("DeleteStack", "ClientRequestToken") == [FIRST_TOKEN, FIRST_TOKEN]


def test_a_delete_in_progress_is_waited_for(aws: StubbedAws, deleter: Deleter) -> None:
    aws.stack("DELETE_IN_PROGRESS", requested_as=STACK_ID)

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete"), KNOWN), attempt=3)

    aws.verify()
    assert aws.calls == ["DescribeStacks"]
    assert not outcome.finished
    assert conditions(outcome)["Reconciling"]["message"] == f"Stack {STACK_NAME} is DELETE_IN_PROGRESS"


def test_a_deleted_stack_found_by_id_is_finished(aws: StubbedAws, deleter: Deleter) -> None:
    aws.stack("DELETE_COMPLETE", requested_as=STACK_ID)
    aws.no_stack()  # and none of its name was made after it

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete"), KNOWN), attempt=4)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeStacks"]
    assert outcome.finished
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "StackDeleted"


def test_a_stack_that_does_not_exist_by_name_is_finished(aws: StubbedAws, deleter: Deleter) -> None:
    aws.no_stack()

    outcome = deleter.delete(
        stack_resource(spec(deletionPolicy="Delete"), {"stackName": STACK_NAME}), attempt=0
    )

    aws.verify()
    assert outcome.finished


def test_termination_protection_wanted_by_the_spec_blocks_the_delete(
    aws: StubbedAws, deleter: Deleter
) -> None:
    aws.stack("UPDATE_COMPLETE", termination_protection=True, requested_as=STACK_ID)

    outcome = deleter.delete(
        stack_resource(spec(deletionPolicy="Delete", terminationProtection=True), KNOWN), attempt=0
    )

    aws.verify()
    assert aws.calls == ["DescribeStacks"]
    assert not outcome.finished
    found = conditions(outcome)
    assert (found["Stalled"]["reason"], found["Ready"]["status"]) == ("TerminationProtected", "False")
    assert "spec.terminationProtection to false" in found["Stalled"]["message"]
    assert outcome.announcement is not None
    assert (outcome.announcement.reason, outcome.announcement.warning) == ("TerminationProtected", True)


def test_termination_protection_the_spec_no_longer_wants_is_lifted_before_the_delete(
    aws: StubbedAws, deleter: Deleter
) -> None:
    aws.stack("UPDATE_COMPLETE", termination_protection=True, requested_as=STACK_ID)
    aws.cloudformation.add_response(
        "update_termination_protection",
        {"StackId": STACK_ID},
        {"StackName": STACK_ID, "EnableTerminationProtection": False},
    )
    _delete_stack(aws, FIRST_TOKEN)

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete"), KNOWN), attempt=0)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "UpdateTerminationProtection", "DeleteStack"]
    assert not outcome.finished


def test_a_failed_delete_is_retried_with_a_new_token_and_stalls(aws: StubbedAws, objects: Any) -> None:
    clock = [NOW]
    deleter = Deleter(aws.sessions, SETTINGS, objects, lambda: clock[0])
    retry_tokens = [client_request_token(OWNER_UID, "delete", STACK_ID, str(retry)) for retry in (1, 2)]
    assert len({FIRST_TOKEN, *retry_tokens}) == 3
    aws.stack("CREATE_COMPLETE", requested_as=STACK_ID)
    _delete_stack(aws, FIRST_TOKEN)
    failed = "The following resource(s) failed to delete: [LogsBucket]."
    for token in retry_tokens:
        aws.stack("DELETE_FAILED", reason=failed, requested_as=STACK_ID)
        # What failed is read before DeleteStack puts those resources back in progress.
        aws.resources({"LogsBucket": ("DELETE_FAILED", "The bucket you tried to delete is not empty")})
        _delete_stack(aws, token)
    status: dict[str, Any] = dict(KNOWN)

    outcomes = []
    for minutes in (0, 5, 6):  # the first retry follows the failure at once, the second a minute later
        clock[0] = NOW + datetime.timedelta(minutes=minutes)
        outcomes.append(deleter.delete(stack_resource(spec(deletionPolicy="Delete"), status), attempt=0))
        status = merged(status, outcomes[-1].status)

    aws.verify()
    assert (
        aws.calls
        == ["DescribeStacks", "DeleteStack"] + ["DescribeStacks", "ListStackResources", "DeleteStack"] * 2
    )
    assert not any(outcome.finished for outcome in outcomes)
    second = outcomes[1]
    found = conditions(second)
    assert (found["Stalled"]["reason"], found["Ready"]["status"]) == ("StackDeleteFailed", "False")
    assert found["Stalled"]["message"] == (
        f"Deleting stack {STACK_NAME} failed (retry 1 sent, the next not before 2025-03-01T12:06:00Z): "
        "LogsBucket: The bucket you tried to delete is not empty"
    )
    assert (second.status["deleteRetries"], second.status["nextDeleteAttemptTime"]) == (
        1,
        "2025-03-01T12:06:00Z",
    )
    assert second.announcement is not None
    assert second.announcement.warning
    assert second.announcement.message == found["Stalled"]["message"]
    assert (
        outcomes[2].status["nextDeleteAttemptTime"] == "2025-03-01T12:08:00Z"
    )  # two minutes after the second


def test_a_failed_delete_waits_out_its_backoff_without_deleting_again(aws: StubbedAws, objects: Any) -> None:
    deleter = Deleter(aws.sessions, SETTINGS, objects, lambda: NOW)
    failed = "The following resource(s) failed to delete: [LogsBucket]."
    aws.stack("DELETE_FAILED", reason=failed, requested_as=STACK_ID)
    backing_off = {**KNOWN, "deleteRetries": 6, "nextDeleteAttemptTime": "2025-03-01T12:20:00Z"}

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete"), backing_off), attempt=40)

    aws.verify()
    assert aws.calls == ["DescribeStacks"]  # no DeleteStack at every poll interval
    assert not outcome.finished
    assert outcome.retry_after == 20 * 60  # the next look is when the retry is due
    assert conditions(outcome)["Stalled"]["message"] == (
        f"Deleting stack {STACK_NAME} failed ({failed}); the next try is due at 2025-03-01T12:20:00Z"
    )


@pytest.mark.parametrize(("sent", "gap_minutes"), [(0, 1), (1, 2), (4, 16), (5, 30), (50, 30)])
def test_the_gap_between_delete_retries_doubles_up_to_its_cap(sent: int, gap_minutes: int) -> None:
    after = delete_retries.after_retry(delete_retries.DeleteRetries(sent=sent, next_attempt=None), NOW)

    assert after.sent == sent + 1
    assert after.next_attempt == NOW + datetime.timedelta(minutes=gap_minutes)


def test_a_stack_owned_by_someone_else_is_released_without_deleting_it(
    aws: StubbedAws, deleter: Deleter
) -> None:
    aws.stack("CREATE_COMPLETE", owner_uid="0b5e7e4c-1111-2222-3333-444455556666", requested_as=STACK_ID)

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete"), KNOWN), attempt=0)

    aws.verify()
    assert aws.calls == ["DescribeStacks"]
    assert outcome.finished
    assert outcome.announcement is not None
    assert (outcome.announcement.reason, outcome.announcement.warning) == ("StackNotOwned", True)


def test_an_untagged_stack_being_deleted_is_waited_for_not_released(
    aws: StubbedAws, deleter: Deleter
) -> None:
    # The stub of a CREATE change set this TurbineStack deleted: its change sets, which named its
    # owner, went with the DeleteStack, so nothing tells whose it is until it is gone.
    aws.stack("DELETE_IN_PROGRESS", tagged=False, requested_as=STACK_ID)

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete"), KNOWN), attempt=1)

    aws.verify()
    assert aws.calls == ["DescribeStacks"]
    assert not outcome.finished
    assert outcome.announcement is None
    assert conditions(outcome)["Reconciling"]["message"] == f"Stack {STACK_NAME} is DELETE_IN_PROGRESS"


def test_a_stack_made_after_the_recorded_one_was_deleted_is_deleted_too(
    aws: StubbedAws, deleter: Deleter
) -> None:
    # status.stackId names a stack deleted earlier; the operator then made a new one of the name and was
    # killed between its CreateChangeSet and the status write. The stub is ours by its change set's tags.
    earlier = STACK_ID.replace("6f0b3f60", "0aaaaaaa")
    gone = stack_description("DELETE_COMPLETE", stack_id=earlier)
    aws.cloudformation.add_response("describe_stacks", {"Stacks": [gone]}, {"StackName": earlier})
    name = "turbine-0123456789abcdef01234567"
    aws.stack("REVIEW_IN_PROGRESS", tagged=False)
    aws.existing_change_sets([name])
    aws.change_set_tags(name, OWNER_UID)
    _delete_stack(aws, FIRST_TOKEN)

    outcome = deleter.delete(
        stack_resource(spec(deletionPolicy="Delete"), {**KNOWN, "stackId": earlier}), attempt=0
    )

    aws.verify()
    assert aws.mutating_calls == ["DeleteStack"]
    assert not outcome.finished  # it waits for the new stack to go


@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "DELETE_FAILED"])
def test_a_stack_whose_tags_were_replaced_is_still_deleted(
    aws: StubbedAws, deleter: Deleter, status: str
) -> None:
    # An outside `update-stack --tags ...` replaced the owner tags; status.stackId proves the stack ours.
    aws.stack(status, tagged=False, requested_as=STACK_ID)
    if status == "DELETE_FAILED":
        aws.resources({"LogsBucket": ("DELETE_FAILED", "The bucket you tried to delete is not empty")})
        _delete_stack(aws, client_request_token(OWNER_UID, "delete", STACK_ID, "1"))
    else:
        _delete_stack(aws, FIRST_TOKEN)

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete"), KNOWN), attempt=1)

    aws.verify()
    assert aws.mutating_calls == ["DeleteStack"]
    assert not outcome.finished


@pytest.mark.parametrize("status", ["CREATE_COMPLETE", "DELETE_FAILED"])
def test_an_untagged_stack_not_being_deleted_is_released_untouched(
    aws: StubbedAws, deleter: Deleter, status: str
) -> None:
    aws.stack(status, tagged=False)  # found by the spec's name: status records no stack

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete")), attempt=1)

    aws.verify()
    assert aws.calls == ["DescribeStacks"]
    assert outcome.finished
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "StackNotOwned"


@pytest.mark.parametrize(
    ("method", "code", "message", "status"),
    [
        ("describe_stacks", "Throttling", "Rate exceeded", 400),
        ("describe_stacks", "ServiceUnavailable", "Service is unavailable", 503),
        ("delete_stack", "Throttling", "Rate exceeded", 400),
    ],
)
def test_throttling_never_finishes_the_delete(
    aws: StubbedAws, deleter: Deleter, method: str, code: str, message: str, status: int
) -> None:
    if method == "delete_stack":
        aws.stack("CREATE_COMPLETE", requested_as=STACK_ID)
    aws.error(aws.cloudformation, method, code, message, status)

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete"), KNOWN), attempt=0)

    aws.verify()
    assert not outcome.finished
    assert outcome.retry_after == 15.0
    found = conditions(outcome)
    assert found["Reconciling"]["reason"] == "Retrying"
    assert code in found["Reconciling"]["message"]


def test_access_denied_never_finishes_the_delete(aws: StubbedAws, deleter: Deleter) -> None:
    aws.stack("CREATE_COMPLETE", requested_as=STACK_ID)
    aws.error(
        aws.cloudformation,
        "delete_stack",
        "AccessDenied",
        "User is not authorized to perform: cloudformation:DeleteStack",
        403,
    )

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete"), KNOWN), attempt=0)

    aws.verify()
    assert not outcome.finished
    found = conditions(outcome)
    assert found["Stalled"]["reason"] == "StackDeleteFailed"
    assert "AccessDenied" in found["Stalled"]["message"]
