"""An operator killed in the middle of a create converges, after a restart, with exactly one stack."""

from __future__ import annotations

from pathlib import Path

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.probes import turbine_stack
from turbine_dev.runs.processes import ManagedProcess
from turbine_operator.core.naming import default_stack_name

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed")]


def _operator(
    control_plane: ControlPlane, aws: EmbeddedAws, small_templates: Path, namespace: str, log: Path, poll: str
) -> ManagedProcess:
    settings = {"TURBINE_POLL_INTERVAL": poll, "TURBINE_CFN_DIR": str(small_templates)}
    return start_operator_process(control_plane, aws, log, namespaces=[namespace], settings=settings)


@pytest.mark.parametrize("kill_when", ["ChangeSetCreating", "FirstStatus"])
def test_killed_operator_converges_with_one_stack(
    control_plane: ControlPlane,
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    small_templates: Path,
    tmp_path: Path,
    kill_when: str,
) -> None:
    # A long poll interval holds the first operator between the steps of the create, where it dies.
    first = _operator(
        control_plane, aws_environment, small_templates, namespace, tmp_path / "first.log", "3600"
    )
    try:
        kube.create_stack(namespace, turbine_stack("phoenix", template_bucket))
        wait_for(
            lambda: (
                (c := kube.condition(namespace, "phoenix", "Ready"))
                and (kill_when == "FirstStatus" or c["reason"] == kill_when)
            ),
            30,
            f"the create to reach {kill_when}",
        )
    finally:
        first.kill()
    second = _operator(
        control_plane, aws_environment, small_templates, namespace, tmp_path / "second.log", "0.5"
    )
    try:
        body = kube.wait_condition(namespace, "phoenix", "Ready", timeout=60)
    finally:
        second.stop()
    assert body["status"]["stackStatus"] == "CREATE_COMPLETE"
    stacks = aws_environment.client("cloudformation").list_stacks()["StackSummaries"]
    assert [
        s["StackStatus"] for s in stacks if s["StackName"] == default_stack_name(namespace, "phoenix")
    ] == ["CREATE_COMPLETE"]
