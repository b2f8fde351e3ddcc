"""What users and tools see: verdicts, events, the pending change set, and the kstatus result.

kstatus (Flux `wait`/healthChecks) and ArgoCD read only the status stanza, so the contract is
checked end to end: planner action -> verdict -> status_patch -> kstatus/ArgoCD result.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from typing import Any

import pytest

from turbine_operator.core.api.conditions import Health, Verdict, progressing, stalled
from turbine_operator.core.observed.observations import ObservedChangeSet, ObservedStack, ResourceChange
from turbine_operator.core.plan import planning
from turbine_operator.core.report.reporting import (
    MAX_LISTED_CHANGES,
    Announcement,
    announcement_for,
    change_summary,
    failure_announcement,
    outage_announcement,
    pending_change_set,
    reconcile_announcement,
    verdict_for,
)
from turbine_operator.core.report.status import StatusFacts, status_patch
from turbine_operator.operations.fleet.status_effects import merged_status

STACK = "airflow-prod"
NAME = "turbine-0123456789abcdef01234567"
EARLIER = "2024-05-01T10:00:00Z"
NOW = "2024-05-01T12:00:00Z"
REASON = re.compile(r"[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?")


def change_set(*changes: ResourceChange, created_at: str | None = None) -> ObservedChangeSet:
    return ObservedChangeSet(
        name=NAME,
        status="CREATE_COMPLETE",
        execution_status="AVAILABLE",
        status_reason=None,
        changes=changes,
        created_at=created_at,
    )


ADD = ResourceChange("Add", "Scheduler", "AWS::EC2::Instance")
MODIFY = ResourceChange("Modify", "TaskQueue", "AWS::SQS::Queue", "False")
REPLACE = ResourceChange("Modify", "Workers", "AWS::AutoScaling::LaunchConfiguration", "True")
CONDITIONAL = ResourceChange("Modify", "Webserver", "AWS::EC2::Instance", "Conditional")
REMOVE = ResourceChange("Remove", "OldQueue", "AWS::SQS::Queue")
CHANGES = change_set(ADD, MODIFY, REPLACE)


# --- change_summary and pending_change_set ----------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "summary"),
    [
        ((), "no resource changes"),
        ((ADD,), "1 to add"),
        ((ADD, ADD, MODIFY), "2 to add, 1 to modify"),
        ((REMOVE, MODIFY, ADD), "1 to add, 1 to modify, 1 to remove"),
        ((MODIFY, REPLACE), "2 to modify (1 replaced)"),
        # Conditional replacement is not a certain replacement.
        ((CONDITIONAL,), "1 to modify"),
        ((ResourceChange("Import", "Bucket", "AWS::S3::Bucket"),), "1 to import"),
        ((ResourceChange("Dynamic", "Nested", "AWS::CloudFormation::Stack"),), "1 dynamic"),
    ],
)
def test_change_summary(changes: tuple[ResourceChange, ...], summary: str) -> None:
    assert change_summary(change_set(*changes)) == summary


def test_pending_change_set_lists_the_changes() -> None:
    assert pending_change_set(change_set(ADD, REPLACE, created_at=EARLIER)) == {
        "name": NAME,
        "summary": "1 to add, 1 to modify (1 replaced)",
        "createdAt": EARLIER,
        "changes": [
            {"action": "Add", "logicalResourceId": "Scheduler", "resourceType": "AWS::EC2::Instance"},
            {
                "action": "Modify",
                "logicalResourceId": "Workers",
                "resourceType": "AWS::AutoScaling::LaunchConfiguration",
                "replacement": "True",
            },
        ],
    }


def test_pending_change_set_without_creation_time_omits_it() -> None:
    assert "createdAt" not in pending_change_set(change_set(ADD))


def test_pending_change_set_lists_at_most_the_crd_limit_but_summarises_all() -> None:
    many = change_set(*[ResourceChange("Add", f"R{index}", "AWS::SQS::Queue") for index in range(150)])
    pending = pending_change_set(many)
    assert len(pending["changes"]) == MAX_LISTED_CHANGES == 100
    assert pending["summary"] == "150 to add"


# --- every action the planner can produce ------------------------------------------------------

OBSERVED = ObservedStack("arn:stack", STACK, "UPDATE_COMPLETE", None, {}, {}, False)

# One example of each action type, and one stall per reason.
ACTIONS: dict[str, planning.Action] = {
    "StartChangeSet": planning.StartChangeSet(NAME, planning.ChangeSetKind.CREATE),
    "DiscardChangeSet": planning.DiscardChangeSet(NAME),
    "WaitForChangeSet": planning.WaitForChangeSet(NAME),
    "ExecuteChangeSet": planning.ExecuteChangeSet(CHANGES),
    "AwaitApproval": planning.AwaitApproval(CHANGES),
    "WaitForUpdateSlot": planning.WaitForUpdateSlot(CHANGES),
    "AcceptEmptyChangeSet": planning.AcceptEmptyChangeSet(NAME),
    "WaitForStack": planning.WaitForStack("UPDATE_IN_PROGRESS"),
    "WaitForStack-foreign": planning.WaitForStack("DELETE_IN_PROGRESS", foreign=True),
    "ContinueRollback": planning.ContinueRollback(),
    "SetTerminationProtection-on": planning.SetTerminationProtection(True),
    "SetTerminationProtection-off": planning.SetTerminationProtection(False),
    "InSync": planning.InSync(),
    **{
        f"Stall-{reason.value}": planning.Stall(reason, f"{reason.value} happened")
        for reason in planning.StallReason
    },
}

# Verdicts the reconciler builds itself, outside the planner (operations/stack/reconcile.py).
OTHER_VERDICTS: dict[str, Verdict] = {
    "InvalidSpec": stalled("InvalidSpec", "spec.workers.minSize: must not exceed spec.workers.maxSize"),
    "AwsRequestRejected": stalled("AwsRequestRejected", "CreateChangeSet: ValidationError: bad"),
    "Retrying": progressing("Retrying", "AWS is unavailable or throttling; retrying"),
}

IN_FLIGHT = {
    planning.StartChangeSet,
    planning.WaitForUpdateSlot,
    planning.DiscardChangeSet,
    planning.WaitForChangeSet,
    planning.ExecuteChangeSet,
    planning.WaitForStack,
    planning.ContinueRollback,
}
SETTLED = {planning.InSync, planning.AcceptEmptyChangeSet, planning.SetTerminationProtection}


def test_the_catalogue_covers_every_action_type() -> None:
    assert {type(action) for action in ACTIONS.values()} == set(typing.get_args(planning.Action))
    assert IN_FLIGHT | SETTLED | {planning.AwaitApproval, planning.Stall} == set(
        typing.get_args(planning.Action)
    )


def intended_kstatus(action: planning.Action) -> str:
    """The result each action should produce for kstatus (operator-peers.md 4.3)."""
    if type(action) in SETTLED:
        return "Current"
    if isinstance(action, planning.Stall):
        return "Failed"
    # In flight, or waiting for a human's approval: not done, not failed.
    return "InProgress"


def kstatus(resource: Mapping[str, Any]) -> str:
    """kstatus.Compute for a custom resource (cli-utils pkg/kstatus/status, operator-peers.md 4.1)."""
    metadata, status = resource.get("metadata", {}), resource.get("status", {})
    if metadata.get("deletionTimestamp"):
        return "Terminating"
    generation, observed = metadata.get("generation"), status.get("observedGeneration")
    if generation is not None and observed is not None and generation != observed:
        return "InProgress"
    conditions = {item["type"]: item["status"] for item in status.get("conditions") or []}
    if conditions.get("Reconciling") == "True":
        return "InProgress"
    if conditions.get("Stalled") == "True":
        return "Failed"
    if "Ready" in conditions:
        return "Current" if conditions["Ready"] == "True" else "InProgress"
    return "Current"


def argocd_health(resource: Mapping[str, Any]) -> str:
    """The kstatus-shaped ArgoCD health script (pulumi.com/Stack, operator-peers.md 4.2)."""
    metadata, status = resource.get("metadata", {}), resource.get("status", {})
    if status.get("observedGeneration") != metadata.get("generation"):
        return "Progressing"
    conditions = {item["type"]: item["status"] for item in status.get("conditions") or []}
    if conditions.get("Stalled") == "True":
        return "Degraded"
    if conditions.get("Reconciling") == "True":
        return "Progressing"
    if conditions.get("Ready") == "True":
        return "Healthy"
    return "Progressing"


def condition(kind: str, status: str, reason: str) -> dict[str, Any]:
    return {"type": kind, "status": status, "lastTransitionTime": EARLIER, "reason": reason, "message": ""}


PREVIOUS_STATUSES: dict[str, dict[str, Any]] = {
    "new": {},
    "ready": {"observedGeneration": 2, "conditions": [condition("Ready", "True", "StackReady")]},
    "reconciling": {
        "observedGeneration": 2,
        "conditions": [condition("Ready", "False", "X"), condition("Reconciling", "True", "X")],
    },
    "stalled": {
        "observedGeneration": 2,
        "conditions": [condition("Ready", "False", "Y"), condition("Stalled", "True", "Y")],
    },
}


def written_resource(previous: dict[str, Any], verdict: Verdict, generation: int = 3) -> dict[str, Any]:
    facts = StatusFacts(generation=generation, now=NOW, stack_name=STACK, region="eu-west-1", verdict=verdict)
    return {
        "metadata": {"generation": generation},
        "status": merged_status(previous, status_patch(previous, facts)),
    }


@pytest.mark.parametrize(
    ("resource", "result"),
    [
        (
            {
                "metadata": {"deletionTimestamp": NOW},
                "status": {"conditions": [condition("Ready", "True", "A")]},
            },
            "Terminating",
        ),
        (
            {
                "metadata": {"generation": 2},
                "status": {"observedGeneration": 1, "conditions": [condition("Ready", "True", "A")]},
            },
            "InProgress",
        ),
        (
            {"metadata": {"generation": 2}, "status": {"conditions": [condition("Ready", "True", "A")]}},
            "Current",
        ),
        (
            {
                "status": {
                    "conditions": [condition("Reconciling", "True", "A"), condition("Stalled", "True", "B")]
                }
            },
            "InProgress",
        ),
        (
            {"status": {"conditions": [condition("Stalled", "True", "B"), condition("Ready", "True", "A")]}},
            "Failed",
        ),
        ({"status": {"conditions": [condition("Ready", "True", "A")]}}, "Current"),
        ({"status": {"conditions": [condition("Ready", "False", "A")]}}, "InProgress"),
        ({"status": {"conditions": [condition("Ready", "Unknown", "A")]}}, "InProgress"),
        ({"status": {}}, "Current"),
    ],
    ids=[
        "terminating",
        "old-generation",
        "no-observed-generation",
        "reconciling",
        "stalled",
        "ready",
        "not-ready",
        "unknown",
        "none",
    ],
)
def test_the_kstatus_model_follows_the_documented_rules(resource: dict[str, Any], result: str) -> None:
    assert kstatus(resource) == result


@pytest.mark.parametrize("previous", PREVIOUS_STATUSES.values(), ids=PREVIOUS_STATUSES.keys())
@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
def test_every_planned_action_reads_as_intended_by_kstatus(
    action: planning.Action, previous: dict[str, Any]
) -> None:
    resource = written_resource(previous, verdict_for(action, STACK))
    assert kstatus(resource) == intended_kstatus(action)


@pytest.mark.parametrize(
    ("verdict", "result"),
    [
        (OTHER_VERDICTS["InvalidSpec"], "Failed"),
        (OTHER_VERDICTS["AwsRequestRejected"], "Failed"),
        (OTHER_VERDICTS["Retrying"], "InProgress"),
    ],
    ids=["InvalidSpec", "AwsRequestRejected", "Retrying"],
)
@pytest.mark.parametrize("previous", PREVIOUS_STATUSES.values(), ids=PREVIOUS_STATUSES.keys())
def test_reconciler_verdicts_read_as_intended_by_kstatus(
    verdict: Verdict, result: str, previous: dict[str, Any]
) -> None:
    assert kstatus(written_resource(previous, verdict)) == result


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
def test_every_planned_action_reads_as_intended_by_argocd(action: planning.Action) -> None:
    expected = {"Current": "Healthy", "InProgress": "Progressing", "Failed": "Degraded"}[
        intended_kstatus(action)
    ]
    assert (
        argocd_health(written_resource(PREVIOUS_STATUSES["stalled"], verdict_for(action, STACK))) == expected
    )


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
def test_written_status_observes_the_generation_and_keeps_abnormal_true_conditions_true(
    action: planning.Action,
) -> None:
    status = written_resource(PREVIOUS_STATUSES["reconciling"], verdict_for(action, STACK))["status"]
    assert status["observedGeneration"] == 3
    conditions = {item["type"]: item for item in status["conditions"]}
    assert conditions["Ready"]["status"] in ("True", "False")
    for kind in ("Reconciling", "Stalled"):
        assert conditions.get(kind, {"status": "True"})["status"] == "True"
    assert all(item["observedGeneration"] == 3 for item in conditions.values())


@pytest.mark.parametrize(
    ("action", "health", "reason"),
    [
        (ACTIONS["InSync"], Health.READY, "StackReady"),
        (ACTIONS["AcceptEmptyChangeSet"], Health.READY, "StackReady"),
        (ACTIONS["SetTerminationProtection-on"], Health.READY, "StackReady"),
        (ACTIONS["StartChangeSet"], Health.PROGRESSING, "ChangeSetCreating"),
        (ACTIONS["DiscardChangeSet"], Health.PROGRESSING, "ChangeSetCreating"),
        (ACTIONS["WaitForChangeSet"], Health.PROGRESSING, "ChangeSetCreating"),
        (ACTIONS["ExecuteChangeSet"], Health.PROGRESSING, "ChangeSetExecuting"),
        (ACTIONS["WaitForStack"], Health.PROGRESSING, "StackOperationInProgress"),
        (ACTIONS["WaitForStack-foreign"], Health.PROGRESSING, "StackOperationInProgress"),
        (ACTIONS["ContinueRollback"], Health.PROGRESSING, "ContinuingUpdateRollback"),
        (ACTIONS["AwaitApproval"], Health.WAITING, "ChangeSetAwaitingApproval"),
        (ACTIONS["WaitForUpdateSlot"], Health.PROGRESSING, "WaitingForUpdateSlot"),
        (ACTIONS["Stall-StackNotOwned"], Health.STALLED, "StackNotOwned"),
        (ACTIONS["Stall-ChangeSetFailed"], Health.STALLED, "ChangeSetFailed"),
    ],
)
def test_verdict_for(action: planning.Action, health: Health, reason: str) -> None:
    verdict = verdict_for(action, STACK)
    assert (verdict.health, verdict.reason) == (health, reason)
    assert verdict.message


def test_await_approval_tells_the_user_what_to_approve() -> None:
    message = verdict_for(ACTIONS["AwaitApproval"], STACK).message
    assert NAME in message
    assert "spec.approvedChangeSet" in message
    assert change_summary(CHANGES) in message


def test_waiting_for_someone_elses_stack_to_go_says_it_is_not_ours() -> None:
    message = verdict_for(ACTIONS["WaitForStack-foreign"], STACK).message
    assert "not this TurbineStack's" in message
    assert "DELETE_IN_PROGRESS" in message


def test_stall_verdict_carries_the_planner_message() -> None:
    assert verdict_for(planning.Stall(planning.StallReason.DELETE_FAILED, "why"), STACK).message == "why"


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
def test_reasons_are_valid_condition_reasons(action: planning.Action) -> None:
    assert REASON.fullmatch(verdict_for(action, STACK).reason)
    announcement = announcement_for(action, STACK)
    if announcement is not None:
        assert REASON.fullmatch(announcement.reason)


@pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
def test_only_stalls_are_warnings(action: planning.Action) -> None:
    announcement = announcement_for(action, STACK)
    assert (announcement is not None and announcement.warning) == isinstance(action, planning.Stall)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (
            ACTIONS["StartChangeSet"],
            Announcement("ChangeSetCreated", f"Created CREATE change set {NAME} for stack {STACK}"),
        ),
        (
            ACTIONS["DiscardChangeSet"],
            Announcement("ChangeSetDiscarded", f"Deleted out-of-date change set {NAME}"),
        ),
        (
            ACTIONS["ExecuteChangeSet"],
            Announcement("ChangeSetExecuted", f"Executing change set {NAME}: {change_summary(CHANGES)}"),
        ),
        (
            ACTIONS["AcceptEmptyChangeSet"],
            Announcement("NoChanges", f"Change set {NAME} contained no changes; stack {STACK} is in sync"),
        ),
        (
            ACTIONS["ContinueRollback"],
            Announcement("ContinueUpdateRollback", f"Continuing the failed rollback of stack {STACK}"),
        ),
        (
            ACTIONS["SetTerminationProtection-on"],
            Announcement("TerminationProtectionEnabled", f"Enabled termination protection on {STACK}"),
        ),
        (
            ACTIONS["SetTerminationProtection-off"],
            Announcement("TerminationProtectionDisabled", f"Disabled termination protection on {STACK}"),
        ),
        (
            ACTIONS["Stall-StackCreateFailed"],
            Announcement("StackCreateFailed", "StackCreateFailed happened", warning=True),
        ),
        # Waiting and being in sync are not news: no event on every poll.
        (ACTIONS["WaitForChangeSet"], None),
        (ACTIONS["WaitForStack"], None),
        (ACTIONS["InSync"], None),
        (ACTIONS["AwaitApproval"], None),
    ],
)
def test_announcement_for(action: planning.Action, expected: Announcement | None) -> None:
    assert announcement_for(action, STACK) == expected


# The event a reconcile posts: decided here, from the action and the conditions written before it.


def _conditions(ready_reason: str, *, drifted: bool = False, synced: bool = True) -> list[dict[str, str]]:
    return [
        {"type": "Ready", "status": "False", "reason": ready_reason},
        {"type": "Drifted", "status": str(drifted), "reason": "x"},
        {"type": "Synced", "status": str(synced), "reason": "x"},
    ]


def _posted(action: planning.Action, conditions: list[dict[str, str]], **drift: Any) -> str | None:
    verdict = verdict_for(action, STACK)
    differences, remediate = drift.get("differences"), drift.get("remediate", False)
    announcement = reconcile_announcement(
        action, verdict, stack_name=STACK, conditions=conditions, differences=differences, remediate=remediate
    )
    return None if announcement is None else f"{announcement.reason}{'!' if announcement.warning else ''}"


def test_a_new_spec_drift_is_announced_once_and_says_whether_it_is_corrected() -> None:
    start = ACTIONS["StartChangeSet"]
    drift = {"differences": ["parameter X is 'a', the spec says 'b'"]}
    assert _posted(start, _conditions("StackReady"), **drift, remediate=True) == "StackDriftedFromSpec"
    assert _posted(ACTIONS["InSync"], _conditions("StackReady"), **drift) == "StackDriftedFromSpec!"
    assert _posted(start, _conditions("StackReady", drifted=True), **drift) == "ChangeSetCreated"


def test_a_stall_or_an_approval_wait_is_announced_when_it_begins_only() -> None:
    stall, approval = ACTIONS["Stall-StackNotOwned"], ACTIONS["AwaitApproval"]
    assert _posted(stall, _conditions("StackReady")) == f"{verdict_for(stall, STACK).reason}!"
    assert _posted(stall, _conditions(verdict_for(stall, STACK).reason)) is None
    assert _posted(approval, _conditions("StackReady")) == "ChangeSetAwaitingApproval"
    assert _posted(approval, _conditions("ChangeSetAwaitingApproval")) is None


def test_an_outage_and_a_refusal_are_warned_of_once() -> None:
    verdict = stalled("AwsRequestRejected", "no")
    assert outage_announcement(verdict, _conditions("StackReady")) is not None
    assert outage_announcement(verdict, _conditions("StackReady", synced=False)) is None
    assert failure_announcement(verdict, _conditions("StackReady")) is not None
    assert failure_announcement(verdict, _conditions("AwsRequestRejected")) is None
