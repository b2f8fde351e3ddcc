"""The operator in its own process (`turbine-operator run`), as a user starts it: demo, benchmarks, tests."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.runs.operator_runner import STARTED_MESSAGE
from turbine_dev.runs.processes import ManagedProcess
from turbine_operator.handlers.lifecycle import IN_FLIGHT_TICK_GRACE_SECONDS


def start_operator_process(
    plane: ControlPlane,
    aws: EmbeddedAws,
    log: Path,
    *,
    namespaces: Sequence[str] = (),
    metrics_port: int | None = None,
    settings: Mapping[str, str] | None = None,
    spawned: Callable[[ManagedProcess], None] | None = None,
    verbose: bool = False,
    started: str = STARTED_MESSAGE,
) -> ManagedProcess:
    """Starts the operator on the local control plane and the embedded AWS, and waits for its start-up.

    `namespaces` empty means all namespaces; `metrics_port` None means no metrics server;
    `settings` are TURBINE_* variables on top of the defaults; `spawned` runs as soon as the process
    exists, before it has connected to anything (the chaos harness arms the emulator's kill hook there);
    `verbose` adds kopf's debug log (every status patch), which the chaos harness reads back;
    `started` is the log line that says it is up (a standby says it waits for the Lease instead).
    """
    env = {
        **os.environ,
        **aws.environment,
        "KUBECONFIG": str(plane.kubeconfig),
        "TURBINE_METRICS_PORT": str(metrics_port or 0),
        "TURBINE_METRICS_ADDRESS": "127.0.0.1",
        **(settings or {}),
    }
    scope = [f"--namespace={namespace}" for namespace in namespaces] or ["--all-namespaces"]
    operator = ManagedProcess(
        "turbine-operator",
        [sys.executable, "-m", "turbine_operator.cli", "run", *scope, "--log-format", "plain"]
        + (["--verbose"] if verbose else []),
        log,
        env=env,
        # As Kubernetes would: time to finish the ticks under way before SIGKILL.
        stop_grace=IN_FLIGHT_TICK_GRACE_SECONDS + 10,
    )
    try:
        if spawned is not None:
            spawned(operator)
        operator.wait_until(lambda: started in operator.log_tail(200), 60, "start-up")
    except BaseException:
        operator.stop()
        raise
    return operator
