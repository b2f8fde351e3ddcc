"""What Flux (kstatus) and ArgoCD make of every state the operator writes, checked against README.md's table.

The status bodies come from the operator's own functions (the planner's actions through `verdict_for`, the
verdicts the operations write, `status_patch`, the real reconcile of a suspended or invalid spec); only the
situations are listed here, one line each. All of them go through the real kstatus (sigs.k8s.io/cli-utils,
built from its Go module by `turbine_dev.k8s.binaries.ensure_kstatus`) in one process call, and through
manifests/argocd/health.lua.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import re
import subprocess
from collections.abc import Callable
from typing import Any, cast

import pytest
import yaml

from turbine_dev.k8s.binaries import ensure_kstatus
from turbine_dev.k8s.kube import KubeApi
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.api.conditions import Verdict, progressing, stalled
from turbine_operator.core.observed.observations import ObservedChangeSet, ResourceChange
from turbine_operator.core.plan import planning
from turbine_operator.core.report.reporting import verdict_for
from turbine_operator.core.report.status import StatusFacts, status_patch, tolerated_failure_patch
from turbine_operator.operations.fleet.status_effects import merged_status
from turbine_operator.operations.stack.reconcile import Reconciler
from turbine_operator.operations.turbine_stack import StackResource

from .support import REPO_ROOT, product_reasons
from .test_argocd_health import health

README = REPO_ROOT / "README.md"
CRD = REPO_ROOT / "crds" / "turbinestacks.turbine.dev.yaml"
NOW = "2026-01-01T00:00:00Z"
GENERATION = 2
STACK = "data-airflow"
SPEC = {"templateBucket": {"name": "bucket"}}

Body = dict[str, Any]


# --- Building what the operator writes ----------------------------------------------------------------------


# The merge patch the API server applies to the operator's status writes.
merged = merged_status


def turbine_stack(
    status: Body | None, *, generation: int = GENERATION, spec: Body | None = None, deleting: bool = False
) -> Body:
    metadata: Body = {"name": "airflow", "namespace": "data", "generation": generation, "uid": "u-1"}
    if deleting:
        metadata["deletionTimestamp"] = NOW
        metadata["finalizers"] = ["turbine.dev/stack"]
    body: Body = {"apiVersion": "turbine.dev/v1alpha1", "kind": "TurbineStack", "metadata": metadata}
    body["spec"] = spec if spec is not None else dict(SPEC)
    if status is not None:
        body["status"] = status
    return body


def written(verdict: Verdict, previous: Body | None = None, **facts: Any) -> Body:
    """The status after the operator wrote `verdict` (as reconcile.py and deletion.py do)."""
    before = previous or {}
    fields: Body = {"generation": GENERATION, "now": NOW, "stack_name": STACK, "region": "us-east-1"}
    return merged(before, status_patch(before, StatusFacts(verdict=verdict, **{**fields, **facts})))


def planned(action: planning.Action, **facts: Any) -> Body:
    return written(verdict_for(action, STACK), **facts)


def reconciled(spec: Body, previous: Body) -> Body:
    """The status the real reconcile writes for specs it decides on before any AWS call."""
    reconciler = Reconciler(
        sessions=cast(Any, None),
        sources=cast(Any, None),
        settings=OperatorSettings(default_region="us-east-1"),
        objects=cast(Any, None),
        clock=lambda: datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    )
    resource = StackResource("data", "airflow", "u-1", GENERATION, spec, previous)
    return merged(previous, reconciler.reconcile(resource).status)


def deleting(verdict: Verdict) -> Body:
    """A TurbineStack being deleted, with the status deletion.py writes (no stack name, not synced)."""
    status = written(verdict, READY, stack_name=None, region=None, synced=False)
    return turbine_stack(status, spec={**SPEC, "deletionPolicy": "Delete"}, deleting=True)


def created_by_the_api_server() -> Body:
    """A new object's status as the CRD's structural defaults make it (checked live below)."""
    schema = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    status_schema = schema["properties"]["status"]
    if "default" not in status_schema:
        return turbine_stack(None, generation=1)
    defaults = {
        name: field["default"] for name, field in status_schema["properties"].items() if "default" in field
    }
    return turbine_stack({**status_schema["default"], **defaults}, generation=1)


CHANGES = (ResourceChange("Modify", "Scheduler", "AWS::ECS::Service", "False"),)
CHANGE_SET = ObservedChangeSet("turbine-abc", "CREATE_COMPLETE", "AVAILABLE", None, CHANGES)
READY = planned(planning.InSync())


def plan(action: planning.Action, **facts: Any) -> Body:
    return turbine_stack(planned(action, **facts))


def wrote(verdict: Verdict, previous: Body | None = None, **facts: Any) -> Body:
    return turbine_stack(written(verdict, previous, **facts))


def tolerated(previous: Body) -> Body:
    """A transient AWS failure on a Ready stack, within the grace: Ready holds, Synced=False."""
    patch = tolerated_failure_patch(previous, GENERATION, NOW, "Retrying", "m")
    assert patch is not None
    return turbine_stack(merged(previous, patch))


def suspended(previous: Body) -> Body:
    spec = {**SPEC, "suspend": True}
    return turbine_stack(reconciled(spec, previous), spec=spec)


@dataclasses.dataclass(frozen=True)
class State:
    situation: str  # the name of the README row that must describe it
    name: str
    build: Callable[[], Body]


def state(situation: str, name: str, build: Callable[..., Body], *args: Any, **kwargs: Any) -> State:
    return State(situation, name, functools.partial(build, *args, **kwargs))


IN_FLIGHT = "in flight"
FAILED = "failed"
DELETING = "being deleted"
MATCHES = "stack matches the spec"
CREATE, UPDATE = planning.ChangeSetKind.CREATE, planning.ChangeSetKind.UPDATE

# One line per state the operator produces.
STATES = [
    state("created, not reconciled yet", "new object", created_by_the_api_server),
    state("spec changed, not reconciled yet", "Ready, newer generation", turbine_stack, READY, generation=3),
    state(MATCHES, "in sync", plan, planning.InSync()),
    state(MATCHES, "empty change set", plan, planning.AcceptEmptyChangeSet("c")),
    state(MATCHES, "termination protection set", plan, planning.SetTerminationProtection(enabled=True)),
    state(f"{MATCHES} but drifted", "spec drift", plan, planning.InSync(), spec_differences=["Tags differ"]),
    state(IN_FLIGHT, "creating", plan, planning.StartChangeSet("c", CREATE)),
    state(IN_FLIGHT, "updating", plan, planning.StartChangeSet("c", UPDATE), previous=READY),
    state(IN_FLIGHT, "change set computing", plan, planning.WaitForChangeSet("c")),
    state(IN_FLIGHT, "executing", plan, planning.ExecuteChangeSet(CHANGE_SET)),
    state(IN_FLIGHT, "stack operation", plan, planning.WaitForStack("UPDATE_IN_PROGRESS")),
    state(IN_FLIGHT, "continuing rollback", plan, planning.ContinueRollback()),
    state(IN_FLIGHT, "waiting for an update slot", plan, planning.WaitForUpdateSlot(CHANGE_SET)),
    state(IN_FLIGHT, "change set out of date", plan, planning.DiscardChangeSet("c")),
    state(f"{MATCHES}, AWS briefly unavailable", "AWS throttling, Ready before", tolerated, READY),
    state(
        IN_FLIGHT,
        "AWS throttling for long, Ready before",
        wrote,
        progressing("Retrying", "m"),
        READY,
        synced=False,
    ),
    state("change set waits for approval", "awaiting approval", plan, planning.AwaitApproval(CHANGE_SET)),
    *[state(FAILED, f"planner {r.value}", plan, planning.Stall(r, "m")) for r in planning.StallReason],
    state(FAILED, "invalid spec", lambda: turbine_stack(reconciled({"templateBucket": {}}, READY))),
    state(FAILED, "ReferenceNotFound", wrote, stalled("ReferenceNotFound", "m")),
    state(FAILED, "ReferenceNotReadable", wrote, stalled("ReferenceNotReadable", "m")),
    state(FAILED, "TemplateBucketMissing", wrote, stalled("TemplateBucketMissing", "m")),
    state(FAILED, "OutsideTenantGrant", wrote, stalled("OutsideTenantGrant", "m")),
    state(FAILED, "TenantPolicyInvalid", wrote, stalled("TenantPolicyInvalid", "m")),
    state(FAILED, "AwsAccessDenied", wrote, stalled("AwsAccessDenied", "m")),
    state(FAILED, "AwsRequestRejected", wrote, stalled("AwsRequestRejected", "m")),
    state(FAILED, "AwsEndpointUnusable", wrote, stalled("AwsEndpointUnusable", "m")),
    state("suspended", "suspended while Ready", suspended, READY),
    state(DELETING, "deleting the stack", deleting, progressing("Deleting", "m")),
    state(DELETING, "delete failed, retried", deleting, stalled("StackDeleteFailed", "m")),
    state(DELETING, "delete refused: termination protection", deleting, stalled("TerminationProtected", "m")),
    state(DELETING, "AWS throttling while deleting", deleting, progressing("Retrying", "m")),
]


# --- README.md's table --------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    situation: str
    ready: str
    reconciling: str
    stalled: str
    kstatus: str
    argocd: str

    def expected(self, column: str) -> str:
        """A cell's verdict is its first word; the rest explains it."""
        return str(getattr(self, column)).split()[0]


