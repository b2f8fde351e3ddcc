"""manifests/argocd/health.lua, run as real Lua 5.1 (ArgoCD runs gopher-lua, a Lua 5.1) on every status the
operator writes."""

from __future__ import annotations

from typing import Any

import pytest
from lupa.lua51 import LuaRuntime  # type: ignore[import-untyped]

from .support import MANIFESTS, product_reasons

HEALTH_LUA = MANIFESTS / "argocd" / "health.lua"
VALID = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}
NOW = "2026-01-01T00:00:00Z"

RECONCILING = [
    "ChangeSetCreating",
    "ChangeSetExecuting",
    "StackOperationInProgress",
    "ContinuingUpdateRollback",
    "Retrying",
    "Deleting",
    "WaitingForUpdateSlot",
]
STALLED = [
    "StackNotOwned",
    "StackOwnedByAnotherTurbineStack",
    "StackCreateFailed",
    "UpdateRolledBack",
    "UpdateRollbackFailed",
    "StackDeleteFailed",
    "ChangeSetFailed",
    "InvalidSpec",
    "TemplateBucketMissing",
    "ReferenceNotFound",
    "ReferenceNotReadable",
    "AwsAccessDenied",
    "AwsRequestRejected",
    "TerminationProtected",
    "AwsEndpointUnusable",
    "StackAccountChanged",
    "OutsideTenantGrant",
    "TenantPolicyInvalid",
    "StackNotTurbine",
]
READY = ["StackReady"]
WAITING = ["ChangeSetAwaitingApproval"]


def condition(kind: str, status: str, reason: str, generation: int = 2) -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "observedGeneration": generation,
        "lastTransitionTime": NOW,
        "reason": reason,
        "message": f"{reason} message",
    }


def conditions_for(reason: str, generation: int = 2) -> list[dict[str, Any]]:
    """The conditions the operator writes for a verdict (core/api/conditions.py desired_conditions)."""
    if reason in READY:
        return [condition("Ready", "True", reason, generation)]
    found = [condition("Ready", "False", reason, generation)]
    if reason in RECONCILING:
        found.append(condition("Reconciling", "True", reason, generation))
    if reason in STALLED:
        found.append(condition("Stalled", "True", reason, generation))
    return found


def turbine_stack(
    status: dict[str, Any] | None,
    *,
    generation: int = 2,
    spec: dict[str, Any] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "turbine.dev/v1alpha1",
        "kind": "TurbineStack",
        "metadata": {"name": "airflow", "namespace": "data", "generation": generation, "uid": "u-1"},
        "spec": {"templateBucket": {"name": "bucket"}, **(spec or {})},
    }
    if deleting:
        body["metadata"]["deletionTimestamp"] = NOW
    if status is not None:
        body["status"] = status
    return body


def settled(reason: str, generation: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "observedGeneration": generation,
        "stackName": "data-airflow",
        "conditions": conditions_for(reason, generation),
        **extra,
    }


