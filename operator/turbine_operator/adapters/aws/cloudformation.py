"""The CloudFormation and S3 adapter: observations in, requests out, domain errors only."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from turbine_operator.adapters.aws.aws_errors import NOT_MODIFIED, aws_call
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.s3_objects import RememberedObjects, UploadedBundles
from turbine_operator.core.errors import (
    AwsAlreadyExists,
    AwsError,
    AwsNotFound,
    AwsValidationError,
    TemplateBucketMissing,
)
from turbine_operator.core.naming import CHANGE_SET_PREFIX, OWNER_UID_TAG
from turbine_operator.core.observed.observations import (
    DriftDetection,
    LatestOperation,
    ObservedChangeSet,
    ObservedStack,
    PropertyDifference,
    ResourceChange,
    ResourceDrift,
)
from turbine_operator.core.observed.stack_status import StackPhase, phase_of
from turbine_operator.core.plan.planning import ChangeSetKind
from turbine_operator.core.render.additions import LARGEST_TEMPLATE
from turbine_operator.core.render.rendering import DesiredStack
from turbine_operator.core.render.templates import Template, load_template

_CANCELLED = ("Resource creation cancelled", "Resource update cancelled")
# AWS's public parameter naming the newest Amazon Linux 2023 x86_64 AMI of the region:
# https://docs.aws.amazon.com/linux/al2023/ug/ec2.html#launch-via-aws-cli
LATEST_AL2023_IMAGE = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
_MAX_EVENT_PAGES = 5
LARGEST_VALIDATED_BODY = 51_200


def s3_url(bucket: str, region: str, key: str) -> str:
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def iso_time(value: object) -> str | None:
    if isinstance(value, datetime.datetime):
        return value.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return None


def _observed_stack(raw: Mapping[str, Any]) -> ObservedStack:
    return ObservedStack(
        stack_id=raw["StackId"],
        name=raw["StackName"],
        status=raw["StackStatus"],
        status_reason=raw.get("StackStatusReason"),
        tags={tag["Key"]: tag["Value"] for tag in raw.get("Tags", [])},
        outputs={
            output["OutputKey"]: str(output.get("OutputValue", "")) for output in raw.get("Outputs", [])
        },
        termination_protection=bool(raw.get("EnableTerminationProtection", False)),
        parameters={
            item["ParameterKey"]: str(item.get("ParameterValue", "")) for item in raw.get("Parameters", [])
        },
        last_updated=iso_time(raw.get("LastUpdatedTime") or raw.get("CreationTime")),
        updated="LastUpdatedTime" in raw,
    )


def _resource_change(raw: Mapping[str, Any]) -> ResourceChange | None:
    change = raw.get("ResourceChange")
    if raw.get("Type") != "Resource" or not change:
        return None
    return ResourceChange(
        action=change.get("Action", ""),
        logical_resource_id=change.get("LogicalResourceId", ""),
        resource_type=change.get("ResourceType", ""),
        replacement=change.get("Replacement") if change.get("Action") == "Modify" else None,
    )


class StackGateway:
    """Everything the reconciler asks of AWS for one stack's region and role."""

    def __init__(
        self,
        sessions: AwsSessions,
        region: str,
        role_arn: str | None,
        remembered: RememberedObjects | None = None,
        uploads: UploadedBundles | None = None,
    ) -> None:
        self.region = region
        self._remembered, self._uploads = remembered, uploads
        self._sessions, self._role_arn = sessions, role_arn
        self._cloudformation = sessions.client("cloudformation", region, role_arn)
        self._s3 = sessions.client("s3", region, role_arn)

    def latest_image_id(self) -> str:
        """The newest Amazon Linux 2023 AMI of the region, as AWS publishes it in SSM."""
        ssm = self._sessions.client("ssm", self.region, self._role_arn)
        with aws_call("GetParameter"):
            return str(ssm.get_parameter(Name=LATEST_AL2023_IMAGE)["Parameter"]["Value"])

    def describe_stack(self, name_or_id: str) -> ObservedStack | None:
        try:
            with aws_call("DescribeStacks"):
                reply = self._cloudformation.describe_stacks(StackName=name_or_id)
        except AwsNotFound:
            return None
        stacks = reply.get("Stacks", [])
        if not stacks or stacks[0]["StackStatus"] == "DELETE_COMPLETE":
            return None
        return _observed_stack(stacks[0])

    def observe_stack(self, name_or_id: str) -> ObservedStack | None:
        """The stack with its owner tags; a stack still in review takes them from our change set.

        A stack that a CREATE change set made carries no tags until the change set is executed.
        """
        stack = self.describe_stack(name_or_id)
        if stack is None or phase_of(stack.status) is not StackPhase.REVIEW or OWNER_UID_TAG in stack.tags:
            return stack
        tags = self.change_set_tags(stack.stack_id, CHANGE_SET_PREFIX)
        return dataclasses.replace(stack, tags={**tags, **stack.tags})

    def describe_change_set(self, stack_name: str, change_set_name: str) -> ObservedChangeSet | None:
        changes: list[ResourceChange] = []
        arguments = {"StackName": stack_name, "ChangeSetName": change_set_name}
        first: Mapping[str, Any] | None = None
        while True:
            try:
                with aws_call("DescribeChangeSet"):
                    reply = self._cloudformation.describe_change_set(**arguments)
            except AwsNotFound:
                return None
            first = first or reply
            changes += [change for raw in reply.get("Changes", []) if (change := _resource_change(raw))]
            if not reply.get("NextToken"):
                break
            arguments["NextToken"] = reply["NextToken"]
        return ObservedChangeSet(
            name=first["ChangeSetName"],
            status=first["Status"],
            execution_status=first.get("ExecutionStatus", "UNAVAILABLE"),
            status_reason=first.get("StatusReason"),
            changes=tuple(changes),
            created_at=iso_time(first.get("CreationTime")),
            change_set_id=first.get("ChangeSetId"),
            tags={tag["Key"]: tag["Value"] for tag in first.get("Tags", [])},
        )

    def upload_bundle(self, desired: DesiredStack) -> int:
        """Uploads the files the bucket lacks; returns how many were uploaded.

        Keys are content-addressed, so an existing key already holds exactly these bytes.
        """
        if self._uploads is None:
            return self._upload_missing(desired)
        key = (self._role_arn or "", self.region, desired.bucket, desired.key_prefix)
        return self._uploads.ensure(key, lambda: self._upload_missing(desired))

    def _upload_missing(self, desired: DesiredStack) -> int:
        with aws_call("ListObjectsV2"):
            pages = self._s3.get_paginator("list_objects_v2").paginate(
                Bucket=desired.bucket, Prefix=desired.key_prefix
            )
            present = {item["Key"] for page in pages for item in page.get("Contents", [])}
        # A key already present was checked when it was uploaded: its content is the same.
        for key, field in desired.user_templates.items():
            if desired.key_prefix + key not in present:
                self.validate_template(desired.bundle.files[key], field)
        uploaded = 0
        for key, body in desired.bundle.files.items():
            full_key = desired.key_prefix + key
            if full_key in present:
                continue
            with aws_call("PutObject"):
                self._s3.put_object(Bucket=desired.bucket, Key=full_key, Body=body)
            uploaded += 1
        return uploaded

    def validate_template(self, body: bytes, field: str) -> None:
        """CloudFormation's own check of a template (it reads and changes nothing); refusal names `field`.

        ValidateTemplate takes a body of at most 51,200 bytes; a larger template is checked by
        CloudFormation when the change set reads it from S3.
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ValidateTemplate.html
        """
        if len(body) > LARGEST_VALIDATED_BODY:
            return
        try:
            with aws_call("ValidateTemplate"):
                self._cloudformation.validate_template(TemplateBody=body.decode("utf-8-sig"))
        except AwsValidationError as error:
            message = f"{field} is refused by CloudFormation: {error.message}"
            raise AwsValidationError(error.operation, error.code, message) from error

    def read_object(self, bucket: str, key: str) -> bytes | None:
        """An S3 object's bytes, or None if the bucket or key does not exist."""
        store = self._remembered
        remembered = store.get(bucket, key) if store is not None else None
        arguments = {"Bucket": bucket, "Key": key}
        if remembered is not None:
            arguments["IfNoneMatch"] = remembered.etag
        try:
            with aws_call("GetObject"):
                response = self._s3.get_object(**arguments)
                # One byte past the limit is enough to refuse it; a huge object is never held whole.
                body: bytes = response["Body"].read(LARGEST_TEMPLATE + 1)
        except AwsError as error:
            if remembered is not None and error.code == NOT_MODIFIED:
                return remembered.body
            if isinstance(error, AwsNotFound | TemplateBucketMissing):
                if store is not None:
                    store.forget(bucket, key)
                return None
            raise
        # Too large an object is refused at render; it is not worth remembering.
        if store is not None and "ETag" in response and len(body) <= LARGEST_TEMPLATE:
            store.put(bucket, key, str(response["ETag"]), body)
        return body

    def create_change_set(
        self, desired: DesiredStack, name: str, kind: ChangeSetKind, token: str
    ) -> str | None:
        """Creates the change set; returns the stack id the reply names (None when it was there already)."""
        arguments: dict[str, Any] = {
            "StackName": desired.stack_name,
            "ChangeSetName": name,
            "ChangeSetType": kind.value,
            "TemplateURL": s3_url(desired.bucket, self.region, desired.template_url_key),
            "Parameters": [
                {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(desired.parameters.items())
            ],
            "Tags": [{"Key": k, "Value": v} for k, v in sorted(desired.tags.items())],
            "Capabilities": list(desired.capabilities),
            "IncludeNestedStacks": True,
            "ClientToken": token,
            "Description": f"Turbine Operator change set for {desired.hash[:24]}",
        }
        if desired.service_role_arn:
            arguments["RoleARN"] = desired.service_role_arn
        try:
            with aws_call("CreateChangeSet"):
                reply = self._cloudformation.create_change_set(**arguments)
        except AwsAlreadyExists:
            return None  # a retry after a lost reply: the change set is there, which is what we wanted
        stack_id = reply.get("StackId")
        return str(stack_id) if stack_id else None

    def delete_change_set(self, stack_name: str, name: str) -> None:
        try:
            with aws_call("DeleteChangeSet"):
                self._cloudformation.delete_change_set(StackName=stack_name, ChangeSetName=name)
        except AwsNotFound:
            pass  # already gone

    def change_set_tags(self, stack_id: str, prefix: str) -> dict[str, str]:
        """Tags of the stack's first change set whose name starts with `prefix` ({} if none).

        A stack that a CREATE change set made stays untagged until the change set is executed,
        so while it is in review its owner can only be read from the change set.
        """
        for name in self.change_set_names(stack_id):
            if name.startswith(prefix):
                with aws_call("DescribeChangeSet"):
                    reply = self._cloudformation.describe_change_set(StackName=stack_id, ChangeSetName=name)
                return {tag["Key"]: tag["Value"] for tag in reply.get("Tags", [])}
        return {}

    def change_set_names(self, stack_name: str) -> list[str]:
        """The stack's change sets, less those already being deleted (deletion is asynchronous)."""
        with aws_call("ListChangeSets"):
            pages = self._cloudformation.get_paginator("list_change_sets").paginate(StackName=stack_name)
            return [
                item["ChangeSetName"]
                for page in pages
                for item in page.get("Summaries", [])
                if not str(item.get("Status", "")).startswith("DELETE_")
            ]

    def execute_change_set(self, stack_name: str, name: str, token: str) -> None:
        with aws_call("ExecuteChangeSet"):
            self._cloudformation.execute_change_set(
                StackName=stack_name, ChangeSetName=name, ClientRequestToken=token
            )

    def continue_update_rollback(self, stack_name: str, token: str, role_arn: str | None) -> None:
        arguments: dict[str, Any] = {"StackName": stack_name, "ClientRequestToken": token}
        if role_arn:
            arguments["RoleARN"] = role_arn
        with aws_call("ContinueUpdateRollback"):
            self._cloudformation.continue_update_rollback(**arguments)

    def set_termination_protection(self, stack_name: str, enabled: bool) -> None:
        with aws_call("UpdateTerminationProtection"):
            self._cloudformation.update_termination_protection(
                StackName=stack_name, EnableTerminationProtection=enabled
            )

    def delete_stack(self, stack_id: str, token: str, role_arn: str | None) -> None:
        arguments: dict[str, Any] = {"StackName": stack_id, "ClientRequestToken": token}
        if role_arn:
            arguments["RoleARN"] = role_arn
        with aws_call("DeleteStack"):
            self._cloudformation.delete_stack(**arguments)

    def latest_operation(self, stack_id: str) -> LatestOperation:
        """The stack's latest operation, read from its events (newest first, a few pages at most).

        Every event of an operation carries the ClientRequestToken of the request that started it:
        https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackEvent.html
        """
        failures: list[Mapping[str, Any]] = []
        token: str | None = None
        with aws_call("DescribeStackEvents"):
            pages = self._cloudformation.get_paginator("describe_stack_events").paginate(StackName=stack_id)
            operation_started = False
            for number, page in enumerate(pages):
                # Newest first: collect until the event that started the latest operation.
                for event in page.get("StackEvents", []):
                    token = token or event.get("ClientRequestToken") or None
                    if _is_root_failure(event):
                        failures.append(event)
                    if _starts_operation(event, stack_id):
                        operation_started = True
                        break
                if operation_started or number + 1 >= _MAX_EVENT_PAGES:
                    break
        if not failures:
            return LatestOperation(token, None)
        first = failures[-1]  # events arrive newest first
        resource = f"{first.get('LogicalResourceId')} ({first.get('ResourceType')})"
        return LatestOperation(token, f"{resource}: {first.get('ResourceStatusReason')}")

    def original_template(self, stack_id: str) -> Template:
        """The template as submitted (before transforms), for comparison with the rendered one."""
        with aws_call("GetTemplate"):
            reply = self._cloudformation.get_template(StackName=stack_id, TemplateStage="Original")
        body = reply.get("TemplateBody", {})
        # boto3 hands JSON bodies back already parsed; YAML ones stay text.
        return dict(body) if isinstance(body, Mapping) else load_template(str(body), f"stack {stack_id}")

    def start_drift_detection(self, stack_id: str) -> str:
        with aws_call("DetectStackDrift"):
            return str(self._cloudformation.detect_stack_drift(StackName=stack_id)["StackDriftDetectionId"])

    def drift_detection(self, detection_id: str) -> DriftDetection:
        with aws_call("DescribeStackDriftDetectionStatus"):
            reply = self._cloudformation.describe_stack_drift_detection_status(
                StackDriftDetectionId=detection_id
            )
        return DriftDetection(
            status=reply["DetectionStatus"],
            stack_drift_status=reply.get("StackDriftStatus"),
            reason=reply.get("DetectionStatusReason"),
        )

    def nested_stacks(self, stack_id: str) -> list[tuple[str, str]]:
        """(label, stack id) of the stack and every stack nested in it, depth first."""
        found = [(stack_id.split("/")[1] if "/" in stack_id else stack_id, stack_id)]
        with aws_call("ListStackResources"):
            pages = self._cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_id)
            children = [
                item["PhysicalResourceId"]
                for page in pages
                for item in page.get("StackResourceSummaries", [])
                if item["ResourceType"] == "AWS::CloudFormation::Stack" and item.get("PhysicalResourceId")
            ]
        for child in children:
            found += self.nested_stacks(child)
        return found

    def resource_drifts(self, stack_id: str, label: str) -> list[ResourceDrift]:
        drifts: list[ResourceDrift] = []
        arguments: dict[str, Any] = {
            "StackName": stack_id,
            "StackResourceDriftStatusFilters": ["MODIFIED", "DELETED"],
        }
        while True:  # botocore has no paginator for this operation
            with aws_call("DescribeStackResourceDrifts"):
                reply = self._cloudformation.describe_stack_resource_drifts(**arguments)
            drifts += [_resource_drift(item, label) for item in reply.get("StackResourceDrifts", [])]
            if not reply.get("NextToken"):
                return drifts
            arguments["NextToken"] = reply["NextToken"]

    def failed_resources(self, stack_id: str) -> list[str]:
        with aws_call("ListStackResources"):
            pages = self._cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack_id)
            return [
                f"{item['LogicalResourceId']}: {item.get('ResourceStatusReason', item['ResourceStatus'])}"
                for page in pages
                for item in page.get("StackResourceSummaries", [])
                if item.get("ResourceStatus", "").endswith("_FAILED")
            ]


def _resource_drift(item: Mapping[str, Any], label: str) -> ResourceDrift:
    return ResourceDrift(
        stack_name=label,
        logical_resource_id=item["LogicalResourceId"],
        resource_type=item["ResourceType"],
        status=item["StackResourceDriftStatus"],
        differences=tuple(
            PropertyDifference(
                path=difference["PropertyPath"],
                expected=difference.get("ExpectedValue"),
                actual=difference.get("ActualValue"),
                kind=difference.get("DifferenceType", "NOT_EQUAL"),
            )
            for difference in item.get("PropertyDifferences", [])
        ),
    )


def _is_root_failure(event: Mapping[str, Any]) -> bool:
    reason = str(event.get("ResourceStatusReason") or "")
    return str(event.get("ResourceStatus", "")).endswith("_FAILED") and not reason.startswith(_CANCELLED)


def _starts_operation(event: Mapping[str, Any], stack_id: str) -> bool:
    return (
        event.get("PhysicalResourceId") == stack_id and event.get("ResourceStatusReason") == "User Initiated"
    )
