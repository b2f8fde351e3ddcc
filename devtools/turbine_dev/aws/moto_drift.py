"""CloudFormation drift detection for the embedded AWS (moto has none). Dev and test only.

DetectStackDrift compares each resource's template properties, resolved the way moto resolved
them when it created the stack, with the live resource in moto's service backends, for the
stack and every stack nested in it. The comparison covers what the Turbine stack's drift tests
need: autoscaling groups (MinSize, MaxSize, DesiredCapacity), SQS queues (VisibilityTimeout,
MessageRetentionPeriod, DelaySeconds), IAM inline policies (PolicyDocument on each role) and S3
buckets (VersioningConfiguration). Other resources are NOT_CHECKED, as AWS reports resources
whose types do not support drift detection. Detections complete at once.

For the comparison to be fair, buckets that CloudFormation creates get the versioning their
template asks for (moto ignores VersioningConfiguration there, unlike AWS).
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterator
from typing import Any

from moto.autoscaling.models import autoscaling_backends
from moto.cloudformation import models, responses
from moto.cloudformation.parsing import clean_json
from moto.core.responses import ActionResult
from moto.iam.models import iam_backends
from moto.s3.models import FakeBucket, s3_backends
from moto.sqs.models import sqs_backends

_DETECTIONS: dict[str, dict[str, Any]] = {}
_RESULTS: dict[str, list[dict[str, Any]]] = {}

_QUEUE_PROPERTIES = {
    "VisibilityTimeout": "visibility_timeout",
    "MessageRetentionPeriod": "message_retention_period",
    "DelaySeconds": "delay_seconds",
}
_GROUP_PROPERTIES = {"MinSize": "min_size", "MaxSize": "max_size", "DesiredCapacity": "desired_capacity"}


def _stacks(stack: Any) -> Iterator[Any]:
    yield stack
    for resource in list(stack.resource_map._parsed_resources.values()):
        if isinstance(resource, models.Stack):
            yield from _stacks(resource)


def _difference(path: str, expected: Any, actual: Any) -> dict[str, Any]:
    return {
        "PropertyPath": path,
        "ExpectedValue": str(expected),
        "ActualValue": str(actual),
        "DifferenceType": "NOT_EQUAL",
    }


def _compare_fields(expected: dict[str, Any], live: Any, fields: dict[str, str]) -> list[dict[str, Any]]:
    return [
        _difference(f"/{name}", expected[name], getattr(live, attribute))
        for name, attribute in fields.items()
        if name in expected and str(expected[name]) != str(getattr(live, attribute, None))
    ]


def _resource_drift(stack: Any, logical_id: str, definition: dict[str, Any]) -> dict[str, Any] | None:
    kind = definition.get("Type", "")
    resource = stack.resource_map._parsed_resources.get(logical_id)
    if resource is None or kind not in _CHECKERS:
        return None
    try:
        expected = clean_json(definition.get("Properties", {}), stack.resource_map)
    except Exception:  # an expression moto cannot resolve: leave the resource unchecked
        return None
    status, differences = _CHECKERS[kind](stack, resource, expected)
    return {
        "StackId": stack.stack_id,
        "LogicalResourceId": logical_id,
        "PhysicalResourceId": str(getattr(resource, "physical_resource_id", logical_id)),
        "ResourceType": kind,
        "ExpectedProperties": json.dumps(expected, default=str),
        "ActualProperties": json.dumps(expected, default=str),
        "PropertyDifferences": differences,
        "StackResourceDriftStatus": status,
        "Timestamp": datetime.datetime.now(datetime.UTC),
    }


def _group(stack: Any, resource: Any, expected: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    live = autoscaling_backends[stack.account_id][stack.region_name].autoscaling_groups.get(resource.name)
    if live is None:
        return "DELETED", []
    differences = _compare_fields(expected, live, _GROUP_PROPERTIES)
    return ("MODIFIED" if differences else "IN_SYNC"), differences


def _queue(stack: Any, resource: Any, expected: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    live = sqs_backends[stack.account_id][stack.region_name].queues.get(resource.name)
    if live is None:
        return "DELETED", []
    differences = _compare_fields(expected, live, _QUEUE_PROPERTIES)
    return ("MODIFIED" if differences else "IN_SYNC"), differences


def _inline_policy(stack: Any, resource: Any, expected: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    backend = iam_backends[stack.account_id]["global"]
    wanted = expected.get("PolicyDocument")
    differences = []
    for role_name in expected.get("Roles", []):
        role = next((r for r in backend.roles.values() if r.name == role_name), None)
        if role is None:
            continue
        document = role.policies.get(resource.policy_name)
        actual = json.loads(document) if isinstance(document, str) else document
        if actual != wanted:
            differences.append(_difference("/PolicyDocument", json.dumps(wanted), json.dumps(actual)))
    return ("MODIFIED" if differences else "IN_SYNC"), differences


def _bucket(stack: Any, resource: Any, expected: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    live = s3_backends[stack.account_id]["aws"].buckets.get(resource.name)
    if live is None:
        return "DELETED", []
    wanted = (expected.get("VersioningConfiguration") or {}).get("Status")
    if wanted is not None and wanted != live.versioning_status:
        return "MODIFIED", [_difference("/VersioningConfiguration/Status", wanted, live.versioning_status)]
    return "IN_SYNC", []


_CHECKERS = {
    "AWS::AutoScaling::AutoScalingGroup": _group,
    "AWS::SQS::Queue": _queue,
    "AWS::IAM::Policy": _inline_policy,
    "AWS::S3::Bucket": _bucket,
}


def _buckets_get_their_versioning() -> None:
    bucket_class: Any = FakeBucket
    original = bucket_class.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: Any, *args: Any, **kwargs: Any
    ) -> Any:
        bucket = original(cls, resource_name, cloudformation_json, *args, **kwargs)
        versioning = (cloudformation_json.get("Properties") or {}).get("VersioningConfiguration") or {}
        if versioning.get("Status"):
            bucket.versioning_status = versioning["Status"]
        return bucket

    bucket_class.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def install() -> None:
    _buckets_get_their_versioning()
    response_class: Any = responses.CloudFormationResponse

    def detect_stack_drift(self: Any) -> ActionResult:
        root = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        drifted = 0
        for stack in _stacks(root):
            results = [
                drift
                for logical_id, definition in (stack.template_dict.get("Resources") or {}).items()
                if (drift := _resource_drift(stack, logical_id, definition)) is not None
            ]
            _RESULTS[stack.stack_id] = results
            drifted += sum(1 for r in results if r["StackResourceDriftStatus"] in ("MODIFIED", "DELETED"))
        detection_id = str(uuid.uuid4())
        _DETECTIONS[detection_id] = {
            "StackId": root.stack_id,
            "StackDriftDetectionId": detection_id,
            "StackDriftStatus": "DRIFTED" if drifted else "IN_SYNC",
            "DetectionStatus": "DETECTION_COMPLETE",
            "DriftedStackResourceCount": drifted,
            "Timestamp": datetime.datetime.now(datetime.UTC),
        }
        return ActionResult({"StackDriftDetectionId": detection_id})

    def describe_stack_drift_detection_status(self: Any) -> ActionResult:
        return ActionResult(_DETECTIONS[self._get_param("StackDriftDetectionId")])

    def describe_stack_resource_drifts(self: Any) -> ActionResult:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        wanted = set(self._get_param("StackResourceDriftStatusFilters", []) or [])
        drifts = [
            d
            for d in _RESULTS.get(stack.stack_id, [])
            if not wanted or d["StackResourceDriftStatus"] in wanted
        ]
        return ActionResult({"StackResourceDrifts": drifts})

    response_class.detect_stack_drift = detect_stack_drift
    response_class.describe_stack_drift_detection_status = describe_stack_drift_detection_status
    response_class.describe_stack_resource_drifts = describe_stack_resource_drifts
