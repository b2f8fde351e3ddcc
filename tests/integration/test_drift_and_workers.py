"""Drift of both kinds, worker figures and the metrics that report them, on the real Turbine stack."""

from __future__ import annotations

import subprocess
import time
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY, generate_latest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.aws.metric_time import DeployedLoadFunction
from turbine_dev.k8s.binaries import ensure_promtool
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import turbine_stack, update_outside_operator
from turbine_operator.core.naming import default_stack_name

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed", "kubeconfig_environment")]

REQUEST = "turbine.dev/requested-drift-check"


def _short_stack_name() -> str:
    # moto names nested stacks after their parents without truncating, so keep the master short.
    return f"t{uuid.uuid4().hex[:6]}"


def _metric(name: str, namespace: str, stack: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"namespace": namespace, "name": stack, **labels})


def _drift(kube: KubeApi, namespace: str, name: str) -> dict[str, Any]:
    return dict((kube.get_stack(namespace, name) or {}).get("status", {}).get("drift") or {})


def _request_drift_check(kube: KubeApi, namespace: str, name: str, token: str) -> None:
    kube.patch_stack(namespace, name, {"metadata": {"annotations": {REQUEST: token}}})


def test_resource_drift_is_reported_and_clears(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    autoscaling = aws_environment.client("autoscaling")
    with running_operator([namespace]):
        manifest = turbine_stack(
            "drifty", template_bucket, stackName=_short_stack_name(), workers={"minSize": 1, "maxSize": 4}
        )
        kube.create_stack(namespace, manifest)
        body = kube.wait_condition(namespace, "drifty", "Ready", timeout=90)
        group = body["status"]["outputs"]["WorkerAutoScalingGroupName"]
        wait_for(
            lambda: _drift(kube, namespace, "drifty").get("resourceDriftStatus") == "IN_SYNC",
            30,
            "first check",
        )
        assert kube.condition(namespace, "drifty", "Drifted")["status"] == "False"  # type: ignore[index]

        autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, MaxSize=9)
        _request_drift_check(kube, namespace, "drifty", "after-max-size-change")
        drift = wait_for(
            lambda: (d := _drift(kube, namespace, "drifty")).get("driftedResourceCount") and d,
            30,
            "resource drift",
        )
        assert kube.condition(namespace, "drifty", "Drifted")["status"] == "True"  # type: ignore[index]
        assert kube.condition(namespace, "drifty", "Ready")["status"] == "True"  # type: ignore[index]
        [drifted] = [
            r for r in drift["driftedResources"] if r["resourceType"] == "AWS::AutoScaling::AutoScalingGroup"
        ]
        assert drifted["status"] == "MODIFIED"
        assert "/MaxSize: 4 -> 9" in drifted["differences"]
        assert _metric("turbine_stack_drifted", namespace, "drifty") == 1.0
        assert (_metric("turbine_stack_drifted_resources", namespace, "drifty") or 0) >= 1

        autoscaling.update_auto_scaling_group(AutoScalingGroupName=group, MaxSize=4)
        _request_drift_check(kube, namespace, "drifty", "after-repair")
        wait_for(
            lambda: _drift(kube, namespace, "drifty").get("driftedResourceCount") == 0, 30, "drift to clear"
        )
        assert kube.condition(namespace, "drifty", "Drifted")["status"] == "False"  # type: ignore[index]
        assert _metric("turbine_stack_drifted", namespace, "drifty") == 0.0
        reasons = {event.reason for event in kube.events_for(namespace, "drifty")}
        assert {"ResourcesDrifted", "ResourceDriftCleared"} <= reasons


