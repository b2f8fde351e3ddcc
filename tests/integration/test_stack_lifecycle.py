"""Create and update the real Turbine stack end to end: real API server, embedded AWS, real templates."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import aws_calls, mutating_calls_since, turbine_stack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed")]


def _parameters(aws: EmbeddedAws, stack_name: str) -> dict[str, str]:
    stack = aws.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {item["ParameterKey"]: item["ParameterValue"] for item in stack["Parameters"]}


def _worker_max_size(aws: EmbeddedAws, group: str) -> int:
    groups = aws.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return int(groups["AutoScalingGroups"][0]["MaxSize"])


@pytest.mark.usefixtures("kubeconfig_environment")
def test_apply_update_and_stay_quiet(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    # moto names nested stacks after their parents without truncating, so the master name stays short.
    stack_name = f"t{uuid.uuid4().hex[:6]}"
    with running_operator([namespace]):
        manifest = turbine_stack("airflow", template_bucket, stackName=stack_name, workers={"maxSize": 4})
        kube.create_stack(namespace, manifest)
        body = kube.wait_condition(namespace, "airflow", "Ready", timeout=90)
        assert body["status"]["stackStatus"] == "CREATE_COMPLETE"
        assert _parameters(aws_environment, stack_name)["MaxGroupSize"] == "4"
        group = body["status"]["outputs"]["WorkerAutoScalingGroupName"]
        assert _worker_max_size(aws_environment, group) == 4

        table = subprocess.run(
            ["kubectl", "get", "turbinestacks", "-n", namespace, "-o", "wide"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert table.split()[:9] == [
            "NAME",
            "READY",
            "STATUS",
            "STACK",
            "WORKERS",
            "DRIFTED",
            "AGE",
            "REGION",
            "WEBSERVER",
        ]
        assert "CREATE_COMPLETE" in table
        assert stack_name in table
        assert body["status"]["outputs"]["WebserverURL"] in table
        wait = [
            "kubectl",
            "wait",
            "--for=condition=Ready",
            "turbinestack/airflow",
            "-n",
            namespace,
            "--timeout=5s",
        ]
        subprocess.run(wait, check=True, capture_output=True)

        kube.patch_stack(namespace, "airflow", {"spec": {"workers": {"maxSize": 6}}})
        body = wait_for(
            lambda: (
                (b := kube.get_stack(namespace, "airflow"))
                and b["status"].get("observedGeneration") == b["metadata"]["generation"]
                and b["status"].get("stackStatus") == "UPDATE_COMPLETE"
                and b
            ),
            90,
            "the update to be applied",
        )
        assert body["status"]["stackStatus"] == "UPDATE_COMPLETE"
        assert kube.condition(namespace, "airflow", "Ready")["status"] == "True"  # type: ignore[index]
        assert _parameters(aws_environment, stack_name)["MaxGroupSize"] == "6"
        # Read the group from the outputs again: moto replaces a group on every update (AWS updates in place).
        group = body["status"]["outputs"]["WorkerAutoScalingGroupName"]
        assert _worker_max_size(aws_environment, group) == 6

        before = aws_calls()
        kube.patch_stack(namespace, "airflow", {"metadata": {"labels": {"team": "data"}}})
        time.sleep(3)  # several timer ticks and the update handler
        assert mutating_calls_since(before) == {}
        reasons = {event.reason for event in kube.events_for(namespace, "airflow")}
        assert {"ChangeSetCreated", "ChangeSetExecuted"} <= reasons
