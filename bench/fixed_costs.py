"""Benchmark: what the parts fixed by design cost before the operator does anything of its own.

- botocore: CPU per CloudFormation call (this process's thread time), with the operator's client settings,
  for the six calls that take a stack to Ready (docs/scale.md), against the embedded AWS completing at once.
- kopf: CPU per TurbineStack of an operator that only puts kopf's finalizer on and writes the status
  (bench/kopf_floor_operator.py, with the operator's kopf persistence settings), once, and as often as the
  operator writes to Ready (three status writes, two events), for N TurbineStacks applied at once on the local
  control plane.

Their sum is the least CPU per stack that a kopf operator making these calls and writes through boto3 spends
on this machine: the floor under the operator's own figure (bench/reconcile_latency.py, docs/scale.md).
Usage: `PYTHONPATH=devtools python bench/fixed_costs.py [-n 1000] [--calls-for 200]`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi, condition_of
from turbine_dev.runs.bench_setup import bench_environment, cpu_seconds, memory_mib, operator_writes
from turbine_dev.runs.probes import turbine_stack
from turbine_dev.runs.processes import ManagedProcess
from turbine_operator.adapters.aws.aws_sessions import AwsSessions

BUCKET = "turbine-bench-templates"
FLOOR_OPERATOR = Path(__file__).with_name("kopf_floor_operator.py")
TEMPLATE = '{"Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}'
WRITE_PATTERNS = (1, 3)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", "--stacks", type=int, default=1000, help="TurbineStacks applied at once")
    parser.add_argument("--calls-for", type=int, default=200, help="stacks taken to Ready through botocore")
    return parser.parse_args()


def _botocore(aws: EmbeddedAws, stacks: int) -> None:
    os.environ.update(aws.environment)
    client = AwsSessions().client("cloudformation", aws.region)
    spent: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)

    def call(operation: Callable[..., Any], **arguments: Any) -> Any:
        started = time.thread_time()
        reply = None
        # DescribeStacks of a stack not there yet: an error reply, parsed like any other.
        with contextlib.suppress(ClientError):
            reply = operation(**arguments)
        spent[operation.__name__] += time.thread_time() - started
        calls[operation.__name__] += 1
        return reply

    for index in range(-1, stacks):  # -1: a first stack whose calls load botocore's models, not counted
        name = f"floor-{index + 1}"
        call(client.describe_stacks, StackName=name)
        reply = call(
            client.create_change_set,
            StackName=name,
            ChangeSetName="c1",
            ChangeSetType="CREATE",
            TemplateBody=TEMPLATE,
        )
        call(client.describe_stacks, StackName=name)
        call(client.describe_change_set, ChangeSetName=reply["Id"])
        call(client.execute_change_set, ChangeSetName=reply["Id"])
        call(client.describe_stacks, StackName=name)
        if index < 0:
            spent.clear()
            calls.clear()
    print(f"botocore CPU per call ({stacks} stacks to Ready):")
    for operation, seconds in sorted(spent.items()):
        print(f"  {operation:<22}{seconds * 1000 / calls[operation]:.2f} ms")
    per_call = sum(spent.values()) * 1000 / sum(calls.values())
    total = sum(spent.values()) * 1000 / stacks
    print(f"  the six calls:        {total:.1f} ms per stack (mean {per_call:.2f} ms per call)")


def _kopf(kube: KubeApi, kubeconfig: Path, workdir: Path, stacks: int, writes: int) -> None:
    namespace = f"floor-{writes}"
    kube.create_namespace(namespace)
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "TURBINE_FLOOR_WRITES": str(writes)}
    argv = [sys.executable, "-m", "kopf", "run", "--standalone", "--log-format=plain"]
    operator = ManagedProcess(
        "kopf-floor",
        [*argv, f"--namespace={namespace}", str(FLOOR_OPERATOR)],
        workdir / f"{namespace}.log",
        env=env,
    )
    try:
        operator.wait_until(lambda: "Activity 'configure' succeeded" in operator.log_tail(50), 60, "start-up")
        time.sleep(2.0)  # the watch stream is opened after the start-up activities
        cpu_before, requests_before = cpu_seconds(operator.pid), kube.request_counts()
        for index in range(stacks):
            kube.create_stack(namespace, turbine_stack(f"airflow-{index}", BUCKET))
        ready: set[str] = set()
        for body in kube.watch_stacks(namespace, timeout=900):
            if (condition_of(body, "Ready") or {}).get("status") == "True":
                ready.add(body["metadata"]["name"])
                if len(ready) == stacks:
                    break
        if len(ready) < stacks:
            missing = stacks - len(ready)
            raise TimeoutError(f"{missing} TurbineStacks not Ready in 900 s: see {operator.log_path}")
        cpu = cpu_seconds(operator.pid) - cpu_before
        print(
            f"kopf, {writes} status write{'s' if writes > 1 else ''}: {cpu * 1000 / stacks:.1f} ms per stack "
            f"({cpu:.1f} s for {stacks}), peak memory {memory_mib(operator.pid):.0f} MiB"
        )
        print(f"  API writes:           {operator_writes(kube, requests_before, stacks)}")
    finally:
        operator.stop()


def main() -> int:
    options = _arguments()
    with bench_environment([], BUCKET) as env:
        env.aws.configure(
            operation_seconds=0.0,
            change_set_seconds=0.0,
            change_set_delete_seconds=0.0,
            consistency_seconds=0.0,
        )
        if options.calls_for:
            _botocore(env.aws, options.calls_for)
        for writes in WRITE_PATTERNS:
            _kopf(env.kube, env.plane.kubeconfig, env.workdir, options.stacks, writes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
