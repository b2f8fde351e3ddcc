"""`make demo`: the whole job on embedded defaults, then a clean exit.

Starts the local control plane and the embedded AWS, installs the CRD, starts the operator as a
user would (`turbine-operator run`), applies examples/turbine-stack.yaml, follows its progress
and exits 0 once it is Ready (non-zero with the reason otherwise). Everything it started is
stopped on the way out, Ctrl-C included. DEMO_KEEP=1 keeps it all running until Ctrl-C.
DEMO_NAMESPACE=<name> applies the example in that namespace instead (created if needed), e.g. a
long one to see that every stack name CloudFormation accepts works. The embedded AWS is the
strict one (docs/embedded-aws.md): operations take time, as on AWS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from turbine_dev.aws.embedded_aws import EmbeddedAws, embedded_aws
from turbine_dev.k8s.controlplane import ControlPlane, local_control_plane
from turbine_dev.k8s.kube import REPO_ROOT, KubeApi
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.processes import ManagedProcess, free_port, terminating_signals_raise

EXAMPLE = REPO_ROOT / "examples" / "turbine-stack.yaml"
READY_TIMEOUT = float(os.environ.get("DEMO_TIMEOUT", "300"))


def say(message: str) -> None:
    print(f"demo: {message}", flush=True)


def kubectl(plane: ControlPlane, *args: str) -> str:
    result = subprocess.run(
        ["kubectl", "--kubeconfig", str(plane.kubeconfig), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def start_operator(plane: ControlPlane, aws: EmbeddedAws, workdir: Path, namespace: str) -> ManagedProcess:
    port = free_port()
    operator = start_operator_process(
        plane,
        aws,
        workdir / "operator.log",
        namespaces=[namespace],
        metrics_port=port,
        settings={"TURBINE_POLL_INTERVAL": "2", "TURBINE_WORKERS_INTERVAL": "2"},
    )
    say(f"operator running (pid {operator.pid}), metrics on 127.0.0.1:{port}/metrics")
    return operator


def follow(kube: KubeApi, namespace: str, name: str, operator: ManagedProcess) -> dict[str, Any]:
    """Prints each change of the stack's state; returns the Ready condition when settled or timed out."""
    deadline = time.monotonic() + READY_TIMEOUT
    last_line = ""
    ready: dict[str, Any] = {}
    while time.monotonic() < deadline:
        if not operator.running():
            raise RuntimeError(f"the operator exited:\n{operator.log_tail()}")
        body = kube.get_stack(namespace, name) or {}
        status = body.get("status", {})
        ready = next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})
        stack_status, ready_status = status.get("stackStatus", "-"), ready.get("status", "-")
        line = f"{stack_status:<22} Ready={ready_status:<5} {ready.get('message', '')}"
        if line != last_line:
            say(line)
            last_line = line
        current = status.get("observedGeneration") == body.get("metadata", {}).get("generation")
        stalled = any(c["type"] == "Stalled" and c["status"] == "True" for c in status.get("conditions", []))
        if current and (ready.get("status") == "True" or stalled):
            return ready
        time.sleep(1)
    return ready


def show_workers(kube: KubeApi, namespace: str, name: str) -> None:
    """Waits briefly for the first worker figures, which arrive on the operator's worker interval."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        workers = (kube.get_stack(namespace, name) or {}).get("status", {}).get("workers")
        if workers:
            say(
                f"workers: {workers['inService']} in service of {workers['desired']} desired "
                f"(min {workers['min']}, max {workers['max']})"
            )
            return
        time.sleep(1)


def keep_running(plane: ControlPlane, aws: EmbeddedAws) -> None:
    say("DEMO_KEEP=1: everything stays up until Ctrl-C. In another shell:")
    print(f"  export KUBECONFIG={plane.kubeconfig}")
    print("  kubectl get turbinestacks -A -o wide")
    for key, value in aws.environment.items():
        print(f"  export {key}={value}")
    print("  # boto3 and the AWS CLI now reach the embedded AWS, e.g. aws cloudformation describe-stacks")
    while True:
        time.sleep(3600)


def run() -> int:
    manifest = yaml.safe_load(EXAMPLE.read_text())
    manifest["metadata"]["namespace"] = os.environ.get("DEMO_NAMESPACE") or manifest["metadata"]["namespace"]
    namespace, name = manifest["metadata"]["namespace"], manifest["metadata"]["name"]
    keep = os.environ.get("DEMO_KEEP") == "1"
    workdir = Path(tempfile.mkdtemp(prefix="turbine-demo-"))
    started = time.monotonic()
    try:
        with terminating_signals_raise(), local_control_plane(workdir / "control-plane") as plane:
            say(f"control plane up in {plane.started_in_seconds:.1f} s at {plane.server}")
            with embedded_aws(workdir) as aws:
                say(f"embedded AWS (moto, strict CloudFormation) at {aws.endpoint_url}")
                kube = KubeApi(plane.kubeconfig)
                kube.install_crd()
                say("CRD turbinestacks.turbine.dev installed")
                if namespace != "default":
                    kube.create_namespace(namespace)
                example = workdir / "turbine-stack.yaml"
                example.write_text(yaml.safe_dump(manifest, sort_keys=False))
                aws.client("s3").create_bucket(Bucket=manifest["spec"]["templateBucket"]["name"])
                operator = start_operator(plane, aws, workdir, namespace)
                try:
                    say(kubectl(plane, "apply", "-f", str(example)).strip())
                    ready = follow(kube, namespace, name, operator)
                    if ready.get("status") == "True":
                        show_workers(kube, namespace, name)
                    print(kubectl(plane, "get", "turbinestacks", "-A", "-o", "wide"), end="", flush=True)
                    if ready.get("status") != "True":
                        say(
                            f"NOT READY after {time.monotonic() - started:.0f} s: {ready.get('reason')}: "
                            f"{ready.get('message')}"
                        )
                        say(f"operator log: {operator.log_path}")
                        return 1
                    say(f"{namespace}/{name} is Ready after {time.monotonic() - started:.0f} s")
                    if keep:
                        keep_running(plane, aws)
                finally:
                    operator.stop()
    except KeyboardInterrupt:
        say("interrupted; everything started by the demo has been stopped")
        return 130
    finally:
        # Everything in it (kubeconfig, certificates, logs) belonged to processes that are gone now.
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(run())
