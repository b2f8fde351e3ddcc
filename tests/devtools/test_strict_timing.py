"""Operations take time, their IN_PROGRESS states are visible, and a busy stack refuses another one.

https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/stack-resource-configuration-complete.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteChangeSet.html
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.strict.strict_state import REALISTIC_CHANGE_SET_SECONDS, StrictState

from .helpers import eventually
from .templates import queue_template


def _stack(aws: EmbeddedAws, name: str) -> dict[str, object]:
    stack: dict[str, object] = aws.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    return stack


def _settled(aws: EmbeddedAws, name: str) -> str | None:
    status = str(_stack(aws, name)["StackStatus"])
    return None if status.endswith("_IN_PROGRESS") else status


def test_create_update_delete_show_their_in_progress_states(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName="life", TemplateBody=queue_template())
    creating = _stack(strict_aws, "life")
    assert creating["StackStatus"] == "CREATE_IN_PROGRESS"
    assert not creating.get("Outputs")
    assert eventually(lambda: _settled(strict_aws, "life")) == "CREATE_COMPLETE"

    cloudformation.update_stack(StackName="life", TemplateBody=queue_template("two"))
    updating = _stack(strict_aws, "life")
    assert updating["StackStatus"] == "UPDATE_IN_PROGRESS"
    assert updating["Outputs"] == [{"OutputKey": "Marker", "OutputValue": "one"}]
    with pytest.raises(ClientError, match="is in UPDATE_IN_PROGRESS state and can not be updated"):
        cloudformation.update_stack(StackName="life", TemplateBody=queue_template("three"))
    with pytest.raises(ClientError, match="cannot be deleted while in status UPDATE_IN_PROGRESS"):
        cloudformation.delete_stack(StackName="life")
    seen = {str(_stack(strict_aws, "life")["StackStatus"])}
    while (status := str(_stack(strict_aws, "life")["StackStatus"])).endswith("_IN_PROGRESS"):
        seen.add(status)
    assert "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS" in seen
    assert status == "UPDATE_COMPLETE"

    cloudformation.delete_stack(StackName="life")
    assert _stack(strict_aws, "life")["StackStatus"] == "DELETE_IN_PROGRESS"
    with pytest.raises(ClientError) as exists:
        cloudformation.create_stack(StackName="life", TemplateBody=queue_template())
    assert exists.value.response["Error"]["Code"] == "AlreadyExistsException"

    def gone() -> bool | None:
        try:
            _stack(strict_aws, "life")
        except ClientError as error:
            return "does not exist" in str(error) or None
        return None

    assert eventually(gone)


def test_change_set_creation_takes_time_and_cannot_be_executed_meanwhile(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_change_set(
        StackName="slow", ChangeSetName="cs", TemplateBody=queue_template(), ChangeSetType="CREATE"
    )
    first = cloudformation.describe_change_set(StackName="slow", ChangeSetName="cs")
    assert first["Status"] in ("CREATE_PENDING", "CREATE_IN_PROGRESS")
    assert first["ExecutionStatus"] == "UNAVAILABLE"
    with pytest.raises(ClientError) as refused:
        cloudformation.execute_change_set(StackName="slow", ChangeSetName="cs")
    assert refused.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    seen = set()
    while (status := cloudformation.describe_change_set(StackName="slow", ChangeSetName="cs")["Status"]) != (
        "CREATE_COMPLETE"
    ):
        seen.add(status)
    assert "CREATE_IN_PROGRESS" in seen
    assert _stack(strict_aws, "slow")["StackStatus"] == "REVIEW_IN_PROGRESS"
    cloudformation.execute_change_set(StackName="slow", ChangeSetName="cs")
    assert _stack(strict_aws, "slow")["StackStatus"] == "CREATE_IN_PROGRESS"
    with pytest.raises(ClientError) as busy:
        cloudformation.delete_change_set(StackName="slow", ChangeSetName="cs")
    assert busy.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    assert eventually(lambda: _settled(strict_aws, "slow")) == "CREATE_COMPLETE"


def test_change_set_deletion_is_asynchronous_and_keeps_the_name_taken(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    strict_aws.configure(change_set_seconds=0.1)
    cloudformation.create_change_set(
        StackName="async", ChangeSetName="cs", TemplateBody=queue_template(), ChangeSetType="CREATE"
    )
    eventually(
        lambda: (
            cloudformation.describe_change_set(StackName="async", ChangeSetName="cs")["Status"]
            == "CREATE_COMPLETE"
            or None
        )
    )
    cloudformation.delete_change_set(StackName="async", ChangeSetName="cs")
    assert cloudformation.describe_change_set(StackName="async", ChangeSetName="cs")["Status"] in (
        "DELETE_PENDING",
        "DELETE_IN_PROGRESS",
    )
    [listed] = cloudformation.list_change_sets(StackName="async")["Summaries"]
    assert listed["Status"] in ("DELETE_PENDING", "DELETE_IN_PROGRESS")
    with pytest.raises(ClientError) as taken:
        cloudformation.create_change_set(
            StackName="async", ChangeSetName="cs", TemplateBody=queue_template(), ChangeSetType="CREATE"
        )
    assert taken.value.response["Error"]["Code"] == "AlreadyExistsException"

    def deleted() -> bool | None:
        try:
            cloudformation.describe_change_set(StackName="async", ChangeSetName="cs")
        except ClientError as error:
            return error.response["Error"]["Code"] == "ChangeSetNotFound" or None
        return None

    assert eventually(deleted)
    cloudformation.create_change_set(
        StackName="async", ChangeSetName="cs", TemplateBody=queue_template(), ChangeSetType="CREATE"
    )


def test_a_create_change_set_never_makes_a_second_stack_of_the_same_name(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    for name in ("one", "two"):
        cloudformation.create_change_set(
            StackName="single", ChangeSetName=name, TemplateBody=queue_template(), ChangeSetType="CREATE"
        )
    stacks = [s for s in cloudformation.list_stacks()["StackSummaries"] if s["StackName"] == "single"]
    assert len(stacks) == 1
    assert len(cloudformation.list_change_sets(StackName="single")["Summaries"]) == 2


def test_nested_stacks_show_their_operation(strict_aws: EmbeddedAws) -> None:
    s3 = strict_aws.client("s3")
    bucket = f"nested-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="child.json", Body=queue_template().encode())
    parent = json.dumps(
        {
            "Resources": {
                "Child": {
                    "Type": "AWS::CloudFormation::Stack",
                    "Properties": {"TemplateURL": f"https://{bucket}.s3.amazonaws.com/child.json"},
                }
            }
        }
    )
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName="parent", TemplateBody=parent)
    statuses = {s["StackName"]: s["StackStatus"] for s in cloudformation.describe_stacks()["Stacks"]}
    assert set(statuses.values()) == {"CREATE_IN_PROGRESS"}
    assert len(statuses) == 2
    eventually(lambda: _settled(strict_aws, "parent"))
    statuses = {s["StackName"]: s["StackStatus"] for s in cloudformation.describe_stacks()["Stacks"]}
    assert set(statuses.values()) == {"CREATE_COMPLETE"}


def test_drift_detection_needs_several_polls(strict_aws: EmbeddedAws) -> None:
    strict_aws.configure(operation_seconds=0.1, drift_polls=3)
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName="drift", TemplateBody=queue_template())
    eventually(lambda: _settled(strict_aws, "drift"))
    detection = cloudformation.detect_stack_drift(StackName="drift")["StackDriftDetectionId"]
    polls = [
        cloudformation.describe_stack_drift_detection_status(StackDriftDetectionId=detection)[
            "DetectionStatus"
        ]
        for _ in range(3)
    ]
    assert polls == ["DETECTION_IN_PROGRESS", "DETECTION_IN_PROGRESS", "DETECTION_COMPLETE"]


def test_drift_detection_can_take_a_time_instead(strict_aws: EmbeddedAws) -> None:
    strict_aws.configure(operation_seconds=0.1, drift_seconds=1.5)
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName="slow-drift", TemplateBody=queue_template())
    eventually(lambda: _settled(strict_aws, "slow-drift"))
    detection = cloudformation.detect_stack_drift(StackName="slow-drift")["StackDriftDetectionId"]

    def status() -> str:
        reply = cloudformation.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
        return str(reply["DetectionStatus"])

    assert [status() for _ in range(5)] == ["DETECTION_IN_PROGRESS"] * 5  # polls alone do not end it
    time.sleep(1.6)
    assert status() == "DETECTION_COMPLETE"


def test_an_updated_stack_carries_its_last_updated_time(strict_aws: EmbeddedAws) -> None:
    strict_aws.configure(operation_seconds=0.1)
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName="touched", TemplateBody=queue_template())
    eventually(lambda: _settled(strict_aws, "touched"))

    def listed() -> dict[str, Any]:
        return next(s for s in cloudformation.list_stacks()["StackSummaries"] if s["StackName"] == "touched")

    assert "LastUpdatedTime" not in _stack(strict_aws, "touched")  # AWS: only once updated
    assert "LastUpdatedTime" not in listed()
    cloudformation.update_stack(StackName="touched", TemplateBody=queue_template("two"))
    eventually(lambda: _settled(strict_aws, "touched"))
    stack: dict[str, Any] = _stack(strict_aws, "touched")
    updated = stack["LastUpdatedTime"]
    assert updated > stack["CreationTime"]
    assert listed()["LastUpdatedTime"] == updated


def test_a_new_stack_is_briefly_invisible(strict_aws: EmbeddedAws) -> None:
    strict_aws.configure(consistency_seconds=30)
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName="fresh", TemplateBody=queue_template())
    with pytest.raises(ClientError, match="Stack with id fresh does not exist"):
        cloudformation.describe_stacks(StackName="fresh")
    strict_aws.configure(consistency_seconds=0)
    assert _stack(strict_aws, "fresh")["StackName"] == "fresh"


def test_a_change_set_of_new_stack_tags_only_is_executable_and_sets_them(strict_aws: EmbeddedAws) -> None:
    # New stack tags are an update (API_CreateChangeSet and API_UpdateStack, Tags); moto marked it FAILED.
    cloudformation = strict_aws.client("cloudformation")
    strict_aws.configure(change_set_seconds=0.1, operation_seconds=0.1)
    cloudformation.create_stack(
        StackName="tagged", TemplateBody=queue_template(), Tags=[{"Key": "a", "Value": "1"}]
    )
    eventually(lambda: _settled(strict_aws, "tagged"))
    same = {"StackName": "tagged", "TemplateBody": queue_template(), "ChangeSetType": "UPDATE"}
    cloudformation.create_change_set(ChangeSetName="same", Tags=[{"Key": "a", "Value": "1"}], **same)
    retagged = [{"Key": "a", "Value": "2"}, {"Key": "b", "Value": "3"}]
    cloudformation.create_change_set(ChangeSetName="retag", Tags=retagged, **same)

    def described(name: str) -> Any:
        found = cloudformation.describe_change_set(StackName="tagged", ChangeSetName=name)
        return None if found["Status"] in ("CREATE_PENDING", "CREATE_IN_PROGRESS") else found

    same_one = eventually(lambda: described("same"))
    assert same_one["Status"] == "FAILED"
    assert "didn't contain changes" in same_one["StatusReason"]
    retag = eventually(lambda: described("retag"))
    assert (retag["Status"], retag["ExecutionStatus"], retag["Changes"]) == (
        "CREATE_COMPLETE",
        "AVAILABLE",
        [],
    )
    cloudformation.execute_change_set(StackName="tagged", ChangeSetName="retag")
    assert eventually(lambda: _settled(strict_aws, "tagged")) == "UPDATE_COMPLETE"
    tags = cloudformation.describe_stacks(StackName="tagged")["Stacks"][0]["Tags"]
    assert {tag["Key"]: tag["Value"] for tag in tags} == {"a": "2", "b": "3"}


def test_other_change_sets_are_obsolete_once_one_executes(strict_aws: EmbeddedAws) -> None:
    # API_DescribeChangeSet: OBSOLETE "because the stack was already updated"; API_ExecuteChangeSet deletes
    # the stack's other change sets.
    cloudformation = strict_aws.client("cloudformation")
    strict_aws.configure(change_set_seconds=0.1)
    cloudformation.create_stack(StackName="obs", TemplateBody=queue_template())
    eventually(lambda: _settled(strict_aws, "obs"))
    for name, marker in (("first", "two"), ("second", "three")):
        cloudformation.create_change_set(
            StackName="obs", ChangeSetName=name, TemplateBody=queue_template(marker), ChangeSetType="UPDATE"
        )

    def execution(name: str) -> str:
        return str(cloudformation.describe_change_set(StackName="obs", ChangeSetName=name)["ExecutionStatus"])

    eventually(lambda: execution("second") == "AVAILABLE" or None)
    eventually(lambda: execution("first") == "AVAILABLE" or None)
    cloudformation.execute_change_set(StackName="obs", ChangeSetName="first")

    assert execution("second") == "OBSOLETE"
    with pytest.raises(ClientError) as refused:
        cloudformation.execute_change_set(StackName="obs", ChangeSetName="second")
    assert refused.value.response["Error"]["Code"] == "InvalidChangeSetStatus"
    assert eventually(lambda: _settled(strict_aws, "obs")) == "UPDATE_COMPLETE"
    names = [item["ChangeSetName"] for item in cloudformation.list_change_sets(StackName="obs")["Summaries"]]
    assert names == ["first"]
    assert execution("first") == "EXECUTE_COMPLETE"


def test_a_new_change_set_is_not_found_while_describe_lags(strict_aws: EmbeddedAws) -> None:
    cloudformation = strict_aws.client("cloudformation")
    strict_aws.configure(describe_change_set_lag_seconds=1.5, change_set_seconds=0.1)
    request = {"StackName": "lag", "TemplateBody": queue_template(), "ChangeSetType": "CREATE"}
    cloudformation.create_change_set(ChangeSetName="cs", **request)
    with pytest.raises(ClientError) as missing:
        cloudformation.describe_change_set(StackName="lag", ChangeSetName="cs")
    assert missing.value.response["Error"]["Code"] == "ChangeSetNotFound"
    with pytest.raises(ClientError) as taken:  # yet it exists: its name is taken
        cloudformation.create_change_set(ChangeSetName="cs", **request)
    assert taken.value.response["Error"]["Code"] == "AlreadyExistsException"
    found = eventually(lambda: _described(cloudformation, "lag", "cs"))
    assert found["ChangeSetName"] == "cs"
    strict_aws.configure(describe_change_set_lag_seconds=0.0)


def test_realistic_change_set_durations_are_drawn_and_compressed() -> None:
    # Nested change sets take tens of seconds to minutes; a factor of 0.01 keeps their spread, shorter.
    state = StrictState()
    state.configure({"realistic_time_factor": 0.01, "fault_seed": 3})
    median, _, shortest, longest = REALISTIC_CHANGE_SET_SECONDS[True]
    drawn = sorted(state.change_set_seconds(nested=True) for _ in range(201))
    assert shortest * 0.01 <= drawn[0] < drawn[-1] <= longest * 0.01
    assert median * 0.005 < drawn[100] < median * 0.02
    flat = [state.change_set_seconds(nested=False) for _ in range(201)]
    assert sorted(flat)[100] < drawn[100]
    state.configure({"realistic_time_factor": 0.0})
    assert state.change_set_seconds(nested=True) == state.settings.change_set_seconds


def _described(cloudformation: Any, stack: str, name: str) -> Any:
    try:
        return cloudformation.describe_change_set(StackName=stack, ChangeSetName=name)
    except ClientError:
        return None