def readme_rows() -> list[Row]:
    text = README.read_text()
    section = text[text.index("## Status: what GitOps tools read") :]
    section = section[: section.index("\n## ", 1)]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    assert lines[0].split("|")[1:-1] == [
        " Situation ",
        " Ready ",
        " Reconciling ",
        " Stalled ",
        " kstatus ",
        " ArgoCD ",
    ], lines[0]
    return [Row(*(cell.strip() for cell in line.split("|")[1:-1])) for line in lines[2:]]


def label(situation: str) -> str:
    """A row's name: its Situation up to the first parenthesis or colon."""
    return re.split(r"[(:]", situation, maxsplit=1)[0].strip()


def row_for(situation: str, rows: list[Row]) -> Row:
    found = [row for row in rows if label(row.situation) == situation]
    assert len(found) == 1, f"README.md's status table needs exactly one row named {situation!r}"
    return found[0]


def conditions_of(body: Body) -> dict[str, Body]:
    return {str(c["type"]): c for c in (body.get("status") or {}).get("conditions") or []}


# --- The kstatus program ------------------------------------------------------------------------------------


def kstatus(objects: list[Body]) -> list[dict[str, str]]:
    done = subprocess.run(
        [str(ensure_kstatus())],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    verdicts: list[dict[str, str]] = json.loads(done.stdout)
    return verdicts


@pytest.fixture(scope="module")
def measured() -> dict[str, tuple[Body, dict[str, str], dict[str, str]]]:
    """State name -> (object, kstatus verdict, ArgoCD health), every state in one kstatus call."""
    objects = [item.build() for item in STATES]
    verdicts = kstatus(objects)
    return {
        item.name: (obj, verdict, health(obj))
        for item, obj, verdict in zip(STATES, objects, verdicts, strict=True)
    }


@pytest.mark.parametrize("item", STATES, ids=[item.name for item in STATES])
def test_verdicts_match_the_readme_table(
    item: State, measured: dict[str, tuple[Body, dict[str, str], dict[str, str]]]
) -> None:
    row = row_for(item.situation, readme_rows())
    obj, verdict, argocd = measured[item.name]
    assert verdict["status"] == row.expected("kstatus"), f"{item.name}: kstatus says {verdict}; README: {row}"
    assert argocd["status"] == row.expected("argocd"), f"{item.name}: ArgoCD says {argocd}; README: {row}"
    conditions = conditions_of(obj)
    for column, kind in (("ready", "Ready"), ("reconciling", "Reconciling"), ("stalled", "Stalled")):
        cell = getattr(row, column)
        condition = conditions.get(kind)
        if cell == "-":
            assert condition is None, f"{item.name}: README says no {kind}, the operator wrote {condition}"
        elif cell.split()[0] in ("True", "False"):
            assert condition is not None, f"{item.name}: README says {kind} {cell}, the operator wrote none"
            assert condition["status"] == cell.split()[0], (item.name, kind, cell)
            listed = re.findall(r"`(\w+)`", cell)
            assert not listed or condition["reason"] in listed, (
                f"{item.name}: {condition['reason']} not in {cell}"
            )


def test_every_row_is_a_state_and_every_reason_is_covered() -> None:
    rows = readme_rows()
    used = {row_for(item.situation, rows).situation for item in STATES}
    assert sorted(row.situation for row in rows if row.situation not in used) == []
    written_reasons = {
        condition["reason"] for item in STATES for condition in conditions_of(item.build()).values()
    }
    missing = sorted(set().union(*product_reasons().values()) - written_reasons)
    assert missing == [], "a reason the operator writes needs a line in STATES (and its README row)"


def test_the_kstatus_program_reads_yaml_and_single_objects() -> None:
    """The program's own contract: one YAML object in, one verdict out (ints stay ints)."""
    done = subprocess.run(
        [str(ensure_kstatus())],
        input=yaml.safe_dump(turbine_stack({"observedGeneration": 1}, generation=2)),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(done.stdout) == {
        "status": "InProgress",
        "message": "TurbineStack generation is 2, but latest observed generation is 1",
    }


def test_an_object_without_status_reads_current() -> None:
    """Why defect 13 mattered: kstatus takes an object without status for done."""
    assert kstatus([turbine_stack(None, generation=1)])[0]["status"] == "Current"


@pytest.mark.integration
@pytest.mark.usefixtures("crd_installed")
def test_a_new_turbinestack_reads_in_progress_until_reconciled(kube: KubeApi, namespace: str) -> None:
    """Defect 13 on the real API server: the created object (no operator running) already carries
    status.observedGeneration 0, even if the client sent a status, so kstatus says InProgress, not Current."""
    created = kube.create_stack(
        namespace, turbine_stack(None, generation=1) | {"metadata": {"name": "fresh"}}
    )
    with_status = turbine_stack({"observedGeneration": 7}) | {"metadata": {"name": "with-status"}}
    created_with_status = kube.create_stack(namespace, with_status)
    read = kube.get_stack(namespace, "fresh")
    assert read is not None
    returned = [created, created_with_status, read]
    for body in returned:
        assert body.get("status") == {"observedGeneration": 0}, body
    verdicts = kstatus(returned)
    assert [verdict["status"] for verdict in verdicts] == ["InProgress"] * 3, verdicts
    assert created_by_the_api_server()["status"] == created["status"]
