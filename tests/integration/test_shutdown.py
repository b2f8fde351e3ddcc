"""Stopping the operator while a timer tick is under way lets the tick finish and write its status."""

from __future__ import annotations

import threading
import time

import pytest

from turbine_dev.k8s.kube import KubeApi
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import turbine_stack
from turbine_operator.operations.stack.drift import DriftDetector
from turbine_operator.operations.turbine_stack import Outcome, StackResource

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("crd_installed", "small_templates", "kubeconfig_environment", "aws_environment"),
]

# Longer than the few seconds kopf gives leftover tasks anyway: a shorter tick would finish, and
# write its status, even when the operator does not wait for it.
TICK_DURATION = 8.0


def test_a_tick_in_flight_at_shutdown_finishes_and_writes_its_status(
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    started, finished = threading.Event(), threading.Event()
    check = DriftDetector.check

    def slow_check(self: DriftDetector, resource: StackResource) -> Outcome | None:
        # Stands in for a slow AWS answer: the first drift check starts and is still running at shutdown.
        if started.is_set():
            return None
        started.set()
        time.sleep(TICK_DURATION)
        outcome = check(self, resource)
        finished.set()
        return outcome

    monkeypatch.setattr(DriftDetector, "check", slow_check)
    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("busy", template_bucket))
        kube.wait_condition(namespace, "busy", "Ready", timeout=30)
        assert started.wait(30), "no drift check started"
    drift = (kube.get_stack(namespace, "busy") or {})["status"].get("drift") or {}
    assert drift.get("detectionId"), "the tick's result was lost"
    assert finished.is_set(), "shutdown did not wait for the tick under way"
    assert "Leaving it orphaned" not in caplog.text
