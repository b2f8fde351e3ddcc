"""The status stanza as a merge patch: what is set, what is removed, and what is remembered."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from turbine_operator.core.api.conditions import progressing, ready
from turbine_operator.core.naming import APPLIED_HASH_TAG, continue_rollback_token, execute_token
from turbine_operator.core.observed.observations import ObservedStack, StackMemory
from turbine_operator.core.report.status import (
    SYNCED,
    StatusFacts,
    memory_from_status,
    recovered_memory,
    replaced_map,
    status_patch,
    tolerated_failure_patch,
)

NOW = "2024-05-01T12:00:00Z"
READY = ready("StackReady", "Stack airflow-prod matches the spec")
STACK = ObservedStack(
    stack_id="arn:aws:cloudformation:eu-west-1:123456789012:stack/airflow-prod/1",
    name="airflow-prod",
    status="UPDATE_COMPLETE",
    status_reason="Update done",
    tags={},
    outputs={"WebserverURL": "http://web:8080", "QueueName": "tasks"},
    termination_protection=False,
    last_updated="2026-11-20T08:00:00Z",
)
MEMORY = StackMemory(applied_hash="a" * 32, attempted_hash="b" * 32, continued_rollback_hash=None)


def facts(**overrides: Any) -> StatusFacts:
    values: dict[str, Any] = {
        "generation": 7,
        "now": NOW,
        "stack_name": None,
        "region": None,
        "verdict": READY,
    }
    return StatusFacts(**{**values, **overrides})


@pytest.mark.parametrize(
    ("previous", "current", "expected"),
    [
        (None, {}, {}),
        (None, {"A": "1"}, {"A": "1"}),
        ({}, {"A": "1"}, {"A": "1"}),
        ({"A": "0"}, {"A": "1"}, {"A": "1"}),
        ({"A": "1", "B": "2"}, {"A": "1"}, {"A": "1", "B": None}),
        ({"A": "1", "B": "2"}, {}, {"A": None, "B": None}),
        ({"A": "1"}, {"C": "3"}, {"A": None, "C": "3"}),
    ],
)
def test_replaced_map_removes_keys_that_disappeared(
    previous: Mapping[str, Any] | None, current: dict[str, str], expected: dict[str, str | None]
) -> None:
    assert replaced_map(previous, current) == expected


def test_minimal_patch_sets_generation_conditions_and_sync_time() -> None:
    patch = status_patch({}, facts())
    assert set(patch) == {"observedGeneration", "conditions", "pendingChangeSet", "lastSyncTime"}
    assert patch["observedGeneration"] == 7
    assert patch["lastSyncTime"] == NOW
    assert patch["pendingChangeSet"] is None
    assert [condition["type"] for condition in patch["conditions"]] == ["Ready"]


def test_patch_without_a_sync_leaves_the_sync_time_alone() -> None:
    # A retry after a throttled call did not compare the stack with the spec.
    patch = status_patch(
        {"lastSyncTime": "earlier"}, facts(synced=False, verdict=progressing("Retrying", "x"))
    )
    assert "lastSyncTime" not in patch


def test_full_patch_reports_the_stack() -> None:
    patch = status_patch(
        {"outputs": {"Removed": "x", "QueueName": "old"}},
        facts(
            stack_name="airflow-prod",
            region="eu-west-1",
            stack=STACK,
            desired_hash="d" * 32,
            memory=MEMORY,
            pending_change_set={"name": "turbine-x", "summary": "1 to add", "changes": []},
        ),
    )
    assert patch == {
        "observedGeneration": 7,
        "conditions": patch["conditions"],
        "pendingChangeSet": {"name": "turbine-x", "summary": "1 to add", "changes": []},
        "lastSyncTime": NOW,
        "stackName": "airflow-prod",
        "region": "eu-west-1",
        "desiredHash": "d" * 32,
        "stackId": STACK.stack_id,
        "stackStatus": "UPDATE_COMPLETE",
        "stackStatusReason": "Update done",
        "stackLastUpdatedTime": "2026-11-20T08:00:00Z",
        "outputs": {"Removed": None, "QueueName": "tasks", "WebserverURL": "http://web:8080"},
        "lastAppliedHash": "a" * 32,
        "lastAttemptedHash": "b" * 32,
        "continuedRollbackHash": None,
    }


def test_explicit_status_reason_overrides_the_stacks() -> None:
    patch = status_patch({}, facts(stack=STACK, stack_status_reason="first failure: Workers: limit exceeded"))
    assert patch["stackStatusReason"] == "first failure: Workers: limit exceeded"


def test_a_stack_without_reason_clears_the_old_reason() -> None:
    stack = ObservedStack("arn", "airflow-prod", "CREATE_COMPLETE", None, {}, {}, False)
    assert status_patch({"stackStatusReason": "old"}, facts(stack=stack))["stackStatusReason"] is None


def test_patch_without_a_stack_or_memory_leaves_those_fields_alone() -> None:
    previous = {"stackId": "arn", "outputs": {"A": "1"}, "lastAppliedHash": "a" * 32}
    patch = status_patch(previous, facts())
    assert not {"stackId", "stackStatus", "outputs", "lastAppliedHash", "lastAttemptedHash"} & set(patch)


def test_memory_round_trips_through_the_status() -> None:
    patch = status_patch({}, facts(memory=MEMORY))
    assert memory_from_status(patch) == MEMORY


def test_memory_from_an_empty_status_is_empty() -> None:
    assert memory_from_status({}) == StackMemory()


def test_status_patch_does_not_mutate_the_previous_status() -> None:
    previous: dict[str, Any] = {"outputs": {"A": "1"}, "conditions": [{"type": "Ready", "status": "False"}]}
    snapshot = {"outputs": {"A": "1"}, "conditions": [{"type": "Ready", "status": "False"}]}
    status_patch(previous, facts(stack=STACK))
    assert previous == snapshot


def test_status_patch_keeps_the_transition_time_of_an_unchanged_condition_and_foreign_ones() -> None:
    earlier = "2024-05-01T10:00:00Z"
    foreign = {"type": "example.com/Audited", "status": "True", "lastTransitionTime": earlier, "reason": "Ok"}
    previous = {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "lastTransitionTime": earlier,
                "reason": "StackReady",
                "message": "",
            },
            foreign,
        ]
    }
    conditions = status_patch(previous, facts())["conditions"]
    assert conditions[0]["lastTransitionTime"] == earlier
    assert conditions[0]["observedGeneration"] == 7
    assert foreign in conditions
    moved = status_patch(previous, facts(verdict=progressing("ChangeSetCreating", "x")))["conditions"]
    assert moved[0]["lastTransitionTime"] == NOW


# Memory that survives a lost status: AWS tells what was applied and what was last tried.

APPLIED, TRIED = "a" * 32, "c" * 32


def test_the_applied_hash_tag_wins_over_status() -> None:
    tagged = dataclasses.replace(STACK, tags={APPLIED_HASH_TAG: APPLIED})
    assert recovered_memory(StackMemory(), tagged, None).applied_hash == APPLIED
    assert recovered_memory(StackMemory(applied_hash=TRIED), tagged, None).applied_hash == APPLIED


def test_without_the_tag_status_is_kept() -> None:
    assert recovered_memory(MEMORY, STACK, None) == MEMORY
    assert recovered_memory(MEMORY, None, None) == MEMORY


def test_the_last_execute_token_tells_what_was_tried() -> None:
    token = execute_token(TRIED, "arn:aws:cloudformation:eu-west-1:1:changeSet/c/1")
    recovered = recovered_memory(StackMemory(), STACK, token)
    assert (recovered.attempted_hash, recovered.continued_rollback_hash) == (TRIED, None)


def test_the_last_continue_rollback_token_tells_the_rollback_was_continued() -> None:
    token = continue_rollback_token(TRIED, STACK.stack_id, "2024-05-01T11:00:00Z", tried=TRIED)
    recovered = recovered_memory(StackMemory(), STACK, token)
    assert (recovered.attempted_hash, recovered.continued_rollback_hash) == (TRIED, TRIED)


def test_a_rollback_continued_under_a_new_spec_does_not_pass_it_off_as_tried() -> None:
    # The spec changed while the stack was UPDATE_ROLLBACK_FAILED: the rollback is continued under the new
    # spec, but what rolled back is the update that failed.
    new = "9" * 32
    token = continue_rollback_token(new, STACK.stack_id, "2024-05-01T11:00:00Z", tried=TRIED)
    recovered = recovered_memory(StackMemory(), STACK, token)
    assert (recovered.attempted_hash, recovered.continued_rollback_hash) == (TRIED, new)


@pytest.mark.parametrize("token", ["turbine-delete-0123", "console-1234", None])
def test_tokens_of_other_requests_tell_nothing(token: str | None) -> None:
    assert recovered_memory(MEMORY, STACK, token) == MEMORY


# A transient failure does not flap a Ready stack (kstatus and ArgoCD read Ready and Reconciling).


def _ready_status(generation: int = 7, synced: Mapping[str, Any] | None = None) -> dict[str, Any]:
    conditions: list[dict[str, Any]] = [
        {
            "type": "Ready",
            "status": "True",
            "reason": "StackReady",
            "message": "ok",
            "observedGeneration": generation,
            "lastTransitionTime": "2024-05-01T00:00:00Z",
        }
    ]
    if synced is not None:
        conditions.append(dict(synced))
    return {"observedGeneration": generation, "conditions": conditions}


def test_a_transient_failure_keeps_ready_and_sets_synced_false() -> None:
    patch = tolerated_failure_patch(_ready_status(), 7, NOW, "Retrying", "AWS is throttling")
    assert patch is not None
    by_type = {c["type"]: c for c in patch["conditions"]}
    assert by_type["Ready"]["status"] == "True"
    assert (by_type[SYNCED]["status"], by_type[SYNCED]["reason"]) == ("False", "Retrying")
    assert "Reconciling" not in by_type
    assert set(patch) == {"conditions"}  # nothing else changes, the memory included


@pytest.mark.parametrize(
    ("status", "generation"),
    [
        (_ready_status(generation=6), 7),  # a spec change is waiting: that is in progress, say so
        ({"conditions": [{"type": "Ready", "status": "False", "observedGeneration": 7}]}, 7),
        ({}, 7),
    ],
)
def test_a_transient_failure_is_reported_when_ready_cannot_hold(
    status: dict[str, Any], generation: int
) -> None:
    assert tolerated_failure_patch(status, generation, NOW, "Retrying", "x") is None


def test_a_long_outage_is_reported_after_the_grace() -> None:
    failing_since = {"type": SYNCED, "status": "False", "lastTransitionTime": "2024-05-01T11:55:00Z"}
    assert tolerated_failure_patch(_ready_status(synced=failing_since), 7, NOW, "Retrying", "x") is not None
    failing_long = {**failing_since, "lastTransitionTime": "2024-05-01T11:40:00Z"}
    assert tolerated_failure_patch(_ready_status(synced=failing_long), 7, NOW, "Retrying", "x") is None


def test_a_successful_look_sets_synced_back_to_true() -> None:
    failing = {
        "type": SYNCED,
        "status": "False",
        "reason": "Retrying",
        "lastTransitionTime": "2024-05-01T11:55:00Z",
    }
    patch = status_patch(_ready_status(synced=failing), facts())
    by_type = {c["type"]: c for c in patch["conditions"]}
    assert (by_type[SYNCED]["status"], by_type[SYNCED]["reason"]) == ("True", "Synced")
    # Stacks that never failed get no Synced condition at all.
    assert SYNCED not in {c["type"] for c in status_patch(_ready_status(), facts())["conditions"]}
