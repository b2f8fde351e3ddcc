"""botocore Stubber helpers: a recording stubber and realistic CloudFormation and S3 replies."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import StubResponseError
from botocore.stub import Stubber

from turbine_operator.core.api.spec import parse_spec
from turbine_operator.core.render.bundle import TurbineSources
from turbine_operator.core.render.rendering import DesiredStack, Owner, desired_stack

REGION = "us-east-1"
ACCOUNT = "123456789012"
NAMESPACE = "airflow"
NAME = "demo"
OWNER_UID = "d6f9b1de-5c1b-4f4e-9a47-3f1f0e2b7c11"
STACK_NAME = "t7-airflow-demo"  # default_stack_name(NAMESPACE, NAME)
LEGACY_STACK_NAME = "airflow-demo"  # legacy_stack_name(NAMESPACE, NAME), what operators before named it
STACK_ID = (
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK_NAME}/6f0b3f60-8a2c-11ef-9c3e-0affd3a1b2c3"
)
BUCKET = "turbine-templates"
SERVICE_ROLE = "arn:aws:iam::123456789012:role/turbine-cloudformation"
CREATED = datetime.datetime(2025, 3, 1, 9, 30, tzinfo=datetime.UTC)
QUEUE = "AWS::SQS::Queue"
TOPIC = "AWS::SNS::Topic"
NESTED = "AWS::CloudFormation::Stack"
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]

# The parameters of tests/fixtures/small-cfn/templates/turbine-master.yaml, around one cheap resource.
MASTER_TEMPLATE = b"""\
AWSTemplateFormatVersion: "2010-09-09"
Metadata:
  turbine.dev/template: master
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
  WebserverCount: {Type: Number}
  CertificateArn: {Type: String}
  WebserverHostname: {Type: String, Default: ""}
  WebserverHostedZoneId: {Type: String, Default: ""}
  ImageId: {Type: String}
  DrainTimeout: {Type: Number, Default: 3600}
  DagBundle: {Type: String, Default: ""}
  AirflowConfig: {Type: String, Default: ""}
  DagBucket: {Type: String, Default: ""}
  DatabaseDeletionProtection: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
Resources:
  TaskQueue:
    Type: AWS::SQS::Queue
"""

SOURCES = TurbineSources(templates={"turbine-master.yaml": MASTER_TEMPLATE}, scripts={}, lambda_modules={})


def isolate_aws_environment(monkeypatch: pytest.MonkeyPatch, scratch: Path) -> None:
    """Dummy credentials, a default region and nothing that points boto3 elsewhere."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(scratch / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(scratch / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_CLOUDFORMATION"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)


class RecordingStubber(Stubber):
    """A Stubber that logs the operations it answered and keeps its own assertion failures.

    The adapter turns every BotoCoreError into a domain error (the operations then report "AWS is
    throttling"), and a Stubber's complaints (an unexpected call, wrong parameters) are
    BotoCoreErrors too: without `verify`, which re-raises them, they would not fail the test.
    `requests` keeps what was really sent, to compare requests of separate reconciles.
    """

    def __init__(self, client: BaseClient, calls: list[str]) -> None:
        super().__init__(client)
        self.calls = calls
        self.errors: list[StubResponseError] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def sent(self, operation: str, parameter: str) -> list[Any]:
        """The value of `parameter` in every `operation` request, in order."""
        return [params.get(parameter) for name, params in self.requests if name == operation]

    def _assert_expected_params(self, model: Any, params: Any, context: Any, **kwargs: Any) -> None:
        self.requests.append((model.name, dict(params)))
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


# What the operator renders


IMAGE_ID = "ami-0123456789abcdef0"


def spec(**fields: Any) -> dict[str, Any]:
    """A TurbineStack spec: the template bucket, a pinned image (no SSM look-up), and `fields`."""
    return {"templateBucket": {"name": BUCKET, "prefix": "turbine/"}, "imageId": IMAGE_ID, **fields}


