"""A spec that would address another AWS account than its stack's: refused, never a second stack.

A stack is found by name within one account, so a spec.roleArn of another account sees no stack of the name.
The stubbed clients answer whatever role is asked for, as the other account would: no stack of that name.
"""

from __future__ import annotations

from typing import Any

import pytest

from stubbed.aws import ACCOUNT, REGION, STACK_ID, STACK_NAME, spec
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.operations.stack.deletion import Deleter
from turbine_operator.operations.stack.reconcile import Reconciler

from .harness import StubbedAws, conditions, stack_resource

OTHER_ACCOUNT = "210987654321"
OTHER_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/turbine-operator"
OTHER_SERVICE_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/turbine-cloudformation"
SAME_ACCOUNT_ROLE = f"arn:aws:iam::{ACCOUNT}:role/turbine-operator"
RECORDED = {"stackName": STACK_NAME, "stackId": STACK_ID, "region": REGION}


@pytest.fixture(autouse=True)
def any_role_is_the_stub(aws: StubbedAws, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every role's client is the stubbed one (no AssumeRole): what it answers is the addressed account's."""
    shared = aws.sessions.client

    def client(service: str, region: str, role_arn: str | None = None) -> Any:
        return shared(service, region)

    monkeypatch.setattr(aws.sessions, "client", client)


def _assert_account_changed(outcome: Any, field: str) -> None:
    stalled = conditions(outcome)["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "StackAccountChanged")
    assert stalled["message"].startswith(f"{field} addresses AWS account {OTHER_ACCOUNT}")
    assert f"lives in account {ACCOUNT}" in stalled["message"]
    assert "stackId" not in outcome.status  # status.stackId keeps naming the first stack


def test_a_role_of_another_account_is_refused_before_any_aws_call(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    outcome = reconciler.reconcile(stack_resource(spec(roleArn=OTHER_ROLE), status=RECORDED))

    aws.verify()
    assert aws.calls == []  # no DescribeStacks there, and no CreateChangeSet of a second stack
    _assert_account_changed(outcome, "spec.roleArn")


def test_a_service_role_of_another_account_is_refused(aws: StubbedAws, reconciler: Reconciler) -> None:
    outcome = reconciler.reconcile(stack_resource(spec(serviceRoleArn=OTHER_SERVICE_ROLE), status=RECORDED))

    aws.verify()
    assert aws.calls == []
    _assert_account_changed(outcome, "spec.serviceRoleArn")


def test_a_stack_of_the_name_found_in_another_account_does_not_replace_the_recorded_one(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    # Created with a role of the other account, which spec.roleArn no longer names: the operator's own
    # identity finds a stack of the name in its own account.
    recorded_elsewhere = {**RECORDED, "stackId": STACK_ID.replace(f":{ACCOUNT}:", f":{OTHER_ACCOUNT}:")}
    aws.stack("CREATE_COMPLETE")

    outcome = reconciler.reconcile(stack_resource(spec(), status=recorded_elsewhere))

    aws.verify()
    assert aws.mutating_calls == []
    stalled = conditions(outcome)["Stalled"]
    assert stalled["reason"] == "StackAccountChanged"
    assert stalled["message"].startswith(f"spec.roleArn addresses AWS account {ACCOUNT}")
    assert "stackId" not in outcome.status


def test_a_role_of_the_same_account_is_followed(aws: StubbedAws, reconciler: Reconciler) -> None:
    aws.stack("UPDATE_IN_PROGRESS")

    outcome = reconciler.reconcile(stack_resource(spec(roleArn=SAME_ACCOUNT_ROLE), status=RECORDED))

    aws.verify()
    assert conditions(outcome)["Ready"]["reason"] == "StackOperationInProgress"
    assert outcome.status["stackId"] == STACK_ID


def test_a_delete_through_a_role_of_another_account_keeps_the_finalizer(
    aws: StubbedAws, deleter: Deleter, sessions: AwsSessions
) -> None:
    # The other account has no stack of the recorded id: looked up there, the stack would read as gone.
    resource = stack_resource(spec(roleArn=OTHER_ROLE, deletionPolicy="Delete"), status=RECORDED)

    outcome = deleter.delete(resource, attempt=0)

    aws.verify()
    assert aws.calls == []
    assert not outcome.finished
    _assert_account_changed(outcome, "spec.roleArn")
