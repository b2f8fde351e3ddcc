"""Hot standby on a coordination.k8s.io Lease: two replicas, one active; when it is killed the standby
takes over and reconciles, and no TurbineStack is ever handled by both."""

from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path

import kubernetes
import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi, condition_of, wait_for
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.probes import turbine_stack
from turbine_dev.runs.processes import ManagedProcess, free_port

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed")]

LEADING, WAITING = "Leading on Lease", "Waiting to lead on Lease"


def _replica(
    plane: ControlPlane,
    aws: EmbeddedAws,
    templates: Path,
    namespace: str,
    log: Path,
    started: str,
    metrics_port: int | None = None,
) -> ManagedProcess:
    settings = {
        "TURBINE_CFN_DIR": str(templates),
        "TURBINE_LEADER_ELECT": "1",
        "TURBINE_LEADER_ELECTION_NAMESPACE": namespace,
    }
    return start_operator_process(
        plane, aws, log, namespaces=[namespace], settings=settings, started=started, metrics_port=metrics_port
    )


def _leading(port: int) -> float | None:
    """turbine_operator_leading as the replica serves it on its metrics port, None when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    found = re.search(r"^turbine_operator_leading (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else None


def _holder(leases: kubernetes.client.CoordinationV1Api, namespace: str) -> str | None:
    spec = leases.read_namespaced_lease("turbine-operator", namespace).spec
    return None if spec is None else spec.holder_identity


def _handled(log: Path, namespace: str, name: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if f"[{namespace}/{name}]" in line]


def _ready_at(kube: KubeApi, namespace: str, name: str, generation: int) -> bool:
    ready = condition_of(kube.get_stack(namespace, name) or {}, "Ready")
    return bool(ready and ready["status"] == "True" and ready.get("observedGeneration") == generation)


def test_the_standby_takes_over_when_the_leader_dies(
    control_plane: ControlPlane,
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    small_templates: Path,
    tmp_path: Path,
) -> None:
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    first_port, second_port = free_port(), free_port()
    first = _replica(
        control_plane, aws_environment, small_templates, namespace, first_log, LEADING, first_port
    )
    second = _replica(
        control_plane, aws_environment, small_templates, namespace, second_log, WAITING, second_port
    )
    try:
        kube.create_stack(namespace, turbine_stack("ha", template_bucket))
        wait_for(lambda: _ready_at(kube, namespace, "ha", 1), 120, "Ready under the first replica")
        assert _handled(first_log, namespace, "ha")
        assert not _handled(second_log, namespace, "ha")
        assert LEADING not in second_log.read_text()
        # Both answer their scrape, so neither is down; the standby says it waits.
        assert (_leading(first_port), _leading(second_port)) == (1.0, 0.0)

        first.kill()
        killed = time.monotonic()
        kube.patch_stack(namespace, "ha", {"spec": {"workers": {"maxSize": 7}}})
        wait_for(lambda: _ready_at(kube, namespace, "ha", 2), 120, "the spec change Ready under the standby")
        print(f"standby reconciled the spec change {time.monotonic() - killed:.1f} s after the leader's kill")

        # The standby handled nothing before it led.
        lines = second_log.read_text().splitlines()
        led = next(index for index, line in enumerate(lines) if LEADING in line)
        assert not any(f"[{namespace}/ha]" in line for line in lines[:led])
        assert any(f"[{namespace}/ha]" in line for line in lines[led:])
        wait_for(lambda: _leading(second_port) == 1.0, 30, "the new leader's metrics on the same port")
    finally:
        second.stop()
        first.stop()


def test_a_clean_shutdown_hands_the_lease_over_at_once(
    control_plane: ControlPlane,
    kube: KubeApi,
    aws_environment: EmbeddedAws,
    namespace: str,
    small_templates: Path,
    tmp_path: Path,
) -> None:
    first = _replica(control_plane, aws_environment, small_templates, namespace, tmp_path / "a.log", LEADING)
    second = _replica(control_plane, aws_environment, small_templates, namespace, tmp_path / "b.log", WAITING)
    leases = kubernetes.client.CoordinationV1Api(kube.api_client)
    try:
        assert _holder(leases, namespace)
        first.stop()  # SIGTERM: kopf stops, then the Lease is released
        # Released (no holder), or already taken by the standby: either way it did not expire.
        holder = _holder(leases, namespace)
        assert holder in (None, "") or holder.endswith(f"_{second.pid}")
        second.wait_until(lambda: LEADING in second.log_tail(200), 60, "taking over the released Lease")
    finally:
        second.stop()
        first.stop()
