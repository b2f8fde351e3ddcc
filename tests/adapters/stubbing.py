"""botocore Stubber helpers for the adapter tests: a recording stubber and realistic AWS replies."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import StubResponseError
from botocore.stub import Stubber

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK_NAME = "airflow-demo"
STACK_ID = (
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK_NAME}/6f0b3f60-8a2c-11ef-9c3e-0affd3a1b2c3"
)
OWNER_UID = "d6f9b1de-5c1b-4f4e-9a47-3f1f0e2b7c11"
CREATED = datetime.datetime(2025, 3, 1, 9, 30, tzinfo=datetime.UTC)


class RecordingStubber(Stubber):
    """A Stubber that logs the operations it answered and keeps its own assertion failures.

    The adapter turns every BotoCoreError into a domain error, and a Stubber's complaints
    (an unexpected call, wrong parameters) are BotoCoreErrors too: without this, they would
    surface as "AWS is throttling" instead of failing the test.
    """

    def __init__(self, client: BaseClient, calls: list[str]) -> None:
        super().__init__(client)
        self.calls = calls
        self.errors: list[StubResponseError] = []

    def _assert_expected_params(self, model: Any, params: Any, context: Any, **kwargs: Any) -> None:
        parent: Any = super()
        try:
            parent._assert_expected_params(model, params, context, **kwargs)
        except StubResponseError as error:
            self.errors.append(error)
            raise

    def _get_response_handler(self, model: Any, params: Any, context: Any, **kwargs: Any) -> Any:
        parent: Any = super()
        try:
            response = parent._get_response_handler(model, params, context, **kwargs)
        except StubResponseError as error:
            self.errors.append(error)
            raise
        self.calls.append(model.name)
        return response

    def verify(self) -> None:
        if self.errors:
            raise self.errors[0]
        self.assert_no_pending_responses()


def stack_description(
    status: str,
    *,
    name: str = STACK_NAME,
    stack_id: str = STACK_ID,
    reason: str | None = None,
    tags: Mapping[str, str] | None = None,
    outputs: Mapping[str, str] | None = None,
    termination_protection: bool = False,
    parameters: Mapping[str, str] | None = None,
    last_updated: datetime.datetime | None = None,
) -> dict[str, Any]:
    """One entry of DescribeStacks' Stacks, shaped like a real reply."""
    stack: dict[str, Any] = {
        "StackId": stack_id,
        "StackName": name,
        "CreationTime": CREATED,
        "StackStatus": status,
        "DisableRollback": False,
        "NotificationARNs": [],
        "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
        "Tags": [{"Key": key, "Value": value} for key, value in (tags or {}).items()],
        "EnableTerminationProtection": termination_protection,
        "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
    }
    if reason is not None:
        stack["StackStatusReason"] = reason
    if parameters:
        stack["Parameters"] = [
            {"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()
        ]
    if last_updated is not None:
        stack["LastUpdatedTime"] = last_updated
    if outputs:
        stack["Outputs"] = [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()]
    return stack


def stack_event(
    logical_id: str,
    resource_type: str,
    status: str,
    reason: str | None = None,
    *,
    minute: int,
    physical_id: str | None = None,
    stack_id: str = STACK_ID,
    stack_name: str = STACK_NAME,
) -> dict[str, Any]:
    """One DescribeStackEvents entry; `minute` orders events (CloudFormation lists newest first)."""
    event: dict[str, Any] = {
        "StackId": stack_id,
        "EventId": f"{logical_id}-{status}-{minute}",
        "StackName": stack_name,
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": physical_id if physical_id is not None else f"{logical_id.lower()}-physical",
        "ResourceType": resource_type,
        "Timestamp": CREATED + datetime.timedelta(minutes=minute),
        "ResourceStatus": status,
    }
    if reason is not None:
        event["ResourceStatusReason"] = reason
    return event


def stack_level_event(status: str, reason: str | None = None, *, minute: int) -> dict[str, Any]:
    return stack_event(
        STACK_NAME, "AWS::CloudFormation::Stack", status, reason, minute=minute, physical_id=STACK_ID
    )


def newest_first(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda event: event["Timestamp"], reverse=True)


def resource_change(
    action: str, logical_id: str, resource_type: str, replacement: str | None = None
) -> dict[str, Any]:
    change: dict[str, Any] = {
        "Action": action,
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": f"{logical_id.lower()}-physical",
        "ResourceType": resource_type,
        "Scope": ["Properties"] if action == "Modify" else [],
        "Details": [],
    }
    if replacement is not None:
        change["Replacement"] = replacement
    return {"Type": "Resource", "ResourceChange": change}


def change_set_description(
    name: str,
    *,
    status: str = "CREATE_COMPLETE",
    execution_status: str = "AVAILABLE",
    reason: str | None = None,
    changes: Sequence[dict[str, Any]] = (),
    next_token: str | None = None,
    stack_name: str = STACK_NAME,
    stack_id: str = STACK_ID,
) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "ChangeSetName": name,
        "ChangeSetId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/{name}/0c1d2e3f-4a5b-6c7d",
        "StackId": stack_id,
        "StackName": stack_name,
        "CreationTime": CREATED,
        "ExecutionStatus": execution_status,
        "Status": status,
        "Changes": list(changes),
        "IncludeNestedStacks": True,
    }
    if reason is not None:
        reply["StatusReason"] = reason
    if next_token is not None:
        reply["NextToken"] = next_token
    return reply


# The parameters of tests/fixtures/small-cfn/templates/turbine-master.yaml, around one cheap resource.
MASTER_TEMPLATE = b"""\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  QSS3BucketName: {Type: String}
  QSS3KeyPrefix: {Type: String}
  SchedulerInstanceType: {Type: String}
  WebserverInstanceType: {Type: String}
  WorkerInstanceType: {Type: String}
  MinGroupSize: {Type: Number}
  MaxGroupSize: {Type: Number}
  ShrinkThreshold: {Type: Number}
  GrowthThreshold: {Type: Number}
  LoadExampleDags: {Type: String}
  LoadDefaultCons: {Type: String}
  WebServerPort: {Type: Number}
  AllowHTTPAccessCIDR: {Type: String}
  DrainTimeout: {Type: Number, Default: 3600}
Resources:
  TaskQueue:
    Type: AWS::SQS::Queue
"""
