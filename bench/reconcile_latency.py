"""Benchmark: start-up times, apply-to-Ready latency and AWS calls per stack.

Runs the real control plane, the embedded AWS and the operator as a separate process, applies
N TurbineStacks at once (the small stand-in template by default, `--real` for Turbine's own
stack) and prints figures. Usage: `PYTHONPATH=devtools python bench/reconcile_latency.py [-n 10] [--real]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from turbine_dev.controlplane import local_control_plane
from turbine_dev.embedded_aws import embedded_aws
from turbine_dev.kube import REPO_ROOT, KubeApi, wait_for
from turbine_dev.operator_process import start_operator_process
from turbine_dev.probes import MUTATING_OPERATIONS, aws_calls_from_metrics, turbine_stack
from turbine_dev.processes import free_port

BUCKET = "turbine-bench-templates"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--stacks", type=int, default=10)
    parser.add_argument("--real", action="store_true", help="deploy Turbine's real templates from cfn/")
    parser.add_argument("--idle-seconds", type=float, default=20.0, help="how long to watch settled stacks")
    options = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="turbine-bench-"))
    started = time.monotonic()
    with local_control_plane(workdir / "cp") as plane, embedded_aws(workdir) as aws:
        print(f"control plane start: {plane.started_in_seconds:.2f} s (binaries cached)")
        print(f"embedded AWS start:  {time.monotonic() - started - plane.started_in_seconds:.2f} s")
        kube = KubeApi(plane.kubeconfig)
        kube.install_crd()
        kube.create_namespace("bench")
        aws.client("s3").create_bucket(Bucket=BUCKET)
        metrics_port = free_port()
        settings = {"TURBINE_POLL_INTERVAL": "1", "TURBINE_RESYNC_INTERVAL": "600"}
        if not options.real:
            settings["TURBINE_CFN_DIR"] = str(REPO_ROOT / "tests" / "fixtures" / "small-cfn")
        operator_started = time.monotonic()
        operator = start_operator_process(
            plane,
            aws,
            workdir / "operator.log",
            namespaces=["bench"],
            metrics_port=metrics_port,
            settings=settings,
        )
        try:
            print(f"operator start:      {time.monotonic() - operator_started:.2f} s")
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            applied: dict[str, float] = {}
            for index in range(options.stacks):
                name = f"airflow-{index}"
                kube.create_stack("bench", turbine_stack(name, BUCKET))
                applied[name] = time.monotonic()
            ready_after: dict[str, float] = {}

            def all_ready() -> bool:
                for name, applied_at in applied.items():
                    if name not in ready_after:
                        condition = kube.condition("bench", name, "Ready")
                        if condition and condition["status"] == "True":
                            ready_after[name] = time.monotonic() - applied_at
                return len(ready_after) == len(applied)

            wait_for(all_ready, 600, "every stack Ready", interval=0.2)
            latencies = sorted(ready_after.values())
            kind = "real Turbine templates" if options.real else "small template"
            print(f"stacks:              {options.stacks} ({kind})")
            print(
                f"apply -> Ready:      median {statistics.median(latencies):.2f} s, max {latencies[-1]:.2f} s"
            )
            calls = aws_calls_from_metrics(metrics_url)
            total = sum(calls.values())
            mutating = sum(v for k, v in calls.items() if k in MUTATING_OPERATIONS)
            per_stack, mutating_per_stack = total / options.stacks, mutating / options.stacks
            print(f"AWS calls to Ready:  {per_stack:.1f} per stack ({mutating_per_stack:.1f} mutating)")
            time.sleep(options.idle_seconds)
            idle = {k: v - calls.get(k, 0) for k, v in aws_calls_from_metrics(metrics_url).items()}
            print(
                f"idle AWS calls:      {sum(idle.values()):.0f} in {options.idle_seconds:.0f} s for "
                f"{options.stacks} settled stacks (resync every 600 s)"
            )
        finally:
            operator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
