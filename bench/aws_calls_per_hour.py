"""Benchmark: AWS calls per Ready, unchanged TurbineStack per hour, at the default intervals.

An hour of wall clock per run is impractical, so each periodic activity is measured on real
Turbine stacks and the figures are combined at the default intervals: a resync every 600 s
(DescribeStacks, GetTemplate), a resource drift detection every hour (DetectStackDrift and the
reads that follow, nested stacks included) and a worker refresh every 60 s (batched
DescribeAutoScalingGroups and GetMetricData for all stacks). Usage:
`PYTHONPATH=devtools python bench/aws_calls_per_hour.py [-n 100]`.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid

from turbine_dev.bench_setup import bench_environment
from turbine_dev.kube import KubeApi, wait_for
from turbine_dev.operator_process import start_operator_process
from turbine_dev.probes import aws_calls_from_metrics, turbine_stack
from turbine_dev.processes import free_port

BUCKET = "turbine-bench-templates"
NAMESPACE = "bench"
DEFAULT_RESYNC, DEFAULT_DRIFT, DEFAULT_WORKERS = 600.0, 3600.0, 60.0


def since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {op: count - before.get(op, 0) for op, count in after.items() if count - before.get(op, 0) > 0}


def touch_all(kube: KubeApi, names: list[str], key: str, value: str) -> None:
    for name in names:
        kube.patch_stack(NAMESPACE, name, {"metadata": {"annotations": {key: value}}})


def main() -> int:  # noqa: PLR0915 - one straight measurement script
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--stacks", type=int, default=100)
    parser.add_argument("--window", type=float, default=30.0, help="seconds of idle time to measure")
    options = parser.parse_args()
    with bench_environment([NAMESPACE], BUCKET) as env:
        workdir, plane, aws, kube = env.workdir, env.plane, env.aws, env.kube
        port = free_port()
        workers_interval = 5.0  # measured per refresh, then scaled to the 60 s default
        settings = {
            "TURBINE_POLL_INTERVAL": "1",
            "TURBINE_RESYNC_INTERVAL": str(DEFAULT_RESYNC),
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
            refreshes = options.window / workers_interval
            worker_calls = sum(idle.get(op, 0) for op in ("DescribeAutoScalingGroups", "GetMetricData"))
            other_idle = {
                op: n for op, n in idle.items() if op not in ("DescribeAutoScalingGroups", "GetMetricData")
            }
            per_refresh = worker_calls / refreshes
            print(
                f"worker refresh:            {per_refresh:.1f} calls for all {options.stacks} stacks "
                f"({worker_calls:.0f} in {refreshes:.0f} refreshes); other idle calls: {other_idle or 'none'}"
            )

            before = aws_calls_from_metrics(url)
            touch_all(kube, names, "bench.turbine.dev/touch", "1")  # an annotation change runs one resync
            time.sleep(5)
            resync = since(before, aws_calls_from_metrics(url))
            resync.pop("DescribeAutoScalingGroups", None)
            resync.pop("GetMetricData", None)
            per_resync = sum(resync.values()) / options.stacks
            print(f"resync:                    {per_resync:.1f} calls per stack {resync}")

            before = aws_calls_from_metrics(url)
            touch_all(kube, names, "turbine.dev/requested-drift-check", "bench")

            def detected() -> bool:
                return all(
                    ((kube.get_stack(NAMESPACE, n) or {}).get("status", {}).get("drift") or {}).get(
                        "lastRequest"
                    )
                    == "bench"
                    and not (kube.get_stack(NAMESPACE, n) or {})["status"]["drift"].get("detectionId")
                    for n in names
                )

            wait_for(detected, 600, "a drift detection of every stack", interval=2)
            drift = since(before, aws_calls_from_metrics(url))
            for operation in ("DescribeAutoScalingGroups", "GetMetricData"):
                drift.pop(operation, None)
            for operation, count in resync.items():  # the annotation change also ran a resync
                drift[operation] = drift.get(operation, 0) - count
            drift = {operation: count for operation, count in drift.items() if count > 0}
            per_drift = sum(drift.values()) / options.stacks
            print(f"drift detection:           {per_drift:.1f} calls per stack {drift}")

            hourly = (
                per_resync * 3600 / DEFAULT_RESYNC
                + per_drift * 3600 / DEFAULT_DRIFT
                + per_refresh * 3600 / DEFAULT_WORKERS / options.stacks
            )
            defaults = "resync 600 s, drift 1 h, workers 60 s"
            total = hourly * options.stacks
            print(f"AWS calls per stack-hour:  {hourly:.1f} at the defaults ({defaults})")
            print(
                f"all stacks:                {total:.0f} per hour for {options.stacks}; none changes a stack"
            )
        finally:
            operator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
