"""Sharding by label: two Deployments, each with its own --shard-selector, each reconcile exactly their
own TurbineStacks (the API server filters the list and the watch)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi, condition_of, wait_for
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.probes import turbine_stack
from turbine_dev.runs.processes import ManagedProcess

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed")]

SHARDS = {"a": ["alpha", "apex"], "b": ["bravo", "blaze"]}


def _labelled(name: str, bucket: str, shard: str) -> dict[str, Any]:
    body = turbine_stack(name, bucket)
    body["metadata"]["labels"] = {"turbine.dev/shard": shard}
    return body


def _start_shards(
    control_plane: ControlPlane,
    aws: EmbeddedAws,
    namespace: str,
    small_templates: Path,
    logs: Path,
    settings: dict[str, str] | None = None,
) -> dict[str, ManagedProcess]:
    """One operator per shard of SHARDS, logging to shard-<shard>.log under `logs`."""
    return {
        shard: start_operator_process(
            control_plane,
            aws,
            logs / f"shard-{shard}.log",
            namespaces=[namespace],
            settings={
                "TURBINE_CFN_DIR": str(small_templates),
                "TURBINE_SHARD_SELECTOR": f"turbine.dev/shard={shard}",
                **(settings or {}),
            },
        )
        for shard in SHARDS
    }


def test_each_shard_reconciles_only_its_own_stacks(
    control_plane: ControlPlane,
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    small_templates: Path,
    tmp_path: Path,
) -> None:
    operators = _start_shards(control_plane, aws_environment, namespace, small_templates, tmp_path)
    try:
        for shard, names in SHARDS.items():
            for name in names:
                kube.create_stack(namespace, _labelled(name, template_bucket, shard))
        # Unlabelled: no shard serves it (a default shard would select `!turbine.dev/shard`).
        kube.create_stack(namespace, turbine_stack("nobody", template_bucket))

        def all_ready() -> bool:
            return all(
                (condition_of(kube.get_stack(namespace, name) or {}, "Ready") or {}).get("status") == "True"
                for names in SHARDS.values()
                for name in names
            )

        wait_for(all_ready, 180, "every sharded stack Ready")
        for shard, names in SHARDS.items():
            log = (tmp_path / f"shard-{shard}.log").read_text()
            others = [name for other, listed in SHARDS.items() if other != shard for name in listed]
            assert all(f"[{namespace}/{name}]" in log for name in names), shard
            assert not any(f"[{namespace}/{name}]" in log for name in [*others, "nobody"]), shard
        assert not (kube.get_stack(namespace, "nobody") or {}).get("status", {}).get("conditions")
    finally:
        for operator in operators.values():
            operator.stop()


def test_a_stack_relabelled_to_another_shard_is_left_alone_by_the_shard_it_left(
    control_plane: ControlPlane,
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    small_templates: Path,
    tmp_path: Path,
) -> None:
    """The API server tells the shard a stack left with a DELETED watch event, without a deletion: that shard
    must stop following it, or its next look would apply the spec it saw last over the other shard's."""
    # Resyncs and listings every few seconds: a shard still following the stack would act within the test.
    quick = {"TURBINE_RESYNC_INTERVAL": "10", "TURBINE_LISTING_INTERVAL": "5"}
    operators = _start_shards(control_plane, aws_environment, namespace, small_templates, tmp_path, quick)
    try:
        kube.create_stack(namespace, _labelled("mover", template_bucket, "a"))
        kube.wait_condition(namespace, "mover", "Ready", "True", timeout=120)
        kube.patch_stack(namespace, "mover", {"metadata": {"labels": {"turbine.dev/shard": "b"}}})
        left_at = len((tmp_path / "shard-a.log").read_text())
        kube.patch_stack(namespace, "mover", {"spec": {"workers": {"maxSize": 7}}})

        def ready_for_the_change() -> bool:
            ready = condition_of(kube.get_stack(namespace, "mover") or {}, "Ready") or {}
            return ready.get("status") == "True" and ready.get("observedGeneration") == 2

        wait_for(ready_for_the_change, 120, "the change Ready, from shard b")
        stack_name = (kube.get_stack(namespace, "mover") or {})["status"]["stackName"]
        cloudformation = aws_environment.client("cloudformation")

        def max_size() -> str:
            stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
            parameters = {p["ParameterKey"]: str(p["ParameterValue"]) for p in stack["Parameters"]}
            return parameters["MaxGroupSize"]

        # Several resyncs and listings of both shards: shard a, still following, would put back maxSize 10.
        samples = []
        for _ in range(30):
            samples.append(max_size())
            time.sleep(1)
        assert set(samples) == {"7"}
        after_leaving = (tmp_path / "shard-a.log").read_text()[left_at:].splitlines()
        about_it = [line for line in after_leaving if f"[{namespace}/mover]" in line]
        ticks = [line for line in about_it if "Timer 'follow" in line]
        left = "Handler 'left_the_shard' succeeded"
        others = [line for line in about_it if line not in ticks and left not in line]
        assert others == [], about_it
        # A tick already under way when the stack left ends after it (seen in make test). A shard still
        # following the stack would tick again at each resync (10 s) and listing (5 s) of the 30 s above.
        assert len(ticks) <= 1, about_it
    finally:
        for operator in operators.values():
            operator.stop()
