"""Benchmark: what unrelated Secrets cost the operator, which watches only what TurbineStacks reference.

The operator watches each referenced Secret and ConfigMap by name (adapters.kube.reference_watches), so that a
change to one reconciles at once. In a real cluster most Secrets are unrelated (Helm releases, service
account tokens): this creates and then updates N unrelated Secrets in another namespace while one
TurbineStack references a ConfigMap, and prints the operator's resident memory before the Secrets exist,
after they were created and after they were updated, its CPU time, the reconciles the churn caused (it
should cause none), and how long a change to the referenced ConfigMap then takes to be applied.

Usage: `PYTHONPATH=devtools python bench/reference_watch_load.py [-n 10000] [--size 10240]`. With
`--operator-source DIR` the operator runs from another checkout's `operator/` directory (for instance
`git archive <commit> operator | tar -x -C /tmp/old`, then `--operator-source /tmp/old/operator`), to
compare with a version that watched every Secret.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import sys
import time
import urllib.request
from typing import Any

from turbine_dev.k8s.kube import REPO_ROOT, KubeApi, wait_for
from turbine_dev.runs.bench_setup import bench_environment, cpu_seconds, memory_mib
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.probes import turbine_stack
from turbine_dev.runs.processes import free_port

BUCKET = "turbine-bench-templates"
NAMESPACE, NOISE = "bench", "noise"
EXTRA_TEMPLATE = """\
Parameters:
  QueueSuffix: {Type: String}
Resources:
  ExtraQueue:
    Type: AWS::SQS::Queue
    Properties:
      # The stack's unique id, then the suffix: SQS takes at most 80 characters, fewer than the nested stack's
      # name and the suffix can make.
      QueueName: !Join ["-", [!Select [2, !Split ["/", !Ref "AWS::StackId"]], !Ref QueueSuffix]]
"""


def _reconciles(metrics_url: str) -> float:
    with urllib.request.urlopen(metrics_url, timeout=10) as reply:  # noqa: S310 - our own loopback endpoint
        text = reply.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("turbine_reconciles_total{")
    )


def _settle(pid: int, quiet_share: float = 0.05, window: float = 1.0, timeout: float = 300) -> float:
    """Waits until the operator uses less than `quiet_share` of a core; returns when it got there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_seconds(pid)
        time.sleep(window)
        if cpu_seconds(pid) - before < quiet_share * window:
            return time.monotonic() - window
    raise TimeoutError("the operator never went quiet")


def _referencing_stack() -> dict[str, Any]:
    body = turbine_stack("airflow", BUCKET)
    body["spec"]["additionalTemplates"] = [
        {
            "name": "Extra",
            "template": {"configMapKeyRef": {"name": "extras", "key": "extra.yaml"}},
            "parametersFrom": [
                {"name": "QueueSuffix", "configMapKeyRef": {"name": "extras", "key": "suffix"}}
            ],
        }
    ]
    return body


def _put_all(kube: KubeApi, count: int, payload: str) -> None:
    """Creates or replaces the unrelated Secrets, a few at once (the API server takes them faster so)."""
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for done in pool.map(
            lambda index: kube.put_secret(NOISE, f"unrelated-{index}", {"value": payload}), range(count)
        ):
            del done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "-n", "--secrets", type=int, default=1000, help="unrelated Secrets to create and update"
    )
    parser.add_argument("--size", type=int, default=4096, help="bytes of data in each unrelated Secret")
    parser.add_argument(
        "--operator-source", help="run the operator from this directory (another checkout's operator/)"
    )
    options = parser.parse_args()

    with bench_environment([NAMESPACE, NOISE], BUCKET) as env:
        workdir, plane, aws, kube = env.workdir, env.plane, env.aws, env.kube
        kube.put_config_map(NAMESPACE, "extras", {"extra.yaml": EXTRA_TEMPLATE, "suffix": "first"})
        metrics_port = free_port()
        settings = {
            "TURBINE_POLL_INTERVAL": "1",
            "TURBINE_RESYNC_INTERVAL": "600",
            "TURBINE_CFN_DIR": str(REPO_ROOT / "tests" / "fixtures" / "small-cfn"),
        }
        if options.operator_source:
            # Ahead of the editable install's path entry, for the operator process only.
            settings["PYTHONPATH"] = options.operator_source
        # All namespaces, as installed by default: the unrelated Secrets live in another one.
        operator = start_operator_process(
            plane, aws, workdir / "operator.log", metrics_port=metrics_port, settings=settings
        )
        try:
            metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
            kube.create_stack(NAMESPACE, _referencing_stack())
            kube.wait_condition(NAMESPACE, "airflow", "Ready", timeout=120)
            _settle(operator.pid)
            cpu, rss, reconciles = (
                cpu_seconds(operator.pid),
                memory_mib(operator.pid, "VmRSS"),
                _reconciles(metrics_url),
            )
            print(f"settled operator:    {rss:.0f} MiB resident, {cpu:.1f} s CPU so far")

            payload = "x" * options.size
            churn_started = time.monotonic()
            _put_all(kube, options.secrets, payload)
            created = time.monotonic() - churn_started
            _settle(operator.pid)
            after_create = memory_mib(operator.pid, "VmRSS")
            update_started = time.monotonic()
            _put_all(kube, options.secrets, payload[:-1] + "y")
            updated_at = time.monotonic()
            quiet_at = _settle(operator.pid)
            events = 2 * options.secrets
            spent = cpu_seconds(operator.pid) - cpu
            print(
                f"unrelated churn:     {options.secrets} Secrets of {options.size} B created in "
                f"{created:.0f} s, updated in {updated_at - update_started:.0f} s"
            )
            print(
                f"operator cost:       {spent:.2f} s CPU ({1000 * spent / events:.2f} ms per write), "
                f"quiet {max(0.0, quiet_at - updated_at):.1f} s after the last write"
            )
            resident = memory_mib(operator.pid, "VmRSS")
            print(f"operator RSS before: {rss:.0f} MiB (settled, no unrelated Secret yet)")
            print(
                f"operator RSS after:  {after_create:.0f} MiB once created ({after_create - rss:+.0f}), ",
                end="",
            )
            print(
                f"{resident:.0f} MiB once updated ({resident - rss:+.0f}); "
                f"peak {memory_mib(operator.pid):.0f} MiB"
            )
            print(f"reconciles caused:   {_reconciles(metrics_url) - reconciles:.0f}")

            applied = (kube.get_stack(NAMESPACE, "airflow") or {})["status"]["lastAppliedHash"]
            changed_at = time.monotonic()
            kube.put_config_map(NAMESPACE, "extras", {"extra.yaml": EXTRA_TEMPLATE, "suffix": "second"})
            wait_for(
                lambda: (
                    (status := (kube.get_stack(NAMESPACE, "airflow") or {}).get("status", {}))
                    and status.get("lastAppliedHash") not in (None, applied)
                    and status.get("stackStatus") == "UPDATE_COMPLETE"
                ),
                120,
                "the ConfigMap change to be applied",
                interval=0.1,
            )
            print(
                f"reference change:    applied {time.monotonic() - changed_at:.2f} s after the ConfigMap edit"
            )
        finally:
            operator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
