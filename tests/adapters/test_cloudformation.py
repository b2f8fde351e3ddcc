"""StackGateway against stubbed CloudFormation and S3: exact requests, real replies and errors."""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from stubbed.aws import (
    BUCKET,
    CREATED,
    NESTED,
    OWNER_UID,
    QUEUE,
    REGION,
    SERVICE_ROLE,
    STACK_ID,
    STACK_NAME,
    TOPIC,
    RecordingStubber,
    change_set_description,
    change_set_id,
    change_set_request,
    change_set_summary,
    newest_first,
    render_desired,
    resource_change,
    resource_summary,
    spec,
    stack_description,
    stack_event,
    stack_level_event,
)
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.cloudformation import StackGateway, s3_url
from turbine_operator.adapters.aws.stack_summaries import live_stacks
from turbine_operator.core.errors import (
    AwsAccessDenied,
    AwsValidationError,
    TemplateBucketMissing,
    TransientAwsError,
)
from turbine_operator.core.naming import change_set_name, client_request_token
from turbine_operator.core.observed.observations import ObservedChangeSet, ObservedStack, ResourceChange
from turbine_operator.core.plan.planning import ChangeSetKind
from turbine_operator.core.plan.stack_listing import LIVE_STATUSES
from turbine_operator.core.render.rendering import DesiredStack

MakeDesired = Callable[..., DesiredStack]


@pytest.fixture
def make_desired() -> MakeDesired:
    def make(**fields: Any) -> DesiredStack:
        return render_desired(spec(**fields))

    return make


# DescribeStacks


