"""Ready, Reconciling and Stalled follow the Kubernetes condition conventions kstatus relies on."""

from __future__ import annotations

import re
from typing import Any

import pytest

from turbine_operator.core.api.conditions import (
    READY,
    RECONCILING,
    STALLED,
    Health,
    Verdict,
    desired_conditions,
    is_reconciling,
    merge_conditions,
    progressing,
    ready,
    ready_reason,
    stalled,
    waiting,
)

EARLIER = "2024-05-01T10:00:00Z"
NOW = "2024-05-01T12:00:00Z"
# metav1.Condition validation (k8s.io/apimachinery/pkg/apis/meta/v1/types.go).
REASON = re.compile(r"[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?")
REQUIRED = {"type", "status", "lastTransitionTime", "reason", "message"}

VERDICTS = {
    Health.READY: ready("StackReady", "Stack matches the spec"),
    Health.PROGRESSING: progressing("ChangeSetExecuting", "Executing"),
    Health.WAITING: waiting("ChangeSetAwaitingApproval", "Approve it"),
    Health.STALLED: stalled("StackCreateFailed", "It failed"),
}


def statuses(conditions: list[dict[str, Any]]) -> dict[str, str]:
    return {condition["type"]: condition["status"] for condition in conditions}


def condition(kind: str, status: str, reason: str = "Earlier", time: str = EARLIER) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "observedGeneration": 1,
        "lastTransitionTime": time,
        "reason": reason,
        "message": "",
    }


@pytest.mark.parametrize(
    ("health", "expected"),
    [
        (Health.READY, {READY: "True"}),
        (Health.PROGRESSING, {READY: "False", RECONCILING: "True"}),
        (Health.WAITING, {READY: "False"}),
        (Health.STALLED, {READY: "False", STALLED: "True"}),
    ],
)
def test_desired_conditions_per_health(health: Health, expected: dict[str, str]) -> None:
    assert statuses(desired_conditions(VERDICTS[health], 4, NOW)) == expected


@pytest.mark.parametrize("health", list(Health))
def test_abnormal_true_conditions_are_present_only_when_true(health: Health) -> None:
    for item in desired_conditions(VERDICTS[health], 4, NOW):
        if item["type"] in (RECONCILING, STALLED):
            assert item["status"] == "True"


@pytest.mark.parametrize("health", list(Health))
def test_conditions_carry_every_required_field(health: Health) -> None:
    verdict = VERDICTS[health]
    for item in desired_conditions(verdict, 4, NOW):
        assert set(item) >= REQUIRED
        assert item["observedGeneration"] == 4
        assert item["lastTransitionTime"] == NOW
        assert (item["reason"], item["message"]) == (verdict.reason, verdict.message)
        assert REASON.fullmatch(item["reason"])


@pytest.mark.parametrize(
    ("previous", "verdict", "kind", "transition"),
    [
        # Same status, even with a new reason: the transition time stays.
        ([condition(READY, "False")], progressing("ChangeSetCreating", ""), READY, EARLIER),
        ([condition(READY, "True")], ready("StackReady", ""), READY, EARLIER),
        (
            [condition(READY, "False"), condition(RECONCILING, "True")],
            progressing("X", ""),
            RECONCILING,
            EARLIER,
        ),
        ([condition(READY, "False"), condition(STALLED, "True")], stalled("Y", ""), STALLED, EARLIER),
        # A changed status moves it.
        ([condition(READY, "False")], ready("StackReady", ""), READY, NOW),
        ([condition(READY, "True")], stalled("Y", ""), READY, NOW),
        ([condition(READY, "Unknown")], waiting("Z", ""), READY, NOW),
        # A condition that appears is new.
        ([], progressing("X", ""), RECONCILING, NOW),
        ([condition(READY, "False")], stalled("Y", ""), STALLED, NOW),
        # A previous condition without a time gets one.
        ([{"type": READY, "status": "False", "reason": "A", "message": ""}], waiting("Z", ""), READY, NOW),
    ],
)
def test_last_transition_time_moves_only_when_the_status_changes(
    previous: list[dict[str, Any]], verdict: Verdict, kind: str, transition: str
) -> None:
    merged = {item["type"]: item for item in merge_conditions(previous, verdict, 5, NOW)}
    assert merged[kind]["lastTransitionTime"] == transition
    assert merged[kind]["observedGeneration"] == 5
    assert merged[kind]["reason"] == verdict.reason


@pytest.mark.parametrize(
    ("previous", "verdict", "remaining"),
    [
        (
            [condition(READY, "False"), condition(RECONCILING, "True")],
            ready("StackReady", ""),
            {READY: "True"},
        ),
        ([condition(READY, "False"), condition(STALLED, "True")], ready("StackReady", ""), {READY: "True"}),
        (
            [condition(READY, "False"), condition(STALLED, "True")],
            progressing("X", ""),
            {READY: "False", RECONCILING: "True"},
        ),
        (
            [condition(READY, "False"), condition(RECONCILING, "True")],
            stalled("Y", ""),
            {READY: "False", STALLED: "True"},
        ),
        # A stray False from an older operator version is dropped rather than kept.
        ([condition(RECONCILING, "False"), condition(STALLED, "False")], waiting("Z", ""), {READY: "False"}),
    ],
)
def test_merge_drops_our_conditions_that_no_longer_hold(
    previous: list[dict[str, Any]], verdict: Verdict, remaining: dict[str, str]
) -> None:
    assert statuses(merge_conditions(previous, verdict, 5, NOW)) == remaining


def test_merge_keeps_foreign_conditions_unchanged_after_ours() -> None:
    foreign = {
        "type": "example.com/Audited",
        "status": "True",
        "lastTransitionTime": EARLIER,
        "reason": "Ok",
        "message": "m",
    }
    previous = [foreign, condition(READY, "False"), condition(STALLED, "True")]
    merged = merge_conditions(previous, ready("StackReady", "fine"), 5, NOW)
    assert [item["type"] for item in merged] == [READY, "example.com/Audited"]
    assert merged[-1] == foreign


def test_merge_does_not_mutate_its_input() -> None:
    previous = [condition(READY, "False"), {"type": "Other", "status": "True"}]
    snapshot = [dict(item) for item in previous]
    merged = merge_conditions(previous, ready("StackReady", ""), 5, NOW)
    merged[-1]["status"] = "changed"
    assert previous == snapshot


@pytest.mark.parametrize(
    ("conditions", "reason"),
    [
        ([], None),
        ([condition(RECONCILING, "True", "X")], None),
        (
            [condition(RECONCILING, "True", "X"), condition(READY, "False", "ChangeSetCreating")],
            "ChangeSetCreating",
        ),
    ],
)
def test_ready_reason(conditions: list[dict[str, Any]], reason: str | None) -> None:
    assert ready_reason(conditions) == reason


@pytest.mark.parametrize(
    ("conditions", "reconciling"),
    [
        ([], False),
        ([condition(READY, "False")], False),
        ([condition(RECONCILING, "False")], False),
        ([condition(READY, "False"), condition(RECONCILING, "True")], True),
    ],
)
def test_is_reconciling(conditions: list[dict[str, Any]], reconciling: bool) -> None:
    assert is_reconciling(conditions) is reconciling
