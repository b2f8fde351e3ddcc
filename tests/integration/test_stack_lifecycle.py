"""Create, update, approve and delete TurbineStacks end to end: real API server, embedded AWS."""

from __future__ import annotations

import subprocess
import time

import pytest

from turbine_dev.embedded_aws import EmbeddedAws
from turbine_dev.kube import KubeApi, wait_for
from turbine_dev.operator_runner import running_operator
from turbine_dev.probes import aws_calls, mutating_calls_since, turbine_stack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed", "small_templates")]


def _parameters(aws: EmbeddedAws, stack_name: str) -> dict[str, str]:
    stack = aws.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {item["ParameterKey"]: item["ParameterValue"] for item in stack["Parameters"]}


@pytest.mark.usefixtures("kubeconfig_environment")
def test_apply_update_and_stay_quiet(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("airflow", template_bucket, workers={"maxSize": 4}))
        body = kube.wait_condition(namespace, "airflow", "Ready", timeout=60)
        stack_name = f"{namespace}-airflow"
        assert body["status"]["stackStatus"] == "CREATE_COMPLETE"
        assert body["status"]["outputs"]["MaxWorkers"] == "4"
        assert _parameters(aws_environment, stack_name)["MaxGroupSize"] == "4"

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
        assert "http://webserver.example:8080" in table
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
                and b["status"].get("outputs", {}).get("MaxWorkers") == "6"
                and b
            ),
            60,
            "the update to be applied",
        )
        assert body["status"]["stackStatus"] == "UPDATE_COMPLETE"
        assert kube.condition(namespace, "airflow", "Ready")["status"] == "True"  # type: ignore[index]
        assert _parameters(aws_environment, stack_name)["MaxGroupSize"] == "6"

        before = aws_calls()
        kube.patch_stack(namespace, "airflow", {"metadata": {"labels": {"team": "data"}}})
        time.sleep(3)  # several timer ticks and the update handler
        assert mutating_calls_since(before) == {}
        reasons = {event.reason for event in kube.events_for(namespace, "airflow")}
        assert {"ChangeSetCreated", "ChangeSetExecuted"} <= reasons
