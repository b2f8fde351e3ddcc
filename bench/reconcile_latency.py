"""Benchmark: apply-to-Ready and spec-change-to-Ready latency, operator CPU and memory, AWS calls per stack.

Runs the real control plane, the embedded AWS and the operator as a separate process at its default
intervals, applies N TurbineStacks at once, or `--one-at-a-time` (the small stand-in template by default,
`--real` for Turbine's own stack), then changes every spec once, and prints figures (the operator's writes
to the API server from the API server's own request counts). `--instant` makes CloudFormation complete change
sets and stacks at once, as in the comparison with peer operators; without it the strict emulator's operation
times apply. Usage:
`PYTHONPATH=devtools python bench/reconcile_latency.py [-n 10] [--real] [--instant]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from turbine_dev.k8s.kube import REPO_ROOT, KubeApi, condition_of
from turbine_dev.runs.bench_setup import bench_environment, cpu_seconds, memory_mib, operator_writes
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.probes import MUTATING_OPERATIONS, aws_calls_from_metrics, turbine_stack
from turbine_dev.runs.processes import free_port

BUCKET = "turbine-bench-templates"
NAMESPACE = "bench"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--stacks", type=int, default=10)
    parser.add_argument("--real", action="store_true", help="deploy Turbine's real templates from cfn/")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="how long to watch settled stacks")
    parser.add_argument("--poll-interval", help="TURBINE_POLL_INTERVAL (default: the operator's own, 15 s)")
    parser.add_argument("--instant", action="store_true", help="CloudFormation completes at once")
    parser.add_argument("--no-change", action="store_true", help="stop after the applies (large N)")
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="apply (and change) each stack once the previous is Ready",
    )
    return parser.parse_args()


def _until_ready(kube: KubeApi, started: dict[str, float], generation: int) -> list[float]:
    """Seconds from each start to Ready True for that generation, sorted."""
    ready_after: dict[str, float] = {}

    def see(body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        ready = condition_of(body, "Ready") or {}
        current = ready.get("status") == "True" and ready.get("observedGeneration") == generation
        if current and name in started and name not in ready_after:
            ready_after[name] = time.monotonic() - started[name]

    # A watch, not polling: a GET per stack every 0.1 s was 10,000 requests a second at N = 1,000, and even a
    # LIST a round cost the machine more CPU than the operator's own, so every figure measured the benchmark.
    for event in kube.watch_stacks(NAMESPACE, timeout=900):
        see(event)
        if len(ready_after) == len(started):
            break
    if len(ready_after) < len(started):
        raise TimeoutError(f"{len(started) - len(ready_after)} stacks not Ready within 900 s")
    return sorted(ready_after.values())


def _print_latency(what: str, latencies: list[float]) -> None:
    median = statistics.median(latencies)
    print(f"{what:<22}median {median:.2f} s, max {latencies[-1]:.2f} s")


def _idle(pid: int, metrics_url: str, seconds: float, stacks: int) -> None:
    """What settled stacks cost: AWS calls and operator CPU over `seconds` (after a short settling)."""
    # The last status writes, and every settled timer's first look (within 1.5 poll intervals of Ready).
    time.sleep(30.0)
    before, cpu_before = aws_calls_from_metrics(metrics_url), cpu_seconds(pid)
    time.sleep(seconds)
    cpu = cpu_seconds(pid) - cpu_before
    calls = sum(aws_calls_from_metrics(metrics_url).values()) - sum(before.values())
    print(f"idle AWS calls:      {calls:.0f} in {seconds:.0f} s for {stacks} settled stacks")
    print(f"idle operator CPU:   {cpu * 100 / seconds:.2f} % of a core ({cpu:.2f} s in {seconds:.0f} s)")


def main() -> int:
    options = _arguments()
    with bench_environment([NAMESPACE], BUCKET) as env:
        workdir, plane, aws, kube = env.workdir, env.plane, env.aws, env.kube
        if options.instant:
            aws.configure(operation_seconds=0.0, change_set_seconds=0.0, change_set_delete_seconds=0.0)
        metrics_port = free_port()
        settings: dict[str, str] = {}  # the operator's defaults
        if options.poll_interval:
            settings["TURBINE_POLL_INTERVAL"] = options.poll_interval
        if not options.real:
            settings["TURBINE_CFN_DIR"] = str(REPO_ROOT / "tests" / "fixtures" / "small-cfn")
        operator = start_operator_process(
            plane,
            aws,
            workdir / "operator.log",
            namespaces=[NAMESPACE],
            metrics_port=metrics_port,
            settings=settings,
        )
        try:
            kind = "real Turbine templates" if options.real else "small template"
            timing = "instant CloudFormation" if options.instant else "timed CloudFormation operations"
            poll = f"poll interval {options.poll_interval or 'default'}"
            print(f"stacks:              {options.stacks} ({kind}, {timing}, {poll})")
            cpu_before, requests_before = cpu_seconds(operator.pid), kube.request_counts()
            applied: dict[str, float] = {}
            latencies: list[float] = []
            for index in range(options.stacks):
                kube.create_stack(NAMESPACE, turbine_stack(f"airflow-{index}", BUCKET))
                applied[f"airflow-{index}"] = time.monotonic()
                if options.one_at_a_time:
                    latencies += _until_ready(kube, {f"airflow-{index}": applied[f"airflow-{index}"]}, 1)
            _print_latency("apply -> Ready:", sorted(latencies) or _until_ready(kube, applied, 1))
            cpu = cpu_seconds(operator.pid) - cpu_before
            print(
                f"operator CPU:        {cpu:.2f} s to Ready ({cpu * 1000 / options.stacks:.1f} ms per stack)"
            )
            print(f"API writes to Ready: {operator_writes(kube, requests_before, options.stacks)}")
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            calls = aws_calls_from_metrics(metrics_url)
            mutating = sum(v for k, v in calls.items() if k in MUTATING_OPERATIONS)
            print(
                f"AWS calls to Ready:  {sum(calls.values()) / options.stacks:.1f} per stack "
                f"({mutating / options.stacks:.1f} mutating)"
            )
            by_operation = sorted(calls.items(), key=lambda item: -item[1])
            shares = ", ".join(f"{op} {n / options.stacks:.2f}" for op, n in by_operation)
            print(f"  by operation:      {shares}")
            if options.no_change:
                print(f"peak memory:         {memory_mib(operator.pid):.0f} MiB")
                _idle(operator.pid, metrics_url, options.idle_seconds, options.stacks)
                return 0
            changed: dict[str, float] = {}
            latencies = []
            for name in applied:
                kube.patch_stack(NAMESPACE, name, {"spec": {"workers": {"maxSize": 7}}})
                changed[name] = time.monotonic()
                if options.one_at_a_time:
                    latencies += _until_ready(kube, {name: changed[name]}, 2)
            # All at once, more than --max-concurrent-updates (10) stacks update in stages.
            _print_latency("spec change -> Ready:", sorted(latencies) or _until_ready(kube, changed, 2))
            print(f"peak memory:         {memory_mib(operator.pid):.0f} MiB")
            _idle(operator.pid, metrics_url, options.idle_seconds, options.stacks)
        finally:
            operator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
