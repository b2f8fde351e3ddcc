"""Sharding by label: two Deployments, each with its own --shard-selector, each reconcile exactly their
own TurbineStacks (the API server filters the list and the watch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from turbine_dev.controlplane import ControlPlane
from turbine_dev.embedded_aws import EmbeddedAws
from turbine_dev.kube import KubeApi, condition_of, wait_for
from turbine_dev.operator_process import start_operator_process
from turbine_dev.probes import turbine_stack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed")]

SHARDS = {"a": ["alpha", "apex"], "b": ["bravo", "blaze"]}


def _labelled(name: str, bucket: str, shard: str) -> dict[str, Any]:
    body = turbine_stack(name, bucket)
    body["metadata"]["labels"] = {"turbine.dev/shard": shard}
    return body


def test_each_shard_reconciles_only_its_own_stacks(
    control_plane: ControlPlane,
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    small_templates: Path,
    tmp_path: Path,
) -> None:
    operators = {
        shard: start_operator_process(
            control_plane,
            aws_environment,
            tmp_path / f"shard-{shard}.log",
            namespaces=[namespace],
            settings={
                "TURBINE_CFN_DIR": str(small_templates),
                "TURBINE_SHARD_SELECTOR": f"turbine.dev/shard={shard}",
            },
        )
        for shard in SHARDS
    }
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
