"""What every benchmark in bench/ starts with: the local control plane, the embedded AWS, the CRD, a
namespace and a template bucket; and the /proc readings they report (CPU seconds, memory)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from turbine_dev.aws.embedded_aws import EmbeddedAws, embedded_aws
from turbine_dev.k8s.controlplane import ControlPlane, local_control_plane
from turbine_dev.k8s.kube import KubeApi

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WRITE_VERBS = frozenset({"POST", "PUT", "PATCH", "DELETE", "APPLY"})
# Writes counted by the API server that are not the operator's: a benchmark's own creates of TurbineStacks and
# the control plane's leases.
NOT_THE_OPERATORS = frozenset({("POST", "turbinestacks", ""), ("PUT", "leases", "")})


@dataclasses.dataclass(frozen=True)
class BenchEnvironment:
    workdir: Path
    plane: ControlPlane
    aws: EmbeddedAws
    kube: KubeApi


@contextlib.contextmanager
def bench_environment(namespaces: Sequence[str], bucket: str) -> Iterator[BenchEnvironment]:
    workdir = Path(tempfile.mkdtemp(prefix="turbine-bench-"))
    with local_control_plane(workdir / "cp") as plane, embedded_aws(workdir) as aws:
        kube = KubeApi(plane.kubeconfig)
        kube.install_crd()
        for namespace in namespaces:
            kube.create_namespace(namespace)
        aws.client("s3").create_bucket(Bucket=bucket)
        yield BenchEnvironment(workdir, plane, aws, kube)


def cpu_seconds(pid: int) -> float:
    """User and system CPU of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mib(pid: int, field: str = "VmHWM") -> float:
    """Peak (VmHWM) or current (VmRSS) resident memory of the process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def operator_writes(kube: KubeApi, before: dict[tuple[str, str, str], float], stacks: int) -> str:
    """The operator's writes to the API server per stack since `before` (`KubeApi.request_counts`), by verb
    and resource: each write to a TurbineStack is also a watch event kopf processes."""
    writes = {
        key: n - before.get(key, 0.0)
        for key, n in kube.request_counts().items()
        if key[0] in WRITE_VERBS and key not in NOT_THE_OPERATORS and n > before.get(key, 0.0)
    }
    shares = ", ".join(
        f"{verb} {resource}{'/' + sub if sub else ''} {n / stacks:.2f}"
        for (verb, resource, sub), n in sorted(writes.items(), key=lambda item: -item[1])
    )
    return f"{sum(writes.values()) / stacks:.1f} per stack ({shares})"
