"""Benchmark: AWS calls per Ready, unchanged TurbineStack per hour, at the default intervals.

An hour of wall clock per run is impractical, so each periodic activity is measured on real Turbine
stacks and the figures are combined at the defaults:
- the fleet listing every 300 s (ListStacks for the whole region, measured as calls per listing);
- each stack's own resync every 12 h (DescribeStacks, GetTemplate only after the stack moved);
- a resource drift detection every 6 h, each detection taking `--drift-seconds` (60 s, as a Turbine
  stack's takes on AWS) and read at the operator's default spacing (DetectStackDrift and the reads
  that follow, nested stacks included);
- worker figures every 300 s (batched DescribeAutoScalingGroups and GetMetricData for all stacks).
Everything else a settled stack might call in the idle window is printed: it should be nothing.
Usage: `PYTHONPATH=devtools python bench/aws_calls_per_hour.py [-n 100]`.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid

from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.bench_setup import bench_environment
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.probes import aws_calls_from_metrics, turbine_stack
from turbine_dev.runs.processes import free_port

BUCKET = "turbine-bench-templates"
NAMESPACE = "bench"
# The operator's defaults (adapters/settings.py, core/api/spec.py).
DEFAULT_LISTING, DEFAULT_RESYNC, DEFAULT_DRIFT, DEFAULT_WORKERS = 300.0, 43200.0, 21600.0, 300.0
WORKER_OPERATIONS = ("DescribeAutoScalingGroups", "GetMetricData")


def since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {op: count - before.get(op, 0) for op, count in after.items() if count - before.get(op, 0) > 0}


def without(calls: dict[str, float], operations: tuple[str, ...]) -> dict[str, float]:
    return {op: n for op, n in calls.items() if op not in operations}


def touch_all(kube: KubeApi, names: list[str], key: str, value: str) -> None:
    for name in names:
        kube.patch_stack(NAMESPACE, name, {"metadata": {"annotations": {key: value}}})


def main() -> int:  # noqa: PLR0915 - one straight measurement script
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--stacks", type=int, default=100)
    parser.add_argument("--window", type=float, default=30.0, help="seconds of idle time to measure")
    parser.add_argument("--drift-seconds", type=float, default=60.0, help="how long a detection takes")
    options = parser.parse_args()
    with bench_environment([NAMESPACE], BUCKET) as env:
        workdir, plane, aws, kube = env.workdir, env.plane, env.aws, env.kube
        aws.configure(drift_seconds=options.drift_seconds)
        port = free_port()
        listing_interval, workers_interval = 5.0, 5.0  # measured per listing and refresh, then scaled
        settings = {
            "TURBINE_LISTING_INTERVAL": str(listing_interval),
            "TURBINE_WORKERS_INTERVAL": str(workers_interval),
            # Only how fast the bench runs: the count of calls per detection does not depend on it.
            "TURBINE_DRIFT_DETECTIONS_PER_MINUTE": "100000",
        }
        operator = start_operator_process(
            plane, aws, workdir / "operator.log", namespaces=[NAMESPACE], metrics_port=port, settings=settings
        )
        try:
            url = f"http://127.0.0.1:{port}/metrics"
            names = [f"airflow-{index}" for index in range(options.stacks)]
            started = time.monotonic()
            for name in names:
                kube.create_stack(
                    NAMESPACE, turbine_stack(name, BUCKET, stackName=f"b{uuid.uuid4().hex[:6]}")
                )

            def settled() -> bool:
                for name in names:
                    status = (kube.get_stack(NAMESPACE, name) or {}).get("status", {})
                    if not (status.get("drift") or {}).get("lastCheckTime") or not status.get("workers"):
                        return False
                return True

            wait_for(settled, 1800, "every stack Ready, drift-checked and with worker figures", interval=2)
            print(
                f"stacks:                    {options.stacks} real Turbine stacks, settled in "
                f"{time.monotonic() - started:.0f} s"
            )

            before = aws_calls_from_metrics(url)
            time.sleep(options.window)
            idle = since(before, aws_calls_from_metrics(url))
            per_listing = idle.get("ListStacks", 0) / (options.window / listing_interval)
            per_refresh = sum(idle.get(op, 0) for op in WORKER_OPERATIONS) / (
                options.window / workers_interval
            )
            others = without(idle, (*WORKER_OPERATIONS, "ListStacks"))
            print(
                f"fleet listing:             {per_listing:.1f} calls per listing of {options.stacks} stacks"
            )
            print(
                f"worker refresh:            {per_refresh:.1f} calls per refresh of {options.stacks} stacks"
            )
            print(f"other idle calls:          {others or 'none'} in {options.window:.0f} s")

            before = aws_calls_from_metrics(url)
            touch_all(kube, names, "bench.turbine.dev/touch", "1")  # an annotation change runs one resync
            time.sleep(5)
            resync = without(since(before, aws_calls_from_metrics(url)), (*WORKER_OPERATIONS, "ListStacks"))
            per_resync = sum(resync.values()) / options.stacks
            print(f"resync:                    {per_resync:.1f} calls per stack {resync}")

            before = aws_calls_from_metrics(url)
            touch_all(kube, names, "turbine.dev/requested-drift-check", "bench")

            def detected() -> bool:
                for name in names:
                    drift = ((kube.get_stack(NAMESPACE, name) or {}).get("status", {}).get("drift")) or {}
                    if drift.get("lastRequest") != "bench" or drift.get("detectionId"):
                        return False
                return True

            wait_for(detected, 900, "a drift detection of every stack", interval=2)
            drift = without(since(before, aws_calls_from_metrics(url)), (*WORKER_OPERATIONS, "ListStacks"))
            for operation, count in resync.items():  # the annotation change also ran a resync
                drift[operation] = drift.get(operation, 0) - count
            drift = {operation: count for operation, count in drift.items() if count > 0}
            per_drift = sum(drift.values()) / options.stacks
            print(f"drift detection:           {per_drift:.1f} calls per stack {drift}")

            hourly = {
                "listing": per_listing * 3600 / DEFAULT_LISTING / options.stacks,
                "resync": per_resync * 3600 / DEFAULT_RESYNC,
                "drift": per_drift * 3600 / DEFAULT_DRIFT,
                "workers": per_refresh * 3600 / DEFAULT_WORKERS / options.stacks,
            }
            total = sum(hourly.values())
            parts = ", ".join(f"{name} {value:.3f}" for name, value in hourly.items())
            print(f"AWS calls per stack-hour:  {total:.2f} at the defaults ({parts})")
            print(f"all stacks:                {total * options.stacks:.0f} per hour for {options.stacks}")
        finally:
            operator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
