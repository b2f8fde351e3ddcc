"""Defect 18: the operator dies right after a mutating AWS call returned and before its status write.

The emulator's kill-after-mutation hook SIGKILLs every operator of these tests after its first
mutating CloudFormation call (CreateChangeSet, ExecuteChangeSet, DeleteChangeSet, DeleteStack...),
so each life of the operator makes one mutation and never records it. Once a life makes none, the
change must be complete: converged, exactly one stack, and the stack operation done exactly once.
"""

from __future__ import annotations

import collections
import functools
import uuid
from pathlib import Path
from typing import Any

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi
from turbine_dev.runs.chaos import (
    KILL_DELAY_SECONDS,
    one_life,
    operator_starter,
    owned_stacks,
    stack_operations,
)
from turbine_dev.runs.probes import turbine_stack
from turbine_dev.runs.processes import ManagedProcess

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed")]

# A create is upload, CreateChangeSet, ExecuteChangeSet: far fewer lives than this unless mutations repeat.
MAX_LIVES = 8
LIFE_SECONDS = 90.0
NAME = "phoenix"


@pytest.mark.parametrize("change", ["create", "update", "delete", "create-then-delete"])
def test_killed_after_each_mutation_converges_without_repeating_it(
    change: str,
    control_plane: ControlPlane,
    kube: KubeApi,
    chaos_aws: EmbeddedAws,
    chaos_bucket: str,
    small_templates: Path,
    tmp_path: Path,
) -> None:
    namespace = f"kill-after-{change}-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(namespace)
    chaos_aws.configure(fault_rate=0.0, kill_delay_seconds=KILL_DELAY_SECONDS)
    chaos_aws.kill_after_mutation(None)
    start = operator_starter(control_plane, chaos_aws, namespace, small_templates, tmp_path)
    manifest = turbine_stack(NAME, chaos_bucket, workers={"maxSize": 2}, deletionPolicy="Delete")
    if change in ("update", "delete"):
        kube.create_stack(namespace, manifest)
        settle = start(0, _unarmed)
        try:
            kube.wait_condition(namespace, NAME, "Ready", timeout=120)
        finally:
            settle.kill()
    before = _operations(chaos_aws, namespace)

    if change in ("create", "create-then-delete"):
        uid = kube.create_stack(namespace, manifest)["metadata"]["uid"]
    elif change == "update":
        uid = kube.patch_stack(namespace, NAME, {"spec": {"workers": {"maxSize": 5}}})["metadata"]["uid"]
    else:
        uid = _uid(kube, namespace)
        kube.delete_stack(namespace, NAME)

    def converged() -> bool:
        body = kube.get_stack(namespace, NAME)
        if change.endswith("delete"):
            return body is None
        ready = [c for c in (body or {}).get("status", {}).get("conditions", []) if c["type"] == "Ready"]
        current = (body or {}).get("status", {}).get("observedGeneration") == (body or {}).get(
            "metadata", {}
        ).get("generation")
        return bool(ready and ready[0]["status"] == "True" and current)

    def armed(process: ManagedProcess) -> None:
        chaos_aws.kill_after_mutation(process.pid, 1.0, 0)

    kills, first = 0, 1
    if change == "create-then-delete":
        # The operator dies right after CreateChangeSet, before it wrote the stack's name to status;
        # then the user deletes the TurbineStack. The stack it started must not be orphaned.
        kills += one_life(functools.partial(start, 1), armed, lambda: False, LIFE_SECONDS)
        written = (kube.get_stack(namespace, NAME) or {}).get("status", {})
        assert "stackName" not in written, f"the kill came after the status write {written}: nothing proved"
        kube.delete_stack(namespace, NAME)
        first = 2
    for life in range(first, MAX_LIVES + 1):
        if not one_life(functools.partial(start, life), armed, converged, LIFE_SECONDS):
            break
        kills += 1
    chaos_aws.kill_after_mutation(None)
    if not converged():
        one_life(functools.partial(start, MAX_LIVES + 1), _unarmed, converged, LIFE_SECONDS)
    logs = f"operator logs in {tmp_path}"
    assert kills >= 1, f"no operator was killed after a mutation, so this test proved nothing ({logs})"
    assert converged(), f"{change}: not converged after {kills} kills after mutations ({logs})"

    done = _operations(chaos_aws, namespace) - before
    live = owned_stacks(chaos_aws.client("cloudformation"), namespace, NAME, uid)
    expected = {
        "create": ({"CREATE_IN_PROGRESS": 1}, 1),
        "update": ({"UPDATE_IN_PROGRESS": 1}, 1),
        "delete": ({"DELETE_IN_PROGRESS": 1}, 0),
        "create-then-delete": ({"DELETE_IN_PROGRESS": 1}, 0),
    }[change]
    # REVIEW_IN_PROGRESS is the change set's stub, not an operation on the stack.
    started = {k: v for k, v in done.items() if k.endswith("_IN_PROGRESS") and k != "REVIEW_IN_PROGRESS"}
    assert (started, len(live)) == expected, (
        f"{change} after {kills} kills: stack operations started {started}, "
        f"live stacks {[(s['StackName'], s['StackStatus']) for s in live]}; expected {expected} ({logs})"
    )


def _unarmed(_process: ManagedProcess) -> None:
    pass


def _uid(kube: KubeApi, namespace: str) -> str:
    body: dict[str, Any] = kube.get_stack(namespace, NAME) or {}
    return str(body.get("metadata", {}).get("uid", ""))


def _operations(aws: EmbeddedAws, namespace: str) -> collections.Counter[str]:
    chaos_stacks = aws.client("cloudformation")
    return stack_operations(chaos_stacks, namespace)
