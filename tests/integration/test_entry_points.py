"""The operator starts the documented ways: `kopf run -m turbine_operator.main` and `turbine-operator run`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.runs.processes import ManagedProcess

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "command",
    [
        ["kopf", "run", "--standalone", "-m", "turbine_operator.main"],
        ["turbine-operator", "run"],
    ],
    ids=["kopf-run", "turbine-operator-run"],
)
def test_operator_starts(
    control_plane: ControlPlane, namespace: str, tmp_path: Path, command: list[str]
) -> None:
    executable = shutil.which(command[0])
    assert executable is not None, f"{command[0]} is not installed"
    env = {**os.environ, "KUBECONFIG": str(control_plane.kubeconfig), "TURBINE_METRICS_PORT": "0"}
    process = ManagedProcess(
        "operator", [executable, *command[1:], "-n", namespace], tmp_path / "log", env=env
    )
    try:
        process.wait_until(lambda: "Turbine Operator started" in process.log_tail(100), 60, "start-up")
    finally:
        process.stop()


def test_help_explains_each_command() -> None:
    overview = subprocess.run(
        ["turbine-operator", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "run " in overview
    assert "render " in overview
    for command in ("run", "render"):
        details = subprocess.run(
            ["turbine-operator", command, "--help"], capture_output=True, text=True, check=True
        ).stdout
        assert details.count("--") >= 2, details
