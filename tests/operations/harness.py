"""Stubbed AWS for the operations tests: realistic CloudFormation and S3 replies, queued in order.

Each helper queues one reply (with the exact request it expects) on the stubbed client; the
`calls` log then shows which operations the reconciler or deleter really made.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import StubResponseError
from botocore.stub import Stubber

from turbine_operator.adapters.aws_sessions import AwsSessions
from turbine_operator.core.bundle import TurbineSources
from turbine_operator.core.naming import OWNER_UID_TAG, ownership_tags
from turbine_operator.core.rendering import DesiredStack, Owner, desired_stack
from turbine_operator.core.spec import parse_spec
from turbine_operator.operations.resources import Outcome, StackResource

REGION = "us-east-1"
ACCOUNT = "123456789012"
NAMESPACE = "airflow"
NAME = "demo"
OWNER_UID = "d6f9b1de-5c1b-4f4e-9a47-3f1f0e2b7c11"
STACK_NAME = "airflow-demo"  # stack_name_for(NAMESPACE, NAME)
STACK_ID = (
    f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{STACK_NAME}/6f0b3f60-8a2c-11ef-9c3e-0affd3a1b2c3"
)
BUCKET = "turbine-templates"
SERVICE_ROLE = "arn:aws:iam::123456789012:role/turbine-cloudformation"
CREATED = datetime.datetime(2025, 3, 1, 9, 30, tzinfo=datetime.UTC)
NOW = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)
NOW_TEXT = "2025-03-01T12:00:00Z"
QUEUE = "AWS::SQS::Queue"
TOPIC = "AWS::SNS::Topic"
MUTATING_CALLS = frozenset(
    {
        "PutObject",
        "CreateChangeSet",
        "DeleteChangeSet",
        "ExecuteChangeSet",
        "ContinueUpdateRollback",
        "UpdateTerminationProtection",
        "DeleteStack",
    }
)

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

SOURCES = TurbineSources(templates={"turbine-master.yaml": MASTER_TEMPLATE}, scripts={}, lambda_modules={})


class RecordingStubber(Stubber):
    """A Stubber that logs the operations it answered and keeps its own assertion failures.

    The operations turn every BotoCoreError into "AWS is throttling", and a Stubber's complaints
    (an unexpected call, wrong parameters) are BotoCoreErrors too: `verify` re-raises them.
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


def spec(**fields: Any) -> dict[str, Any]:
    return {"templateBucket": {"name": BUCKET, "prefix": "turbine/"}, **fields}


def stack_resource(
    spec_fields: Mapping[str, Any] | None = None,
    status: Mapping[str, Any] | None = None,
    *,
    generation: int = 2,
    uid: str = OWNER_UID,
) -> StackResource:
    return StackResource(
        namespace=NAMESPACE,
        name=NAME,
        uid=uid,
        generation=generation,
        spec=spec() if spec_fields is None else spec_fields,
        status=status or {},
    )


def desired_for(resource: StackResource) -> DesiredStack:
    """What the reconciler renders for the resource: the pure core, with the same inputs."""
    parsed = parse_spec(
        resource.spec, namespace=resource.namespace, name=resource.name, default_region=REGION
    )
    return desired_stack(parsed, Owner(resource.namespace, resource.name, resource.uid), SOURCES)


def conditions(outcome: Outcome) -> dict[str, dict[str, Any]]:
    return {str(item["type"]): item for item in outcome.status.get("conditions", [])}