def health(obj: dict[str, Any]) -> dict[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)
    # ArgoCD turns the object's JSON into nested Lua tables (arrays 1-based) and exposes it as `obj`.
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(HEALTH_LUA.read_text())
    assert result is not None, "the script must return a table"
    return {key: str(value) for key, value in dict(result).items()}


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("Ready StackReady", turbine_stack(settled("StackReady")), "Healthy"),
    *[(f"Reconciling {r}", turbine_stack(settled(r)), "Progressing") for r in RECONCILING],
    *[(f"Ready=False {r}", turbine_stack(settled(r)), "Progressing") for r in WAITING],
    *[(f"Stalled {r}", turbine_stack(settled(r)), "Degraded") for r in STALLED],
    ("no status yet", turbine_stack(None), "Progressing"),
    ("empty status", turbine_stack({}), "Progressing"),
    (
        "conditions without observedGeneration",
        turbine_stack({"conditions": conditions_for("StackReady")}),
        "Progressing",
    ),
    ("Ready, but a newer generation", turbine_stack(settled("StackReady", 2), generation=3), "Progressing"),
    (
        "Stalled, but a newer generation",
        turbine_stack(settled("StackCreateFailed", 2), generation=3),
        "Progressing",
    ),
    ("observed but no conditions yet", turbine_stack({"observedGeneration": 2}), "Progressing"),
    ("suspended while Ready", turbine_stack(settled("StackReady"), spec={"suspend": True}), "Suspended"),
    (
        "suspended while Stalled",
        turbine_stack(settled("UpdateRolledBack"), spec={"suspend": True}),
        "Suspended",
    ),
    ("suspended while Reconciling", turbine_stack(settled("Retrying"), spec={"suspend": True}), "Suspended"),
    (
        "suspend not yet observed",
        turbine_stack(settled("StackReady", 2), generation=3, spec={"suspend": True}),
        "Progressing",
    ),
    ("suspend false", turbine_stack(settled("StackReady"), spec={"suspend": False}), "Healthy"),
    # ArgoCD shows its own "Pending deletion" (Progressing) for an object being deleted, whatever it says.
    *[
        (f"being deleted, {r}", turbine_stack(settled(r), deleting=True), "Progressing")
        for r in ("Deleting", "Retrying", "StackDeleteFailed", "TerminationProtected", "StackReady")
    ],
    ("being deleted, no status", turbine_stack(None, deleting=True), "Progressing"),
    (
        "being deleted while suspended",
        turbine_stack(settled("StackReady"), spec={"suspend": True}, deleting=True),
        "Progressing",
    ),
    (
        "Ready and drifted",
        turbine_stack(
            {
                **settled("StackReady"),
                "conditions": [
                    *conditions_for("StackReady"),
                    condition("Drifted", "True", "StackDriftedFromSpec"),
                ],
            }
        ),
        "Healthy",
    ),
    (
        "a foreign condition is ignored",
        turbine_stack(
            {
                **settled("ChangeSetCreating"),
                "conditions": [*conditions_for("ChangeSetCreating"), condition("Other", "True", "X")],
            }
        ),
        "Progressing",
    ),
]


@pytest.mark.parametrize(("state", "obj", "expected"), CASES, ids=[case[0] for case in CASES])
def test_health_of_every_state(state: str, obj: dict[str, Any], expected: str) -> None:
    result = health(obj)
    assert result["status"] == expected, f"{state}: {result}"
    assert result["status"] in VALID
    assert result.get("message"), f"{state}: no message"


def test_messages_carry_the_reason_and_the_drift() -> None:
    assert health(turbine_stack(settled("StackCreateFailed")))["message"] == (
        "StackCreateFailed: StackCreateFailed message"
    )
    drifted = settled("StackReady")
    drifted["conditions"].append(condition("Drifted", "True", "StackDriftedFromSpec"))
    assert "drifted: StackDriftedFromSpec" in health(turbine_stack(drifted))["message"]
    assert "generation 3" in health(turbine_stack(settled("StackReady", 2), generation=3))["message"]
    assert health(turbine_stack(settled("StackDeleteFailed"), deleting=True))["message"] == "Pending deletion"


def test_fixtures_cover_every_reason_the_operator_writes() -> None:
    covered = set(READY + RECONCILING + WAITING + STALLED)
    reasons = product_reasons()
    found = set().union(*reasons.values())
    assert {"StackReady", "ChangeSetCreating", "InvalidSpec", "AwsAccessDenied", "Deleting"} <= found
    assert sorted(found - covered) == [], "a new reason needs a fixture here and a row in the ArgoCD table"
    assert sorted(reasons["stalled"] - set(STALLED)) == [], "the operator writes these as Stalled"


def test_script_is_plain_lua_51() -> None:
    """No Lua 5.2+ syntax that gopher-lua would reject (goto, integer division, bitwise operators)."""
    source = HEALTH_LUA.read_text()
    code = "\n".join(line.split("--")[0] for line in source.splitlines())
    for construct in ("goto ", "//", "::", "<<", ">>"):
        assert construct not in code, construct
    LuaRuntime().compile(source)  # parses as Lua 5.1