def test_describe_stack_reads_status_tags_outputs_and_termination_protection(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    raw = stack_description(
        "UPDATE_ROLLBACK_COMPLETE",
        reason="The following resource(s) failed to update: [TaskQueue].",
        tags={"turbine.dev/owner-uid": OWNER_UID, "team": "data"},
        outputs={"WebserverURL": "http://webserver.example:8080", "MaxWorkers": "10"},
        termination_protection=True,
        parameters={"MaxGroupSize": "10", "QSS3BucketName": BUCKET},
        last_updated=CREATED + datetime.timedelta(hours=1, minutes=5),
    )
    cf_stub.add_response("describe_stacks", {"Stacks": [raw]}, {"StackName": STACK_NAME})

    observed = gateway.describe_stack(STACK_NAME)

    cf_stub.verify()
    assert observed == ObservedStack(
        stack_id=STACK_ID,
        name=STACK_NAME,
        status="UPDATE_ROLLBACK_COMPLETE",
        status_reason="The following resource(s) failed to update: [TaskQueue].",
        tags={"turbine.dev/owner-uid": OWNER_UID, "team": "data"},
        outputs={"WebserverURL": "http://webserver.example:8080", "MaxWorkers": "10"},
        termination_protection=True,
        parameters={"MaxGroupSize": "10", "QSS3BucketName": BUCKET},
        last_updated="2025-03-01T10:35:00Z",
        updated=True,  # LastUpdatedTime is there: the stack was updated at least once
    )


def test_describe_stack_without_optional_fields(gateway: StackGateway, cf_stub: RecordingStubber) -> None:
    raw = stack_description("CREATE_COMPLETE")
    del raw["Tags"], raw["EnableTerminationProtection"]
    cf_stub.add_response("describe_stacks", {"Stacks": [raw]}, {"StackName": STACK_NAME})

    observed = gateway.describe_stack(STACK_NAME)

    cf_stub.verify()
    assert observed is not None
    assert (observed.tags, observed.outputs, observed.termination_protection) == ({}, {}, False)
    assert observed.status_reason is None
    assert observed.parameters == {}
    assert observed.last_updated == "2025-03-01T09:30:00Z"  # never updated: its creation time
    assert not observed.updated


def test_describe_stack_of_a_missing_stack_is_none(gateway: StackGateway, cf_stub: RecordingStubber) -> None:
    cf_stub.add_client_error(
        "describe_stacks",
        "ValidationError",
        f"Stack with id {STACK_NAME} does not exist",
        expected_params={"StackName": STACK_NAME},
    )

    assert gateway.describe_stack(STACK_NAME) is None
    cf_stub.verify()


def test_describe_stack_by_id_of_a_deleted_stack_is_none(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    # By stack id, CloudFormation still answers for a deleted stack, with DELETE_COMPLETE.
    cf_stub.add_response(
        "describe_stacks", {"Stacks": [stack_description("DELETE_COMPLETE")]}, {"StackName": STACK_ID}
    )

    assert gateway.describe_stack(STACK_ID) is None
    cf_stub.verify()


def test_describe_stack_with_an_empty_reply_is_none(gateway: StackGateway, cf_stub: RecordingStubber) -> None:
    cf_stub.add_response("describe_stacks", {"Stacks": []}, {"StackName": STACK_NAME})

    assert gateway.describe_stack(STACK_NAME) is None
    cf_stub.verify()


def test_describe_stack_other_validation_errors_are_raised(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    cf_stub.add_client_error(
        "describe_stacks", "ValidationError", "1 validation error detected: Value 'a_b' at 'stackName' failed"
    )

    with pytest.raises(AwsValidationError):
        gateway.describe_stack(STACK_NAME)
    cf_stub.verify()


@pytest.mark.parametrize(
    ("code", "message", "status", "expected"),
    [
        ("Throttling", "Rate exceeded", 400, TransientAwsError),
        ("ServiceUnavailable", "Service is unavailable", 503, TransientAwsError),
        (
            "AccessDenied",
            "User is not authorized to perform: cloudformation:DescribeStacks",
            403,
            AwsAccessDenied,
        ),
    ],
)
def test_describe_stack_failures_are_raised_as_domain_errors(
    gateway: StackGateway,
    cf_stub: RecordingStubber,
    code: str,
    message: str,
    status: int,
    expected: type[Exception],
) -> None:
    cf_stub.add_client_error("describe_stacks", code, message, http_status_code=status)

    with pytest.raises(expected):
        gateway.describe_stack(STACK_NAME)
    cf_stub.verify()


# DescribeChangeSet

CHANGE_SET = "turbine-0123456789abcdef01234567"


def test_describe_change_set_of_a_missing_change_set_is_none(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    cf_stub.add_client_error(
        "describe_change_set",
        "ChangeSetNotFound",
        f"ChangeSet [{CHANGE_SET}] does not exist",
        http_status_code=404,
        expected_params={"StackName": STACK_NAME, "ChangeSetName": CHANGE_SET},
    )

    assert gateway.describe_change_set(STACK_NAME, CHANGE_SET) is None
    cf_stub.verify()


def test_describe_change_set_combines_pages_and_captures_replacement(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    first_page = change_set_description(
        CHANGE_SET,
        changes=[
            resource_change("Modify", "TaskQueue", QUEUE, replacement="True"),
            resource_change("Add", "Alerts", TOPIC),
        ],
        next_token="page-2-token",
    )
    second_page = change_set_description(
        CHANGE_SET,
        changes=[
            resource_change("Modify", "WorkerStack", NESTED, replacement="Conditional"),
            resource_change("Remove", "OldTopic", TOPIC),
            resource_change("Modify", "Webserver", "AWS::EC2::Instance", replacement="False"),
        ],
    )
    cf_stub.add_response(
        "describe_change_set", first_page, {"StackName": STACK_NAME, "ChangeSetName": CHANGE_SET}
    )
    cf_stub.add_response(
        "describe_change_set",
        second_page,
        {"StackName": STACK_NAME, "ChangeSetName": CHANGE_SET, "NextToken": "page-2-token"},
    )

    observed = gateway.describe_change_set(STACK_NAME, CHANGE_SET)

    cf_stub.verify()
    assert observed == ObservedChangeSet(
        name=CHANGE_SET,
        status="CREATE_COMPLETE",
        execution_status="AVAILABLE",
        status_reason=None,
        changes=(
            ResourceChange("Modify", "TaskQueue", QUEUE, replacement="True"),
            ResourceChange("Add", "Alerts", TOPIC),
            ResourceChange("Modify", "WorkerStack", NESTED, replacement="Conditional"),
            ResourceChange("Remove", "OldTopic", TOPIC),
            ResourceChange("Modify", "Webserver", "AWS::EC2::Instance", replacement="False"),
        ),
        created_at="2025-03-01T09:30:00Z",
        change_set_id=change_set_id(CHANGE_SET),
    )


def test_describe_change_set_reports_a_failed_change_set_with_its_reason(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    reason = (
        "The submitted information didn't contain changes. "
        "Submit different information to create a change set."
    )
    cf_stub.add_response(
        "describe_change_set",
        change_set_description(CHANGE_SET, status="FAILED", execution_status="UNAVAILABLE", reason=reason),
    )

    observed = gateway.describe_change_set(STACK_NAME, CHANGE_SET)

    cf_stub.verify()
    assert observed is not None
    assert (observed.status, observed.execution_status, observed.status_reason) == (
        "FAILED",
        "UNAVAILABLE",
        reason,
    )
    assert observed.changes == ()


def test_describe_change_set_access_denied_is_raised(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    cf_stub.add_client_error("describe_change_set", "AccessDenied", "not authorized", http_status_code=403)

    with pytest.raises(AwsAccessDenied):
        gateway.describe_change_set(STACK_NAME, CHANGE_SET)
    cf_stub.verify()


# CreateChangeSet


def test_create_change_set_sends_the_exact_request(
    gateway: StackGateway, cf_stub: RecordingStubber, make_desired: MakeDesired
) -> None:
    desired = make_desired(tags={"zeta": "last", "alpha": "first"}, parameters={"DrainTimeout": "600"})
    name = change_set_name(desired.hash)
    token = client_request_token(OWNER_UID, "change-set", desired.hash, "CREATE")
    expected = change_set_request(desired, name, "CREATE", token)
    cf_stub.add_response(
        "create_change_set",
        {"Id": f"arn:aws:cloudformation:{REGION}:123456789012:changeSet/{name}/x", "StackId": STACK_ID},
        expected,
    )

    gateway.create_change_set(desired, name, ChangeSetKind.CREATE, token)

    cf_stub.verify()
    assert "RoleARN" not in expected
    keys = [item["ParameterKey"] for item in expected["Parameters"]]
    assert keys == sorted(keys)
    assert {"ParameterKey": "DrainTimeout", "ParameterValue": "600"} in expected["Parameters"]
    assert {"ParameterKey": "QSS3BucketName", "ParameterValue": BUCKET} in expected["Parameters"]
    assert {
        "ParameterKey": "QSS3KeyPrefix",
        "ParameterValue": f"turbine/bundles/{desired.bundle.digest}/",
    } in expected["Parameters"]
    tag_keys = [item["Key"] for item in expected["Tags"]]
    assert tag_keys == sorted(tag_keys)
    assert {"Key": "turbine.dev/owner-uid", "Value": OWNER_UID} in expected["Tags"]


def test_create_change_set_passes_the_service_role_when_set(
    gateway: StackGateway, cf_stub: RecordingStubber, make_desired: MakeDesired
) -> None:
    desired = make_desired(serviceRoleArn=SERVICE_ROLE)
    name = change_set_name(desired.hash)
    expected = {**change_set_request(desired, name, "UPDATE", "token-1"), "RoleARN": SERVICE_ROLE}
    cf_stub.add_response("create_change_set", {"Id": "cs", "StackId": STACK_ID}, expected)

    gateway.create_change_set(desired, name, ChangeSetKind.UPDATE, "token-1")

    cf_stub.verify()


def test_template_url_uses_the_gateway_region(make_desired: MakeDesired) -> None:
    desired = make_desired()

    assert s3_url(desired.bucket, "eu-west-1", desired.template_url_key) == (
        f"https://{BUCKET}.s3.eu-west-1.amazonaws.com/turbine/bundles/{desired.bundle.digest}"
        "/templates/turbine-master.json"
    )


def test_create_change_set_that_already_exists_is_success(
    gateway: StackGateway, cf_stub: RecordingStubber, make_desired: MakeDesired
) -> None:
    desired = make_desired()
    name = change_set_name(desired.hash)
    cf_stub.add_client_error(
        "create_change_set",
        "AlreadyExistsException",
        f"ChangeSet {name} already exists",
        http_status_code=400,
    )

    gateway.create_change_set(desired, name, ChangeSetKind.UPDATE, "token-1")

    cf_stub.verify()


@pytest.mark.parametrize(
    ("code", "message", "expected"),
    [
        ("ValidationError", "Parameters: [DrainTimeout] must have values", AwsValidationError),
        ("InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]", AwsValidationError),
        ("Throttling", "Rate exceeded", TransientAwsError),
    ],
)
def test_create_change_set_failures_are_raised(
    gateway: StackGateway,
    cf_stub: RecordingStubber,
    make_desired: MakeDesired,
    code: str,
    message: str,
    expected: type[Exception],
) -> None:
    desired = make_desired()
    cf_stub.add_client_error("create_change_set", code, message)

    with pytest.raises(expected):
        gateway.create_change_set(desired, change_set_name(desired.hash), ChangeSetKind.UPDATE, "token-1")
    cf_stub.verify()


# Bundle upload


def _listing(keys: list[str], *, next_token: str | None = None) -> dict[str, Any]:
    reply: dict[str, Any] = {
        "IsTruncated": next_token is not None,
        "Contents": [{"Key": key, "Size": 10, "ETag": '"etag"', "StorageClass": "STANDARD"} for key in keys],
        "Name": BUCKET,
        "Prefix": "turbine/",
        "KeyCount": len(keys),
        "MaxKeys": 1000,
    }
    if next_token is not None:
        reply["NextContinuationToken"] = next_token
    return reply


def test_upload_bundle_uploads_only_the_missing_keys(
    gateway: StackGateway, s3_stub: RecordingStubber, make_desired: MakeDesired, calls: list[str]
) -> None:
    desired = make_desired()
    keys = sorted(desired.key_prefix + key for key in desired.bundle.files)
    assert keys == [
        f"turbine/bundles/{desired.bundle.digest}/templates/turbine-master.json",
        f"turbine/bundles/{desired.bundle.digest}/templates/turbine-master.yaml",
    ]
    present, missing = keys
    s3_stub.add_response(
        "list_objects_v2", _listing([present]), {"Bucket": BUCKET, "Prefix": desired.key_prefix}
    )
    s3_stub.add_response(
        "put_object",
        {"ETag": '"etag"'},
        {"Bucket": BUCKET, "Key": missing, "Body": desired.bundle.files["templates/turbine-master.yaml"]},
    )

    assert gateway.upload_bundle(desired) == 1

    s3_stub.verify()
    assert calls == ["ListObjectsV2", "PutObject"]


def test_upload_bundle_reads_every_listing_page(
    gateway: StackGateway, s3_stub: RecordingStubber, make_desired: MakeDesired, calls: list[str]
) -> None:
    desired = make_desired()
    first, second = sorted(desired.key_prefix + key for key in desired.bundle.files)
    s3_stub.add_response(
        "list_objects_v2",
        _listing([first], next_token="next"),
        {"Bucket": BUCKET, "Prefix": desired.key_prefix},
    )
    s3_stub.add_response(
        "list_objects_v2",
        _listing([second]),
        {"Bucket": BUCKET, "Prefix": desired.key_prefix, "ContinuationToken": "next"},
    )

    assert gateway.upload_bundle(desired) == 0

    s3_stub.verify()
    assert calls == ["ListObjectsV2", "ListObjectsV2"]


def test_upload_bundle_into_an_empty_prefix_uploads_everything(
    gateway: StackGateway, s3_stub: RecordingStubber, make_desired: MakeDesired
) -> None:
    desired = make_desired()
    empty = _listing([])
    del empty["Contents"]
    s3_stub.add_response("list_objects_v2", empty)
    for key, body in desired.bundle.files.items():
        s3_stub.add_response(
            "put_object",
            {"ETag": '"etag"'},
            {"Bucket": BUCKET, "Key": desired.key_prefix + key, "Body": body},
        )

    assert gateway.upload_bundle(desired) == len(desired.bundle.files)
    s3_stub.verify()


def test_upload_bundle_to_a_missing_bucket_uploads_nothing(
    gateway: StackGateway, s3_stub: RecordingStubber, make_desired: MakeDesired, calls: list[str]
) -> None:
    s3_stub.add_client_error(
        "list_objects_v2", "NoSuchBucket", "The specified bucket does not exist", http_status_code=404
    )

    with pytest.raises(TemplateBucketMissing):
        gateway.upload_bundle(make_desired())

    s3_stub.verify()
    assert calls == ["ListObjectsV2"]


# Mutating calls and their idempotency tokens


def test_delete_change_set_of_a_missing_change_set_is_success(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    cf_stub.add_client_error(
        "delete_change_set",
        "ChangeSetNotFound",
        f"ChangeSet [{CHANGE_SET}] does not exist",
        http_status_code=404,
        expected_params={"StackName": STACK_ID, "ChangeSetName": CHANGE_SET},
    )

    gateway.delete_change_set(STACK_ID, CHANGE_SET)
    cf_stub.verify()


def test_delete_change_set_other_failures_are_raised(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    cf_stub.add_client_error(
        "delete_change_set",
        "InvalidChangeSetStatus",
        "Cannot delete ChangeSet in status EXECUTE_IN_PROGRESS",
    )

    with pytest.raises(Exception, match="InvalidChangeSetStatus"):
        gateway.delete_change_set(STACK_ID, CHANGE_SET)
    cf_stub.verify()


def test_change_set_names_reads_every_page(gateway: StackGateway, cf_stub: RecordingStubber) -> None:
    cf_stub.add_response(
        "list_change_sets",
        {
            "Summaries": [change_set_summary("turbine-old"), change_set_summary("manual-review")],
            "NextToken": "t2",
        },
        {"StackName": STACK_ID},
    )
    cf_stub.add_response(
        "list_change_sets",
        {"Summaries": [change_set_summary("turbine-older")]},
        {"StackName": STACK_ID, "NextToken": "t2"},
    )

    assert gateway.change_set_names(STACK_ID) == ["turbine-old", "manual-review", "turbine-older"]
    cf_stub.verify()


# The owner of a stack in review: the tags of our change set


def test_change_set_tags_are_those_of_the_first_change_set_with_the_prefix(
    gateway: StackGateway, cf_stub: RecordingStubber, calls: list[str]
) -> None:
    cf_stub.add_response(
        "list_change_sets",
        {
            "Summaries": [change_set_summary("manual-review"), change_set_summary("review-turbine-0123")],
            "NextToken": "t2",
        },
        {"StackName": STACK_ID},
    )
    cf_stub.add_response(
        "list_change_sets",
        {"Summaries": [change_set_summary("turbine-aaaa"), change_set_summary("turbine-bbbb")]},
        {"StackName": STACK_ID, "NextToken": "t2"},
    )
    tagged = change_set_description("turbine-aaaa", status="CREATE_COMPLETE")
    tagged["Tags"] = [
        {"Key": "turbine.dev/owner-uid", "Value": OWNER_UID},
        {"Key": "turbine.dev/managed-by", "Value": "turbine-operator"},
    ]
    cf_stub.add_response(
        "describe_change_set", tagged, {"StackName": STACK_ID, "ChangeSetName": "turbine-aaaa"}
    )

    assert gateway.change_set_tags(STACK_ID, "turbine-") == {
        "turbine.dev/owner-uid": OWNER_UID,
        "turbine.dev/managed-by": "turbine-operator",
    }
    cf_stub.verify()
    assert calls == ["ListChangeSets", "ListChangeSets", "DescribeChangeSet"]


@pytest.mark.parametrize("names", [[], ["manual-review", "review-turbine-0123"]])
def test_change_set_tags_without_a_change_set_with_the_prefix_are_empty(
    gateway: StackGateway, cf_stub: RecordingStubber, calls: list[str], names: list[str]
) -> None:
    cf_stub.add_response(
        "list_change_sets",
        {"Summaries": [change_set_summary(name) for name in names]},
        {"StackName": STACK_ID},
    )

    assert gateway.change_set_tags(STACK_ID, "turbine-") == {}
    cf_stub.verify()
    assert calls == ["ListChangeSets"]


def test_change_set_tags_of_an_untagged_change_set_are_empty(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    cf_stub.add_response(
        "list_change_sets", {"Summaries": [change_set_summary(CHANGE_SET)]}, {"StackName": STACK_ID}
    )
    cf_stub.add_response(
        "describe_change_set",
        change_set_description(CHANGE_SET),
        {"StackName": STACK_ID, "ChangeSetName": CHANGE_SET},
    )

    assert gateway.change_set_tags(STACK_ID, "turbine-") == {}
    cf_stub.verify()


def test_execute_change_set_carries_the_request_token(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    cf_stub.add_response(
        "execute_change_set",
        {},
        {"StackName": STACK_NAME, "ChangeSetName": CHANGE_SET, "ClientRequestToken": "turbine-execute-abc"},
    )

    gateway.execute_change_set(STACK_NAME, CHANGE_SET, "turbine-execute-abc")
    cf_stub.verify()


@pytest.mark.parametrize("role", [None, SERVICE_ROLE])
def test_continue_update_rollback_carries_the_token_and_the_role_only_when_set(
    gateway: StackGateway, cf_stub: RecordingStubber, role: str | None
) -> None:
    expected: dict[str, Any] = {"StackName": STACK_NAME, "ClientRequestToken": "turbine-continue-abc"}
    if role:
        expected["RoleARN"] = role
    cf_stub.add_response("continue_update_rollback", {}, expected)

    gateway.continue_update_rollback(STACK_NAME, "turbine-continue-abc", role)
    cf_stub.verify()


@pytest.mark.parametrize("role", [None, SERVICE_ROLE])
def test_delete_stack_carries_the_token_and_the_role_only_when_set(
    gateway: StackGateway, cf_stub: RecordingStubber, role: str | None
) -> None:
    expected: dict[str, Any] = {"StackName": STACK_ID, "ClientRequestToken": "turbine-delete-abc"}
    if role:
        expected["RoleARN"] = role
    cf_stub.add_response("delete_stack", {}, expected)

    gateway.delete_stack(STACK_ID, "turbine-delete-abc", role)
    cf_stub.verify()


def test_set_termination_protection(gateway: StackGateway, cf_stub: RecordingStubber) -> None:
    cf_stub.add_response(
        "update_termination_protection",
        {"StackId": STACK_ID},
        {"StackName": STACK_ID, "EnableTerminationProtection": False},
    )

    gateway.set_termination_protection(STACK_ID, enabled=False)
    cf_stub.verify()


# Stack events: the first failure of the latest operation


def _events_page(events: list[dict[str, Any]], next_token: str | None = None) -> Mapping[str, Any]:
    page: dict[str, Any] = {"StackEvents": newest_first(events)}
    if next_token:
        page["NextToken"] = next_token
    return page


def _failed_create_events() -> list[dict[str, Any]]:
    """A create that failed on TaskQueue; CloudFormation then cancelled Alerts and rolled back."""
    return [
        stack_level_event("CREATE_IN_PROGRESS", "User Initiated", minute=0),
        stack_event("TaskQueue", QUEUE, "CREATE_IN_PROGRESS", minute=1),
        stack_event("Alerts", TOPIC, "CREATE_IN_PROGRESS", minute=1),
        stack_event(
            "TaskQueue",
            QUEUE,
            "CREATE_FAILED",
            'Resource handler returned message: "Queue name cannot be empty (Service: Sqs, '
            'Status Code: 400)"',
            minute=2,
        ),
        stack_event("Alerts", TOPIC, "CREATE_FAILED", "Resource creation cancelled", minute=3),
        stack_level_event(
            "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [TaskQueue, Alerts]. Rollback requested by user.",
            minute=3,
        ),
        stack_event("Alerts", TOPIC, "DELETE_FAILED", "Resource update cancelled", minute=4),
        stack_event("TaskQueue", QUEUE, "DELETE_COMPLETE", minute=4),
        stack_level_event("ROLLBACK_COMPLETE", minute=5),
    ]


def test_first_failure_is_the_oldest_root_failure(gateway: StackGateway, cf_stub: RecordingStubber) -> None:
    cf_stub.add_response(
        "describe_stack_events", _events_page(_failed_create_events()), {"StackName": STACK_ID}
    )

    assert gateway.latest_operation(STACK_ID).first_failure == (
        "TaskQueue (AWS::SQS::Queue): Resource handler returned message: "
        '"Queue name cannot be empty (Service: Sqs, Status Code: 400)"'
    )
    cf_stub.verify()


def test_first_failure_stops_paging_at_the_start_of_the_latest_operation(
    gateway: StackGateway, cf_stub: RecordingStubber, calls: list[str]
) -> None:
    # A NextToken is present, but the page already holds the "User Initiated" event: page 2 is never read.
    cf_stub.add_response("describe_stack_events", _events_page(_failed_create_events(), next_token="older"))

    assert gateway.latest_operation(STACK_ID).first_failure is not None
    cf_stub.verify()
    assert calls == ["DescribeStackEvents"]


def test_first_failure_reads_older_pages_until_the_operation_start(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    events = _failed_create_events()
    newer, older = events[3:], events[:3]
    cf_stub.add_response("describe_stack_events", _events_page(newer, "t2"), {"StackName": STACK_ID})
    cf_stub.add_response(
        "describe_stack_events", _events_page(older), {"StackName": STACK_ID, "NextToken": "t2"}
    )

    assert str(gateway.latest_operation(STACK_ID).first_failure).startswith(
        "TaskQueue (AWS::SQS::Queue): Resource handler"
    )
    cf_stub.verify()


def test_first_failure_gives_up_after_five_pages(
    gateway: StackGateway, cf_stub: RecordingStubber, calls: list[str]
) -> None:
    for page in range(5):
        events = [stack_event("TaskQueue", QUEUE, "UPDATE_IN_PROGRESS", minute=100 - page)]
        cf_stub.add_response("describe_stack_events", _events_page(events, next_token=f"t{page + 1}"))

    assert gateway.latest_operation(STACK_ID).first_failure is None
    cf_stub.verify()
    assert calls == ["DescribeStackEvents"] * 5


def test_first_failure_without_failures_is_none(gateway: StackGateway, cf_stub: RecordingStubber) -> None:
    events = [
        stack_level_event("UPDATE_IN_PROGRESS", "User Initiated", minute=0),
        stack_event("TaskQueue", QUEUE, "UPDATE_COMPLETE", minute=1),
        stack_level_event("UPDATE_COMPLETE", minute=2),
    ]
    cf_stub.add_response("describe_stack_events", _events_page(events))

    assert gateway.latest_operation(STACK_ID).first_failure is None
    cf_stub.verify()


def test_first_failure_ignores_older_operations_on_the_same_page(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    # The stack's whole history fits one page (up to 100 events): an earlier failed update, then the
    # latest one, which failed on a different resource.
    history = [
        stack_level_event("UPDATE_IN_PROGRESS", "User Initiated", minute=0),
        stack_event("Alerts", TOPIC, "UPDATE_FAILED", "Topic policy is invalid (Service: Sns)", minute=1),
        stack_level_event("UPDATE_ROLLBACK_COMPLETE", minute=2),
        stack_level_event("UPDATE_IN_PROGRESS", "User Initiated", minute=10),
        stack_event(
            "TaskQueue", QUEUE, "UPDATE_FAILED", "Queue name already exists (Service: Sqs)", minute=11
        ),
        stack_level_event("UPDATE_ROLLBACK_COMPLETE", minute=12),
    ]
    cf_stub.add_response("describe_stack_events", _events_page(history))

    assert (
        gateway.latest_operation(STACK_ID).first_failure
        == "TaskQueue (AWS::SQS::Queue): Queue name already exists (Service: Sqs)"
    )
    cf_stub.verify()


def test_latest_operation_carries_the_token_of_the_request_that_started_it(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    history = [
        stack_level_event("UPDATE_IN_PROGRESS", "User Initiated", minute=0, token="turbine-x-earlier"),
        stack_level_event("UPDATE_COMPLETE", minute=1, token="turbine-x-earlier"),
        stack_level_event("UPDATE_IN_PROGRESS", "User Initiated", minute=10, token="turbine-x-latest"),
        stack_event("TaskQueue", QUEUE, "UPDATE_FAILED", "Queue name already exists", minute=11),
        stack_level_event("UPDATE_ROLLBACK_COMPLETE", minute=12, token="turbine-x-latest"),
    ]
    cf_stub.add_response("describe_stack_events", _events_page(history))

    assert gateway.latest_operation(STACK_ID).token == "turbine-x-latest"
    cf_stub.verify()


def test_failed_resources_lists_every_failed_resource(
    gateway: StackGateway, cf_stub: RecordingStubber
) -> None:
    cf_stub.add_response(
        "list_stack_resources",
        {
            "StackResourceSummaries": [
                resource_summary(
                    "LogsBucket", "DELETE_FAILED", "The bucket you tried to delete is not empty"
                ),
                resource_summary("TaskQueue", "DELETE_COMPLETE"),
            ],
            "NextToken": "t2",
        },
        {"StackName": STACK_ID},
    )
    cf_stub.add_response(
        "list_stack_resources",
        {"StackResourceSummaries": [resource_summary("DagsBucket", "DELETE_FAILED")]},
        {"StackName": STACK_ID, "NextToken": "t2"},
    )

    assert gateway.failed_resources(STACK_ID) == [
        "LogsBucket: The bucket you tried to delete is not empty",
        "DagsBucket: DELETE_FAILED",
    ]
    cf_stub.verify()


USER_TEMPLATE = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n"


def test_upload_bundle_has_cloudformation_check_a_user_template_before_uploading(
    gateway: StackGateway,
    cf_stub: RecordingStubber,
    s3_stub: RecordingStubber,
    make_desired: MakeDesired,
    calls: list[str],
) -> None:
    desired = make_desired(additionalTemplates=[{"name": "Dags", "template": {"inline": USER_TEMPLATE}}])
    s3_stub.add_response("list_objects_v2", _listing([]), {"Bucket": BUCKET, "Prefix": desired.key_prefix})
    cf_stub.add_client_error(
        "validate_template",
        "ValidationError",
        "Template format error: Unrecognized resource types: [AWS::SNS::Topik]",
        expected_params={"TemplateBody": USER_TEMPLATE},
    )

    with pytest.raises(AwsValidationError) as caught:
        gateway.upload_bundle(desired)

    assert calls == ["ListObjectsV2", "ValidateTemplate"]
    assert caught.value.operation == "ValidateTemplate"
    assert caught.value.message.startswith(
        "spec.additionalTemplates[Dags].template is refused by CloudFormation: Template format error"
    )


def test_upload_bundle_checks_only_user_templates_not_yet_uploaded(
    gateway: StackGateway,
    cf_stub: RecordingStubber,
    s3_stub: RecordingStubber,
    make_desired: MakeDesired,
    calls: list[str],
) -> None:
    desired = make_desired(additionalTemplates=[{"name": "Dags", "template": {"inline": USER_TEMPLATE}}])
    present = [desired.key_prefix + key for key in desired.bundle.files]
    s3_stub.add_response(
        "list_objects_v2", _listing(present), {"Bucket": BUCKET, "Prefix": desired.key_prefix}
    )

    assert gateway.upload_bundle(desired) == 0
    assert calls == ["ListObjectsV2"]


# ListStacks: the fleet listing


def test_live_stacks_are_listed_by_id_across_pages_without_deleted_ones(
    sessions: AwsSessions, cf_stub: RecordingStubber
) -> None:
    def summary(name: str, status: str, **times: datetime.datetime) -> dict[str, object]:
        return {
            "StackId": f"arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/1",
            "StackName": name,
            "CreationTime": CREATED,
            "StackStatus": status,
            **times,
        }

    live = list(LIVE_STATUSES)
    cf_stub.add_response(
        "list_stacks",
        {"StackSummaries": [summary("a", "CREATE_COMPLETE")], "NextToken": "page-2"},
        {"StackStatusFilter": live},
    )
    later = CREATED + datetime.timedelta(hours=1)
    cf_stub.add_response(
        "list_stacks",
        {"StackSummaries": [summary("b", "UPDATE_COMPLETE", LastUpdatedTime=later)]},
        {"StackStatusFilter": live, "NextToken": "page-2"},
    )

    listed = live_stacks(sessions, REGION, None)

    cf_stub.verify()
    assert "DELETE_COMPLETE" not in live  # deleted stacks stay listed for 90 days: not asked for
    assert [(s.status, s.last_updated) for s in listed.values()] == [
        ("CREATE_COMPLETE", "2025-03-01T09:30:00Z"),  # never updated: its creation time
        ("UPDATE_COMPLETE", "2025-03-01T10:30:00Z"),
    ]
    assert list(listed) == [
        "arn:aws:cloudformation:us-east-1:123456789012:stack/a/1",
        "arn:aws:cloudformation:us-east-1:123456789012:stack/b/1",
    ]
