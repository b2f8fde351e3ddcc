"""ClientRequestToken and ClientToken: the same request again is a retry, another request a conflict.

https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html (ClientRequestToken)
"""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from turbine_dev.aws.embedded_aws import EmbeddedAws

from .helpers import eventually
from .templates import queue_template


def _error_code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _settled(aws: EmbeddedAws, stack: str) -> str | None:
    status = str(aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
    return None if status.endswith("_IN_PROGRESS") else status


def test_create_stack_retry_answers_the_first_stack_and_a_new_request_conflicts(
    strict_aws: EmbeddedAws,
) -> None:
    cloudformation = strict_aws.client("cloudformation")
    first = cloudformation.create_stack(
        StackName="tokens", TemplateBody=queue_template(), ClientRequestToken="t1"
    )
    retry = cloudformation.create_stack(
        StackName="tokens", TemplateBody=queue_template(), ClientRequestToken="t1"
    )
    assert retry["StackId"] == first["StackId"]
    with pytest.raises(ClientError) as conflict:
        cloudformation.create_stack(
            StackName="tokens", TemplateBody=queue_template("other"), ClientRequestToken="t1"
        )
    assert _error_code(conflict) == "TokenAlreadyExistsException"
    assert strict_aws.stats()["token_retries"] == 1
    assert strict_aws.stats()["token_conflicts"] == 1


def test_execute_change_set_token_reused_for_another_change_set_is_refused(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName="exec", TemplateBody=queue_template())
    eventually(lambda: _settled(strict_aws, "exec"))
    for name, marker in (("first", "two"), ("second", "three")):
        cloudformation.create_change_set(
            StackName="exec", ChangeSetName=name, TemplateBody=queue_template(marker), ChangeSetType="UPDATE"
        )
    eventually(
        lambda: (
            cloudformation.describe_change_set(StackName="exec", ChangeSetName="second")["Status"]
            == "CREATE_COMPLETE"
            or None
        )
    )
    cloudformation.execute_change_set(StackName="exec", ChangeSetName="first", ClientRequestToken="same")
    # The retry of the same request is answered as the first one was: no second execution.
    cloudformation.execute_change_set(StackName="exec", ChangeSetName="first", ClientRequestToken="same")
    with pytest.raises(ClientError) as conflict:
        cloudformation.execute_change_set(StackName="exec", ChangeSetName="second", ClientRequestToken="same")
    assert _error_code(conflict) == "TokenAlreadyExistsException"
    assert eventually(lambda: _settled(strict_aws, "exec")) == "UPDATE_COMPLETE"


def test_executed_change_set_cannot_run_again_without_its_token(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_change_set(
        StackName="again", ChangeSetName="cs", TemplateBody=queue_template(), ChangeSetType="CREATE"
    )
    eventually(
        lambda: (
            cloudformation.describe_change_set(StackName="again", ChangeSetName="cs")["ExecutionStatus"]
            == "AVAILABLE"
            or None
        )
    )
    cloudformation.execute_change_set(StackName="again", ChangeSetName="cs")
    eventually(lambda: _settled(strict_aws, "again"))
    with pytest.raises(ClientError) as refused:
        cloudformation.execute_change_set(StackName="again", ChangeSetName="cs")
    assert _error_code(refused) == "InvalidChangeSetStatus"


def test_create_change_set_client_token_retry_and_conflict(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    request = {"StackName": "cst", "TemplateBody": queue_template(), "ChangeSetType": "CREATE"}
    first = cloudformation.create_change_set(ChangeSetName="cs", ClientToken="c1", **request)
    retry = cloudformation.create_change_set(ChangeSetName="cs", ClientToken="c1", **request)
    assert retry["Id"] == first["Id"]
    with pytest.raises(ClientError) as conflict:
        cloudformation.create_change_set(ChangeSetName="other", ClientToken="c1", **request)
    assert _error_code(conflict) == "TokenAlreadyExistsException"
    # Without a token, the same name is taken.
    with pytest.raises(ClientError) as taken:
        cloudformation.create_change_set(ChangeSetName="cs", **request)
    assert _error_code(taken) == "AlreadyExistsException"


def test_delete_stack_token_retry_and_conflict(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName="del", TemplateBody=queue_template(), ClientRequestToken="c")
    eventually(lambda: _settled(strict_aws, "del"))
    with pytest.raises(ClientError) as conflict:
        cloudformation.delete_stack(StackName="del", ClientRequestToken="c")
    assert _error_code(conflict) == "TokenAlreadyExistsException"
    cloudformation.delete_stack(StackName="del", ClientRequestToken="d")
    cloudformation.delete_stack(StackName="del", ClientRequestToken="d")
    assert strict_aws.stats()["token_retries"] == 1


def test_stack_events_carry_the_token_of_the_operation_that_made_them(strict_aws: EmbeddedAws) -> None:
    # https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackEvent.html: "All events
    # initiated by a given stack operation are assigned the same client request token".
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(
        StackName="events", TemplateBody=queue_template(), ClientRequestToken="create-1"
    )
    eventually(lambda: _settled(strict_aws, "events"))
    cloudformation.create_change_set(
        StackName="events", ChangeSetName="next", TemplateBody=queue_template("two"), ChangeSetType="UPDATE"
    )
    eventually(
        lambda: (
            cloudformation.describe_change_set(StackName="events", ChangeSetName="next")["Status"]
            == "CREATE_COMPLETE"
            or None
        )
    )
    cloudformation.execute_change_set(StackName="events", ChangeSetName="next", ClientRequestToken="update-1")
    eventually(lambda: _settled(strict_aws, "events"))

    events = cloudformation.describe_stack_events(StackName="events")["StackEvents"]  # newest first
    tokens = [event.get("ClientRequestToken") for event in events]
    assert tokens[0] == "update-1"
    assert tokens[-1] == "create-1"
    assert set(tokens) == {"update-1", "create-1"}


def test_validate_template_checks_structure_as_cloudformation_does(strict_aws: EmbeddedAws) -> None:
    # CloudFormation accepts an unused parameter (cfn-lint only warns); it refuses a resource without Type.
    cloudformation = strict_aws.client("cloudformation")
    unused = "Parameters:\n  Token: {Type: String}\nResources:\n  Queue: {Type: 'AWS::SQS::Queue'}\n"
    assert "Parameters" in cloudformation.validate_template(TemplateBody=unused)
    with pytest.raises(ClientError) as refused:
        cloudformation.validate_template(TemplateBody="Resources:\n  Queue: {Properties: {}}\n")
    assert _error_code(refused) == "ValidationError"


def test_a_change_set_token_is_remembered_after_its_change_set_is_gone(strict_aws: EmbeddedAws) -> None:
    # API_CreateChangeSet documents ClientToken only for retries; where AWS is silent the emulator takes
    # the harsher reading: the same request with a used token is a retry that creates nothing, however
    # long ago and whatever became of the change set (the operator must never reuse one for a new attempt).
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName="gone", TemplateBody=queue_template())
    eventually(lambda: _settled(strict_aws, "gone"))
    request = {
        "StackName": "gone",
        "ChangeSetName": "cs",
        "TemplateBody": queue_template("two"),
        "ChangeSetType": "UPDATE",
        "ClientToken": "first-request",
    }
    first = cloudformation.create_change_set(**request)
    eventually(
        lambda: (
            cloudformation.describe_change_set(StackName="gone", ChangeSetName="cs")["Status"]
            == "CREATE_COMPLETE"
            or None
        )
    )
    cloudformation.delete_change_set(StackName="gone", ChangeSetName="cs")
    eventually(lambda: not cloudformation.list_change_sets(StackName="gone")["Summaries"] or None)

    again = cloudformation.create_change_set(**request)

    assert again["Id"] == first["Id"]
    assert cloudformation.list_change_sets(StackName="gone")["Summaries"] == []
    assert strict_aws.stats()["token_retries"] == 1


def test_a_token_used_for_one_stack_is_refused_for_another(strict_aws: EmbeddedAws) -> None:
    # Where AWS is silent on a token's scope, the harsher reading: the account and region, not the stack.
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName="one", TemplateBody=queue_template(), ClientRequestToken="shared")
    with pytest.raises(ClientError) as conflict:
        cloudformation.create_stack(
            StackName="two", TemplateBody=queue_template(), ClientRequestToken="shared"
        )
    assert _error_code(conflict) == "TokenAlreadyExistsException"
