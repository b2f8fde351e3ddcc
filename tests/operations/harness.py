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

from stubbed.aws import (
    BUCKET,
    LEGACY_STACK_NAME,
    NAME,
    NAMESPACE,
    OWNER_UID,
    STACK_ID,
    STACK_NAME,
    RecordingStubber,
    change_set_description,
    change_set_id,
    change_set_request,
    change_set_summary,
    newest_first,
    render_desired,
    resource_summary,
    spec,
    stack_description,
    stack_level_event,
)
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.core.naming import (
    APPLIED_HASH_TAG,
    OWNER_UID_TAG,
    change_set_name,
    client_request_token,
    execute_token,
    ownership_tags,
)
from turbine_operator.core.render.rendering import DesiredStack
from turbine_operator.operations.fleet.status_effects import merged_status
from turbine_operator.operations.turbine_stack import Outcome, StackResource

NOW = datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.UTC)
NOW_TEXT = "2025-03-01T12:00:00Z"
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


# The stubbed stack's last update (its CreationTime): what tells change set attempts apart.
LAST_UPDATED = "2025-03-01T09:30:00Z"


def change_set_for(desired: DesiredStack, *, in_review: bool = False) -> str:
    """The change set name the planner uses for a stubbed stack (none yet or in review: no attempt)."""
    return change_set_name(desired.hash, "" if in_review else LAST_UPDATED)


def change_set_token(name: str, kind: str) -> str:
    return client_request_token(OWNER_UID, "change-set", name, kind)


def execute_token_for(desired: DesiredStack, name: str) -> str:
    return execute_token(desired.hash, change_set_id(name))


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
    return render_desired(resource.spec, namespace=resource.namespace, name=resource.name, uid=resource.uid)


def conditions(outcome: Outcome) -> dict[str, dict[str, Any]]:
    return {str(item["type"]): item for item in outcome.status.get("conditions", [])}


merged = merged_status  # the merge patch the API server applies to status writes


def operation_start(status: str, *, minute: int, token: str | None = None) -> dict[str, Any]:
    return stack_level_event(status, "User Initiated", minute=minute, token=token)


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
        applied_hash: str | None = None,
        last_updated: datetime.datetime | None = None,
        named: str = STACK_NAME,
    ) -> None:
        """A stack tagged as owned by `owner_uid`; untagged (as in review on real AWS) if not `tagged`.

        `applied_hash` is the desired hash its last update applied (the tag the operator sets).
        """
        tags = {**ownership_tags(NAMESPACE, NAME, OWNER_UID), OWNER_UID_TAG: owner_uid} if tagged else {}
        if applied_hash is not None:
            tags[APPLIED_HASH_TAG] = applied_hash
        stack = stack_description(
            status,
            reason=reason,
            tags=dict(sorted(tags.items())),
            outputs=outputs,
            termination_protection=termination_protection,
            parameters=None if parameters is None else dict(sorted(parameters.items())),
            last_updated=last_updated,
            name=named,
        )
        self.cloudformation.add_response("describe_stacks", {"Stacks": [stack]}, {"StackName": requested_as})

    def no_stack(self, *, requested_as: str = STACK_NAME) -> None:
        self.cloudformation.add_client_error(
            "describe_stacks",
            "ValidationError",
            f"Stack with id {requested_as} does not exist",
            expected_params={"StackName": requested_as},
        )

    def new_stack(self) -> None:
        """No stack by the default name, nor by the legacy one (an earlier operator's stack, which a
        TurbineStack that recorded no name looks for: operations/stack/stack_names.py)."""
        self.no_stack()
        self.no_stack(requested_as=LEGACY_STACK_NAME)

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
        owner_uid: str | None = None,
    ) -> None:
        """DescribeChangeSet by stack name; `owner_uid` gives it that TurbineStack's ownership tags."""
        tags = dict(sorted(ownership_tags(NAMESPACE, NAME, owner_uid).items())) if owner_uid else None
        reply = change_set_description(
            name, status=status, execution_status=execution_status, reason=reason, changes=changes, tags=tags
        )
        self.cloudformation.add_response(
            "describe_change_set", reply, {"StackName": STACK_NAME, "ChangeSetName": name}
        )

    def change_set_tags(self, name: str, owner_uid: str) -> None:
        """DescribeChangeSet of a change set by stack id, as read for its tags (those of `owner_uid`)."""
        tags = ownership_tags(NAMESPACE, NAME, owner_uid)
        reply = change_set_description(name, tags=dict(sorted(tags.items())))
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
        summaries = [change_set_summary(name) for name in names]
        self.cloudformation.add_response(
            "list_change_sets", {"Summaries": summaries}, {"StackName": STACK_ID}
        )

    def delete_change_set(self, name: str, *, stack: str = STACK_ID) -> None:
        self.cloudformation.add_response("delete_change_set", {}, {"StackName": stack, "ChangeSetName": name})

    def create_change_set(self, desired: DesiredStack, name: str, kind: str, token: str) -> None:
        reply = {"Id": change_set_id(name), "StackId": STACK_ID}
        self.cloudformation.add_response(
            "create_change_set", reply, change_set_request(desired, name, kind, token)
        )

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

    def foreign_template(self) -> None:
        """GetTemplate answering a template that is not a Turbine master (no turbine.dev/template)."""
        body = json.dumps({"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}})
        self.cloudformation.add_response(
            "get_template",
            {"TemplateBody": body, "StagesAvailable": ["Original", "Processed"]},
            {"StackName": STACK_ID, "TemplateStage": "Original"},
        )

    # Failures

    def events(self, events: Sequence[dict[str, Any]]) -> None:
        self.cloudformation.add_response(
            "describe_stack_events", {"StackEvents": newest_first(events)}, {"StackName": STACK_ID}
        )

    def resources(self, statuses: Mapping[str, tuple[str, str | None]]) -> None:
        summaries = [
            resource_summary(logical_id, status, reason) for logical_id, (status, reason) in statuses.items()
        ]
        self.cloudformation.add_response(
            "list_stack_resources", {"StackResourceSummaries": summaries}, {"StackName": STACK_ID}
        )