def merged(status: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The status after a JSON merge patch (None removes a field), as the API server applies it."""
    result = dict(status)
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def stack_event(
    logical_id: str, resource_type: str, status: str, reason: str | None = None, *, minute: int
) -> dict[str, Any]:
    is_stack = resource_type == "AWS::CloudFormation::Stack"
    event: dict[str, Any] = {
        "StackId": STACK_ID,
        "EventId": f"{logical_id}-{status}-{minute}",
        "StackName": STACK_NAME,
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": STACK_ID if is_stack else f"{logical_id.lower()}-physical",
        "ResourceType": resource_type,
        "Timestamp": CREATED + datetime.timedelta(minutes=minute),
        "ResourceStatus": status,
    }
    if reason is not None:
        event["ResourceStatusReason"] = reason
    return event


def operation_start(status: str, *, minute: int) -> dict[str, Any]:
    return stack_event(STACK_NAME, "AWS::CloudFormation::Stack", status, "User Initiated", minute=minute)


def change(
    action: str, logical_id: str, resource_type: str, replacement: str | None = None
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "Action": action,
        "LogicalResourceId": logical_id,
        "ResourceType": resource_type,
        "Scope": ["Properties"] if action == "Modify" else [],
    }
    if replacement is not None:
        detail["Replacement"] = replacement
    return {"Type": "Resource", "ResourceChange": detail}


@dataclasses.dataclass
class StubbedAws:
    sessions: AwsSessions
    cloudformation: RecordingStubber
    s3: RecordingStubber
    calls: list[str]

    def verify(self) -> None:
        self.cloudformation.verify()
        self.s3.verify()

    @property
    def mutating_calls(self) -> list[str]:
        return [call for call in self.calls if call in MUTATING_CALLS]

    # DescribeStacks

    def stack(
        self,
        status: str,
        *,
        reason: str | None = None,
        owner_uid: str = OWNER_UID,
        termination_protection: bool = False,
        outputs: Mapping[str, str] | None = None,
        requested_as: str = STACK_NAME,
        tagged: bool = True,
        parameters: Mapping[str, str] | None = None,
    ) -> None:
        """A stack tagged as owned by `owner_uid`; untagged (as in review on real AWS) if not `tagged`."""
        tags = {**ownership_tags(NAMESPACE, NAME, OWNER_UID), OWNER_UID_TAG: owner_uid} if tagged else {}
        stack: dict[str, Any] = {
            "StackId": STACK_ID,
            "StackName": STACK_NAME,
            "CreationTime": CREATED,
            "StackStatus": status,
            "Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())],
            "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in (outputs or {}).items()],
            "EnableTerminationProtection": termination_protection,
            "DisableRollback": False,
        }
        if reason is not None:
            stack["StackStatusReason"] = reason
        if parameters is not None:
            stack["Parameters"] = [
                {"ParameterKey": key, "ParameterValue": value} for key, value in sorted(parameters.items())
            ]
        self.cloudformation.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": requested_as})

    def no_stack(self, *, requested_as: str = STACK_NAME) -> None:
        self.cloudformation.add_client_error(
            "describe_stacks",
            "ValidationError",
            f"Stack with id {requested_as} does not exist",
            expected_params={"StackName": requested_as},
        )

    def error(
        self, stubber: RecordingStubber, method: str, code: str, message: str, status: int = 400
    ) -> None:
        stubber.add_client_error(method, code, message, http_status_code=status)

    # Change sets

    def change_set(
        self,
        name: str,
        *,
        status: str = "CREATE_COMPLETE",
        execution_status: str = "AVAILABLE",
        reason: str | None = None,
        changes: Sequence[dict[str, Any]] = (),
    ) -> None:
        reply: dict[str, Any] = {
            "ChangeSetName": name,
            "ChangeSetId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/{name}/5d1c2b3a",
            "StackId": STACK_ID,
            "StackName": STACK_NAME,
            "CreationTime": CREATED,
            "Status": status,
            "ExecutionStatus": execution_status,
            "Changes": list(changes),
        }
        if reason is not None:
            reply["StatusReason"] = reason
        self.cloudformation.add_response(
            "describe_change_set", reply, {"StackName": STACK_NAME, "ChangeSetName": name}
        )

    def change_set_tags(self, name: str, owner_uid: str) -> None:
        """DescribeChangeSet of a change set by stack id, as read for its tags (those of `owner_uid`)."""
        tags = ownership_tags(NAMESPACE, NAME, owner_uid)
        reply: dict[str, Any] = {
            "ChangeSetName": name,
            "ChangeSetId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/{name}/5d1c2b3a",
            "StackId": STACK_ID,
            "StackName": STACK_NAME,
            "CreationTime": CREATED,
            "Status": "CREATE_COMPLETE",
            "ExecutionStatus": "AVAILABLE",
            "Changes": [],
            "Tags": [{"Key": key, "Value": value} for key, value in sorted(tags.items())],
        }
        self.cloudformation.add_response(
            "describe_change_set", reply, {"StackName": STACK_ID, "ChangeSetName": name}
        )

    def no_change_set(self, name: str) -> None:
        self.cloudformation.add_client_error(
            "describe_change_set",
            "ChangeSetNotFound",
            f"ChangeSet [{name}] does not exist",
            http_status_code=404,
            expected_params={"StackName": STACK_NAME, "ChangeSetName": name},
        )

    def existing_change_sets(self, names: Sequence[str]) -> None:
        summaries = [
            {"StackId": STACK_ID, "StackName": STACK_NAME, "ChangeSetName": name, "Status": "CREATE_COMPLETE"}
            for name in names
        ]
        self.cloudformation.add_response(
            "list_change_sets", {"Summaries": summaries}, {"StackName": STACK_ID}
        )

    def delete_change_set(self, name: str, *, stack: str = STACK_ID) -> None:
        self.cloudformation.add_response("delete_change_set", {}, {"StackName": stack, "ChangeSetName": name})

    def create_change_set(self, desired: DesiredStack, name: str, kind: str, token: str) -> None:
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
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            "IncludeNestedStacks": True,
            "ClientToken": token,
            "Description": f"Turbine Operator change set for {desired.hash[:24]}",
        }
        if desired.service_role_arn:
            request["RoleARN"] = desired.service_role_arn
        reply = {
            "Id": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:changeSet/{name}/5d1c2b3a",
            "StackId": STACK_ID,
        }
        self.cloudformation.add_response("create_change_set", reply, request)

    def execute_change_set(self, name: str, token: str) -> None:
        self.cloudformation.add_response(
            "execute_change_set",
            {},
            {"StackName": STACK_NAME, "ChangeSetName": name, "ClientRequestToken": token},
        )

    # Bundle

    def bundle_listing(self, desired: DesiredStack, *, present: bool) -> None:
        keys = sorted(desired.key_prefix + key for key in desired.bundle.files) if present else []
        reply: dict[str, Any] = {"IsTruncated": False, "KeyCount": len(keys), "Name": BUCKET}
        if keys:
            reply["Contents"] = [{"Key": key, "Size": 100} for key in keys]
        self.s3.add_response("list_objects_v2", reply, {"Bucket": BUCKET, "Prefix": desired.key_prefix})

    def bundle_uploads(self, desired: DesiredStack) -> None:
        for key, body in desired.bundle.files.items():
            self.s3.add_response(
                "put_object",
                {"ETag": '"etag"'},
                {"Bucket": BUCKET, "Key": desired.key_prefix + key, "Body": body},
            )

    # Spec drift: the live template, compared at every settled resync

    def original_template(self, desired: DesiredStack) -> None:
        """GetTemplate answering the template the spec renders to (as JSON text, as AWS sends it)."""
        body = json.dumps(json.loads(desired.bundle.files[desired.template_key]))
        self.cloudformation.add_response(
            "get_template",
            {"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]},
            {"StackName": STACK_ID, "TemplateStage": "Original"},
        )

    # Failures

    def events(self, events: Sequence[dict[str, Any]]) -> None:
        newest_first = sorted(events, key=lambda event: event["Timestamp"], reverse=True)
        self.cloudformation.add_response(
            "describe_stack_events", {"StackEvents": newest_first}, {"StackName": STACK_ID}
        )

    def resources(self, statuses: Mapping[str, tuple[str, str | None]]) -> None:
        summaries = []
        for logical_id, (status, reason) in statuses.items():
            summary: dict[str, Any] = {
                "LogicalResourceId": logical_id,
                "ResourceType": "AWS::S3::Bucket",
                "LastUpdatedTimestamp": CREATED,
                "ResourceStatus": status,
            }
            if reason:
                summary["ResourceStatusReason"] = reason
            summaries.append(summary)
        self.cloudformation.add_response(
            "list_stack_resources", {"StackResourceSummaries": summaries}, {"StackName": STACK_ID}
        )
