"""Injected failures: rollbacks, UPDATE_ROLLBACK_FAILED, ContinueUpdateRollback and DELETE_FAILED.

https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ContinueUpdateRollback.html
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from turbine_dev.aws.embedded_aws import EmbeddedAws

from .helpers import eventually
from .templates import queue_template


def _stack(aws: EmbeddedAws, name: str) -> dict[str, Any]:
    return dict(aws.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0])


def _settled(aws: EmbeddedAws, name: str) -> str | None:
    status = str(_stack(aws, name)["StackStatus"])
    return None if status.endswith("_IN_PROGRESS") else status


def _updated_with_failure(aws: EmbeddedAws, name: str, failure: str) -> Any:
    """A stack (marker one, tag a=1) whose change set to marker two with a=2 is executed and fails."""
    cloudformation = aws.client("cloudformation")
    aws.configure(change_set_seconds=0.1, operation_seconds=1.0)
    cloudformation.create_stack(
        StackName=name, TemplateBody=queue_template(), Tags=[{"Key": "a", "Value": "1"}]
    )
    eventually(lambda: _settled(aws, name))
    cloudformation.create_change_set(
        StackName=name,
        ChangeSetName="next",
        TemplateBody=queue_template("two"),
        ChangeSetType="UPDATE",
        Tags=[{"Key": "a", "Value": "2"}],
    )
    eventually(
        lambda: (
            cloudformation.describe_change_set(StackName=name, ChangeSetName="next")["ExecutionStatus"]
            == "AVAILABLE"
            or None
        )
    )
    aws.configure(update_failures=[f"{name}={failure}"])
    cloudformation.execute_change_set(StackName=name, ChangeSetName="next", ClientRequestToken="exec-1")
    return cloudformation


def test_an_injected_failure_rolls_the_update_back(strict_aws: EmbeddedAws) -> None:
    cloudformation = _updated_with_failure(strict_aws, "rb", "rollback")

    assert eventually(lambda: _settled(strict_aws, "rb")) == "UPDATE_ROLLBACK_COMPLETE"
    stack = _stack(strict_aws, "rb")
    assert stack["Outputs"][0]["OutputValue"] == "one"
    assert {tag["Key"]: tag["Value"] for tag in stack["Tags"]} == {"a": "1"}
    described = cloudformation.describe_change_set(StackName="rb", ChangeSetName="next")
    assert described["ExecutionStatus"] == "EXECUTE_FAILED"
    events = cloudformation.describe_stack_events(StackName="rb")["StackEvents"]  # newest first
    operation = events[
        : next(i for i, e in enumerate(events) if e.get("ResourceStatusReason") == "User Initiated") + 1
    ]
    assert [e["ResourceStatus"] for e in operation][::-1] == [
        "UPDATE_IN_PROGRESS",
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
    ]
    assert {e.get("ClientRequestToken") for e in operation} == {"exec-1"}
    assert strict_aws.settings()["update_failures"] == []  # used up


def test_a_failed_rollback_refuses_updates_until_continued(strict_aws: EmbeddedAws) -> None:
    cloudformation = _updated_with_failure(strict_aws, "rf", "rollback_failed")
    assert eventually(lambda: _settled(strict_aws, "rf")) == "UPDATE_ROLLBACK_FAILED"

    with pytest.raises(ClientError) as refused:
        cloudformation.create_change_set(
            StackName="rf",
            ChangeSetName="again",
            TemplateBody=queue_template("three"),
            ChangeSetType="UPDATE",
        )
    assert refused.value.response["Error"]["Code"] == "ValidationError"
    assert "is in UPDATE_ROLLBACK_FAILED state and can not be updated" in str(refused.value)

    cloudformation.continue_update_rollback(StackName="rf", ClientRequestToken="cont-1")
    assert eventually(lambda: _settled(strict_aws, "rf")) == "UPDATE_ROLLBACK_COMPLETE"
    events = cloudformation.describe_stack_events(StackName="rf")["StackEvents"]
    assert events[0]["ClientRequestToken"] == "cont-1"
    with pytest.raises(ClientError) as not_failed:
        cloudformation.continue_update_rollback(StackName="rf", ClientRequestToken="cont-2")
    assert "cannot be called from current stack status" in str(not_failed.value)


def test_an_injected_deletion_failure_leaves_the_stack_delete_failed_until_sent_again(
    strict_aws: EmbeddedAws,
) -> None:
    """DELETE_FAILED keeps the stack and its resources; DeleteStack may be sent again (API_DeleteStack)."""
    cloudformation = strict_aws.client("cloudformation")
    strict_aws.configure(operation_seconds=0.5)
    cloudformation.create_stack(StackName="df", TemplateBody=queue_template())
    eventually(lambda: _settled(strict_aws, "df"))
    strict_aws.configure(delete_failures=["df"])

    cloudformation.delete_stack(StackName="df", ClientRequestToken="delete-1")

    assert eventually(lambda: _settled(strict_aws, "df")) == "DELETE_FAILED"
    events = cloudformation.describe_stack_events(StackName="df")["StackEvents"]
    assert events[0]["ResourceStatus"] == "DELETE_FAILED"
    assert events[0]["ResourceStatusReason"].startswith("The following resource(s) failed to delete: [")
    assert cloudformation.describe_stack_resources(StackName="df")["StackResources"]
    assert strict_aws.settings()["delete_failures"] == []  # used up

    cloudformation.delete_stack(StackName="df", ClientRequestToken="delete-2")

    def gone() -> bool | None:
        try:
            _stack(strict_aws, "df")
        except ClientError:
            return True
        return None

    assert eventually(gone)


def _queue_named(name: str) -> str:
    return f"Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: {name}\n"


def _executed(aws: EmbeddedAws, stack: str, template: str, kind: str) -> Any:
    cloudformation = aws.client("cloudformation")
    cloudformation.create_change_set(
        StackName=stack, ChangeSetName=f"{kind.lower()}-1", TemplateBody=template, ChangeSetType=kind
    )
    eventually(
        lambda: (
            cloudformation.describe_change_set(StackName=stack, ChangeSetName=f"{kind.lower()}-1")[
                "ExecutionStatus"
            ]
            == "AVAILABLE"
            or None
        )
    )
    # Accepted, as on AWS: the resource fails in the operation, not the request (moto raised it here).
    cloudformation.execute_change_set(StackName=stack, ChangeSetName=f"{kind.lower()}-1")
    return cloudformation


def _failure_events(cloudformation: Any, stack: str) -> list[tuple[str, str, str]]:
    events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
    return [
        (e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", ""))
        for e in events
        if e["ResourceStatus"].endswith("_FAILED")
    ]


def test_a_resource_its_service_refuses_fails_the_creation_which_rolls_back(strict_aws: EmbeddedAws) -> None:
    strict_aws.configure(change_set_seconds=0.1, operation_seconds=0.5)
    cloudformation = _executed(strict_aws, "refused", _queue_named("q" * 81), "CREATE")

    assert eventually(lambda: _settled(strict_aws, "refused")) == "ROLLBACK_COMPLETE"
    assert _failure_events(cloudformation, "refused") == [
        ("Queue", "CREATE_FAILED", 'Resource handler returned message: "Can only include alphanumeric '
         'characters, hyphens, or underscores. 1 to 80 in length"'),
    ]  # fmt: skip
    described = cloudformation.describe_change_set(StackName="refused", ChangeSetName="create-1")
    assert described["ExecutionStatus"] == "EXECUTE_FAILED"


def test_a_resource_its_service_refuses_fails_the_update_which_rolls_back(strict_aws: EmbeddedAws) -> None:
    strict_aws.configure(change_set_seconds=0.1, operation_seconds=0.5)
    cloudformation = _executed(strict_aws, "kept", _queue_named("first"), "CREATE")
    assert eventually(lambda: _settled(strict_aws, "kept")) == "CREATE_COMPLETE"

    added = "\n  Added:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: " + "q" * 81 + "\n"
    _executed(strict_aws, "kept", _queue_named("first") + added, "UPDATE")

    assert eventually(lambda: _settled(strict_aws, "kept")) == "UPDATE_ROLLBACK_COMPLETE"
    assert [(logical, status) for logical, status, _ in _failure_events(cloudformation, "kept")] == [
        ("Added", "CREATE_FAILED")
    ]
    queues = strict_aws.client("sqs").list_queues().get("QueueUrls", [])
    assert [url.rsplit("/", 1)[-1] for url in queues] == ["first"]
