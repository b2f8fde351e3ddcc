"""Benchmark: more than one replica. Hot standby failover time, and the load each label shard carries.

`--mode standby`: two replicas with --leader-elect serve N TurbineStacks; once all are Ready the leader is
SIGKILLed and every spec changed at once; prints how long until the standby leads, until the first and
the last change are Ready, and checks that the standby handled nothing before it led.
`--mode shards`: two replicas with --shard-selector turbine.dev/shard=a and =b serve N/2 TurbineStacks
each; prints each shard's stacks handled, CPU seconds and AWS calls, and any stack handled by both.
Both run at the operator's default intervals against the strict embedded AWS. Usage:
`PYTHONPATH=devtools python bench/replicas.py --mode standby|shards [-n 100]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from turbine_dev.k8s.kube import REPO_ROOT, KubeApi, condition_of, wait_for
from turbine_dev.runs.bench_setup import bench_environment, cpu_seconds
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.probes import aws_calls_from_metrics, turbine_stack
from turbine_dev.runs.processes import ManagedProcess, free_port

BUCKET = "turbine-bench-templates"
NAMESPACE = "bench"
SMALL_CFN = str(REPO_ROOT / "tests" / "fixtures" / "small-cfn")


def _ready_generation(kube: KubeApi, name: str) -> int | None:
    ready = condition_of(kube.get_stack(NAMESPACE, name) or {}, "Ready")
    return int(ready.get("observedGeneration") or 0) if ready and ready["status"] == "True" else None


def _wait_all(kube: KubeApi, names: list[str], generation: int, started: float) -> list[float]:
    done: dict[str, float] = {}

    def all_ready() -> bool:
        for name in names:
            if name not in done and _ready_generation(kube, name) == generation:
                done[name] = time.monotonic() - started
        return len(done) == len(names)

    wait_for(all_ready, 1800, f"all {len(names)} stacks Ready at generation {generation}", interval=0.2)
    return sorted(done.values())


def _handled(log: Path, names: list[str]) -> set[str]:
    text = log.read_text()
    return {name for name in names if f"[{NAMESPACE}/{name}]" in text}


def _standby(kube: KubeApi, start: Any, workdir: Path, count: int) -> None:
    settings = {
        "TURBINE_CFN_DIR": SMALL_CFN,
        "TURBINE_LEADER_ELECT": "1",
        "TURBINE_LEADER_ELECTION_NAMESPACE": NAMESPACE,
    }
    leader: ManagedProcess = start(workdir / "leader.log", settings, "Leading on Lease")
    standby: ManagedProcess = start(workdir / "standby.log", settings, "Waiting to lead on Lease")
    try:
        names = [f"airflow-{index}" for index in range(count)]
        started = time.monotonic()
        for name in names:
            kube.create_stack(NAMESPACE, turbine_stack(name, BUCKET))
        applied = _wait_all(kube, names, 1, started)
        print(f"stacks:                      {count}, all Ready {applied[-1]:.1f} s after the first apply")
        leader.kill()
        killed = time.monotonic()
        for name in names:
            kube.patch_stack(NAMESPACE, name, {"spec": {"workers": {"maxSize": 7}}})
        standby.wait_until(lambda: "Leading on Lease" in standby.log_tail(400), 120, "leading")
        print(f"standby leads:               {time.monotonic() - killed:.1f} s after the leader's SIGKILL")
        changed = _wait_all(kube, names, 2, killed)
        print(
            f"spec changes Ready:          first {changed[0]:.1f} s, "
            f"median {statistics.median(changed):.1f} s, last {changed[-1]:.1f} s after the kill"
        )
        lines = (workdir / "standby.log").read_text().splitlines()
        led = next(index for index, line in enumerate(lines) if "Leading on Lease" in line)
        early = [line for line in lines[:led] if f"[{NAMESPACE}/" in line]
        print(f"handled by both:             {len(early)} log lines of the standby before it led")
    finally:
        standby.stop()
        leader.stop()


def _shards(kube: KubeApi, start: Any, workdir: Path, count: int) -> None:
    shards: dict[str, tuple[ManagedProcess, int]] = {}
    for shard in ("a", "b"):
        port = free_port()
        settings = {"TURBINE_CFN_DIR": SMALL_CFN, "TURBINE_SHARD_SELECTOR": f"turbine.dev/shard={shard}"}
        shards[shard] = (
            start(workdir / f"shard-{shard}.log", settings, "Turbine Operator started", port),
            port,
        )
    try:
        names = {shard: [f"{shard}-{index}" for index in range(count // 2)] for shard in shards}
        cpu = {shard: cpu_seconds(process.pid) for shard, (process, _) in shards.items()}
        started = time.monotonic()
        for shard, listed in names.items():
            for name in listed:
                body = turbine_stack(name, BUCKET)
                body["metadata"]["labels"] = {"turbine.dev/shard": shard}
                kube.create_stack(NAMESPACE, body)
        ready = _wait_all(kube, [name for listed in names.values() for name in listed], 1, started)
        print(
            f"stacks:                      {count} in 2 shards, "
            f"all Ready {ready[-1]:.1f} s after the first apply"
        )
        everything = [name for listed in names.values() for name in listed]
        for shard, (process, port) in shards.items():
            handled = _handled(workdir / f"shard-{shard}.log", everything)
            calls = sum(aws_calls_from_metrics(f"http://127.0.0.1:{port}/metrics").values())
            foreign = sorted(handled - set(names[shard]))
            print(
                f"shard {shard}:                     {len(handled)} stacks handled, "
                f"{cpu_seconds(process.pid) - cpu[shard]:.2f} CPU-s, {calls:.0f} AWS calls, "
                f"{len(foreign)} of another shard"
            )
    finally:
        for process, _ in shards.values():
            process.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["standby", "shards"], required=True)
    parser.add_argument("-n", "--stacks", type=int, default=100)
    options = parser.parse_args()
    with bench_environment([NAMESPACE], BUCKET) as env:
        workdir, plane, aws, kube = env.workdir, env.plane, env.aws, env.kube

        def start(
            log: Path, settings: dict[str, str], started: str, port: int | None = None
        ) -> ManagedProcess:
            return start_operator_process(
                plane, aws, log, namespaces=[NAMESPACE], settings=settings, started=started, metrics_port=port
            )

        if options.mode == "standby":
            _standby(kube, start, workdir, options.stacks)
        else:
            _shards(kube, start, workdir, options.stacks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
