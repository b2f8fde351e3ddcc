"""Settled stacks cost no call of their own: one ListStacks for the region wakes the stack changed outside."""

from __future__ import annotations

import time
from typing import Any

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import aws_calls, turbine_stack, update_outside_operator
from turbine_operator.core.naming import default_stack_name

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed", "kubeconfig_environment")]

NAMES = ("quiet-a", "quiet-b", "touched")


def _status(kube: KubeApi, namespace: str, name: str) -> dict[str, Any]:
    return dict((kube.get_stack(namespace, name) or {}).get("status") or {})


@pytest.mark.usefixtures("small_templates")
def test_the_listing_wakes_only_the_stack_changed_outside(
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No resync within the test: only the listing (every second here, TURBINE_LISTING_INTERVAL) can wake.
    monkeypatch.setenv("TURBINE_RESYNC_INTERVAL", "3600")
    cloudformation = aws_environment.client("cloudformation")
    with running_operator([namespace]):
        for name in NAMES:
            spec = {"workers": {"maxSize": 5}, "driftDetection": {"enabled": False}}
            kube.create_stack(namespace, turbine_stack(name, template_bucket, **spec))
        for name in NAMES:
            kube.wait_condition(namespace, name, "Ready", timeout=60)
        synced = {name: _status(kube, namespace, name)["lastSyncTime"] for name in NAMES}

        time.sleep(1.5)  # the last status writes land; the stacks' timers start waiting
        before = aws_calls()
        time.sleep(4)  # about four listings
        idle = {op: n - before.get(op, 0) for op, n in aws_calls().items() if n - before.get(op, 0)}
        assert set(idle) == {"ListStacks"}, idle  # no DescribeStacks: settled stacks wait at no cost

        recorded = _status(kube, namespace, "touched")["stackLastUpdatedTime"]
        update_outside_operator(cloudformation, default_stack_name(namespace, "touched"), "MaxGroupSize", "8")
        wait_for(
            lambda: (
                (status := _status(kube, namespace, "touched")).get("stackLastUpdatedTime") != recorded
                and status["stackStatus"] == "UPDATE_COMPLETE"
                and (status.get("drift") or {}).get("specInSync") is False
            ),
            30,
            "the outside update to be seen and compared",
        )
        differences = _status(kube, namespace, "touched")["drift"]["specDifferences"]
        assert any("MaxGroupSize" in line and "'8'" in line for line in differences)
        for name in ("quiet-a", "quiet-b"):  # not looked at: nothing of theirs moved
            assert _status(kube, namespace, name)["lastSyncTime"] == synced[name]