@pytest.mark.usefixtures("small_templates")
def test_a_requested_drift_check_wakes_a_settled_stack(
    kube: KubeApi, namespace: str, template_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A settled stack waits without ticking until something of its own is due (hours at the defaults): the
    annotation must wake it. kopf's own record of the handled object left annotations under our prefix out,
    so setting it was no change, and the check waited for the next resync (every 30 s in the other tests)."""
    monkeypatch.setenv("TURBINE_RESYNC_INTERVAL", "3600")
    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("asked", template_bucket))
        kube.wait_condition(namespace, "asked", "Ready", timeout=60)
        first = wait_for(lambda: _drift(kube, namespace, "asked").get("lastCheckTime"), 30, "the first check")
        time.sleep(2)  # the stack settles; its next look is hours away

        _request_drift_check(kube, namespace, "asked", "please")
        wait_for(
            lambda: (
                (d := _drift(kube, namespace, "asked")).get("lastRequest") == "please"
                and d.get("lastCheckTime") != first
            ),
            20,
            "the requested check",
        )


@pytest.mark.usefixtures("small_templates")
def test_spec_drift_is_reported_and_remediated(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    cloudformation = aws_environment.client("cloudformation")
    stack_name = default_stack_name(namespace, "specdrift")

    def live_max_size() -> str:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        return str(
            next(p["ParameterValue"] for p in stack["Parameters"] if p["ParameterKey"] == "MaxGroupSize")
        )

    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("specdrift", template_bucket, workers={"maxSize": 5}))
        kube.wait_condition(namespace, "specdrift", "Ready", timeout=30)
        update_outside_operator(cloudformation, stack_name, "MaxGroupSize", "8")
        _request_drift_check(kube, namespace, "specdrift", "after-console-update")
        wait_for(
            lambda: (
                (c := kube.condition(namespace, "specdrift", "Drifted"))
                and c["reason"] == "StackDriftedFromSpec"
            ),
            # Spec drift is compared at the next resync (TURBINE_RESYNC_INTERVAL=30 in the tests), which
            # may be a whole interval away; a 30 s wait made this test fail whenever it was.
            75,
            "spec drift",
        )
        differences = _drift(kube, namespace, "specdrift")["specDifferences"]
        assert any("MaxGroupSize" in line and "'8'" in line for line in differences)
        assert kube.condition(namespace, "specdrift", "Ready")["status"] == "True"  # type: ignore[index]

        kube.patch_stack(namespace, "specdrift", {"spec": {"driftDetection": {"remediate": True}}})
        wait_for(lambda: live_max_size() == "5", 30, "the spec to be re-applied")
        wait_for(
            lambda: (c := kube.condition(namespace, "specdrift", "Drifted")) and c["status"] == "False",
            30,
            "the drift to clear",
        )
        kube.wait_condition(namespace, "specdrift", "Ready", timeout=30)


def test_worker_figures_reach_status_metrics_and_printer_column(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    autoscaling = aws_environment.client("autoscaling")
    with running_operator([namespace]):
        manifest = turbine_stack(
            "busy",
            template_bucket,
            stackName=_short_stack_name(),
            workers={"minSize": 1, "maxSize": 6},
            deletionPolicy="Delete",
        )
        kube.create_stack(namespace, manifest)
        body = kube.wait_condition(namespace, "busy", "Ready", timeout=90)
        group = body["status"]["outputs"]["WorkerAutoScalingGroupName"]
        # Scaling is counted as the operator sees the desired capacity change, so let it see the start.
        wait_for(
            lambda: (
                ((kube.get_stack(namespace, "busy") or {}).get("status", {}).get("workers") or {}).get(
                    "desired"
                )
                == 1
            ),
            30,
            "the first worker figures",
        )
        autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=3)
        workers = wait_for(
            lambda: (
                (w := (kube.get_stack(namespace, "busy") or {}).get("status", {}).get("workers"))
                and w.get("desired") == 3
                and w
            ),
            30,
            "status.workers to follow the group",
        )
        assert workers == {**workers, "inService": 3, "min": 1, "max": 6, "summary": "3/3"}
        # Two workers run tasks (each protects itself from scale-in, as turbine-worker-drain.sh does) and
        # five tasks wait in the broker queue; the product's load function measures and publishes.
        instances = [i["InstanceId"] for i in autoscaling.describe_auto_scaling_groups(
            AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]]  # fmt: skip
        autoscaling.set_instance_protection(
            AutoScalingGroupName=group, InstanceIds=instances[:2], ProtectedFromScaleIn=True
        )
        outputs = body["status"]["outputs"]
        for index in range(5):
            aws_environment.client("sqs").send_message(
                QueueUrl=outputs["QueueURL"], MessageBody=f"task-{index}"
            )
        clients = {
            name: aws_environment.client(name) for name in ("lambda", "sqs", "autoscaling", "cloudwatch")
        }
        assert DeployedLoadFunction.of_group(clients, group)()["queued"] == 5
        workers = wait_for(
            lambda: (
                (w := (kube.get_stack(namespace, "busy") or {}).get("status", {}).get("workers"))
                and w.get("busy") == 2
                and w.get("queuedTasks") == 5
                and w
            ),
            30,
            "status.workers to show busy workers and queued tasks",
        )
        assert workers["clusterLoad"] == f"{5 / 48:.3f}"
        assert _metric("turbine_workers_busy", namespace, "busy") == 2.0
        assert _metric("turbine_queued_tasks", namespace, "busy") == 5.0
        table = subprocess.run(
            ["kubectl", "get", "turbinestacks", "-n", namespace], capture_output=True, text=True, check=True
        ).stdout
        assert "3/3" in table.splitlines()[1]
        assert _metric("turbine_workers_desired", namespace, "busy") == 3.0
        assert _metric("turbine_workers_in_service", namespace, "busy") == 3.0
        assert _metric("turbine_workers_max", namespace, "busy") == 6.0
        assert (
            _metric("turbine_worker_scaling_activities_total", namespace, "busy", direction="out") or 0
        ) >= 1

        exposition = generate_latest(REGISTRY)
        promtool = subprocess.run(
            [str(ensure_promtool()), "check", "metrics"], input=exposition, capture_output=True, check=False
        )
        assert promtool.returncode == 0, promtool.stdout.decode() + promtool.stderr.decode()

        kube.delete_stack(namespace, "busy")
        wait_for(lambda: kube.get_stack(namespace, "busy") is None, 60, "the resource to go")
    assert f'name="busy",namespace="{namespace}"' not in generate_latest(REGISTRY).decode()
    assert _metric("turbine_stack_ready", namespace, "busy") is None