def render_desired(
    raw_spec: Mapping[str, Any], *, namespace: str = NAMESPACE, name: str = NAME, uid: str = OWNER_UID
) -> DesiredStack:
    """What the reconciler renders for a spec: the pure core, with the same inputs."""
    parsed = parse_spec(raw_spec, namespace=namespace, name=name, default_region=REGION)
    return desired_stack(parsed, Owner(namespace, name, uid), SOURCES)


def change_set_request(desired: DesiredStack, name: str, kind: str, token: str) -> dict[str, Any]:
    """The exact CreateChangeSet request for `desired` (with its RoleARN only when it has one)."""
    request: dict[str, Any] = {
        "StackName": STACK_NAME,
        "ChangeSetName": name,
        "ChangeSetType": kind,
        "TemplateURL": (
            f"https://{BUCKET}.s3.{REGION}.amazonaws.com/turbine/bundles/{desired.bundle.digest}"
            "/templates/turbine-master.json"
        ),
        "Parameters": [
            {"ParameterKey": key, "ParameterValue": value}
            for key, value in sorted(desired.parameters.items())
        ],
        "Tags": [{"Key": key, "Value": value} for key, value in sorted(desired.tags.items())],
        "Capabilities": CAPABILITIES,
        "IncludeNestedStacks": True,
        "ClientToken": token,
        "Description": f"Turbine Operator change set for {desired.hash[:24]}",
    }
    if desired.service_role_arn:
        request["RoleARN"] = desired.service_role_arn
    return request


# CloudFormation replies


def _tag_list(tags: Mapping[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in (tags or {}).items()]


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
        "Capabilities": CAPABILITIES,
        "Tags": _tag_list(tags),
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
    token: str | None = None,
) -> dict[str, Any]:
    """One DescribeStackEvents entry; `minute` orders events (CloudFormation lists newest first).

    The stack's own events carry the stack id as their physical id, a resource's `<id>-physical`.
    """
    if physical_id is None:
        is_the_stack = logical_id == stack_name and resource_type == NESTED
        physical_id = stack_id if is_the_stack else f"{logical_id.lower()}-physical"
    event: dict[str, Any] = {
        "StackId": stack_id,
        "EventId": f"{logical_id}-{status}-{minute}",
        "StackName": stack_name,
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": physical_id,
        "ResourceType": resource_type,
        "Timestamp": CREATED + datetime.timedelta(minutes=minute),
        "ResourceStatus": status,
    }
    if reason is not None:
        event["ResourceStatusReason"] = reason
    if token is not None:
        event["ClientRequestToken"] = token
    return event


def stack_level_event(
    status: str, reason: str | None = None, *, minute: int, token: str | None = None
) -> dict[str, Any]:
    """An event of the stack itself (its operation starting, rolling back, completing)."""
    return stack_event(STACK_NAME, NESTED, status, reason, minute=minute, physical_id=STACK_ID, token=token)


def newest_first(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(events, key=lambda event: event["Timestamp"], reverse=True)


def resource_summary(logical_id: str, status: str, reason: str | None = None) -> dict[str, Any]:
    """One ListStackResources summary (of a bucket, the usual reason a delete fails)."""
    summary: dict[str, Any] = {
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": f"{logical_id.lower()}-physical",
        "ResourceType": "AWS::S3::Bucket",
        "LastUpdatedTimestamp": CREATED,
        "ResourceStatus": status,
    }
    if reason:
        summary["ResourceStatusReason"] = reason
    return summary


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
    tags: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "ChangeSetName": name,
        "ChangeSetId": change_set_id(name),
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
    if tags is not None:
        reply["Tags"] = _tag_list(tags)
    return reply


def change_set_id(name: str) -> str:
    return f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/{name}/0c1d2e3f-4a5b-6c7d"


def change_set_summary(name: str) -> dict[str, Any]:
    """One ListChangeSets summary."""
    return {"StackId": STACK_ID, "StackName": STACK_NAME, "ChangeSetName": name, "Status": "CREATE_COMPLETE"}
