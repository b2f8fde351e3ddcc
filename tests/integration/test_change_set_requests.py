"""Spec edits that revisit a change set, change only tags, or come faster than CloudFormation computes:
the real API server, the in-process operator and the strict embedded CloudFormation."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi, condition_of, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import turbine_stack

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("crd_installed", "small_templates", "kubeconfig_environment"),
]


def _pending(kube: KubeApi, namespace: str, max_size: int) -> str:
    """The change set awaiting approval for the current generation (whose spec has `max_size`)."""

    def found() -> str | None:
        body = kube.get_stack(namespace, "airflow") or {}
        status = body.get("status", {})
        if body.get("spec", {}).get("workers", {}).get("maxSize") != max_size:
            return None
        if status.get("observedGeneration") != body["metadata"]["generation"]:
            return None
        return (status.get("pendingChangeSet") or {}).get("name")

    return wait_for(found, 60, f"a change set awaiting approval for maxSize {max_size}")


def _computing(kube: KubeApi, namespace: str) -> bool | None:
    body = kube.get_stack(namespace, "airflow") or {}
    reconciling: dict[str, Any] = next(
        (item for item in body.get("status", {}).get("conditions", []) if item["type"] == "Reconciling"), {}
    )
    current = reconciling.get("observedGeneration") == body.get("metadata", {}).get("generation")
    return (current and reconciling.get("reason") == "ChangeSetCreating") or None


def _stack_tags(aws: EmbeddedAws, stack_name: str) -> dict[str, str]:
    stack = aws.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
    return {tag["Key"]: tag["Value"] for tag in stack.get("Tags", [])}


@pytest.fixture
def slow_change_sets(aws_environment: EmbeddedAws) -> Iterator[EmbeddedAws]:
    """Change sets computed over seconds, as nested ones take tens of seconds on AWS."""
    before = aws_environment.settings()["change_set_seconds"]
    aws_environment.configure(change_set_seconds=6.0)
    try:
        yield aws_environment
    finally:
        aws_environment.configure(change_set_seconds=before)


def _created(kube: KubeApi, namespace: str, bucket: str, **spec: Any) -> str:
    stack_name = f"t{uuid.uuid4().hex[:6]}"
    kube.create_stack(namespace, turbine_stack("airflow", bucket, stackName=stack_name, **spec))
    kube.wait_condition(namespace, "airflow", "Ready", timeout=90)
    return stack_name


def test_a_change_set_wanted_again_under_manual_policy_is_created_again(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    # The reported loop: Manual, maxSize 10 -> 7 -> 5 -> 7. 7's change set is deleted as stale when 5's is
    # created; asked for again under the same name with the same ClientToken, CloudFormation took it for a
    # retry and created nothing, and the TurbineStack showed "computing change set" for good.
    with running_operator([namespace]):
        stack_name = _created(kube, namespace, template_bucket, workers={"maxSize": 10})
        kube.patch_stack(
            namespace, "airflow", {"spec": {"updatePolicy": "Manual", "workers": {"maxSize": 7}}}
        )
        first = _pending(kube, namespace, 7)
        kube.patch_stack(namespace, "airflow", {"spec": {"workers": {"maxSize": 5}}})
        _pending(kube, namespace, 5)
        kube.patch_stack(namespace, "airflow", {"spec": {"workers": {"maxSize": 7}}})
        again = _pending(kube, namespace, 7)

        assert again == first  # the same desired state on the same stack: the same name
        described = aws_environment.client("cloudformation").describe_change_set(
            StackName=stack_name, ChangeSetName=again
        )
        assert (described["Status"], described["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")


def test_changed_and_added_tags_reach_the_stack(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    with running_operator([namespace]):
        stack_name = _created(kube, namespace, template_bucket, tags={"team": "data"})
        assert _stack_tags(aws_environment, stack_name)["team"] == "data"

        kube.patch_stack(namespace, "airflow", {"spec": {"tags": {"team": "ml", "cost-center": "42"}}})

        wait_for(
            lambda: (
                _stack_tags(aws_environment, stack_name).items() >= {("team", "ml"), ("cost-center", "42")}
                or None
            ),
            60,
            "the changed and the added tag on the stack",
        )
        kube.wait_condition(namespace, "airflow", "Ready", timeout=60)


def test_two_edits_within_one_change_set_computation_converge(
    kube: KubeApi, namespace: str, template_bucket: str, slow_change_sets: EmbeddedAws
) -> None:
    # The second edit's change set is created while the first's is still CREATE_IN_PROGRESS, which
    # DeleteChangeSet refuses (InvalidChangeSetStatus, API_DeleteChangeSet).
    with running_operator([namespace]):
        _created(kube, namespace, template_bucket, workers={"maxSize": 10})
        kube.patch_stack(
            namespace, "airflow", {"spec": {"updatePolicy": "Manual", "workers": {"maxSize": 7}}}
        )
        wait_for(lambda: _computing(kube, namespace), 60, "the change set for maxSize 7 being computed")
        kube.patch_stack(namespace, "airflow", {"spec": {"workers": {"maxSize": 5}}})

        _pending(kube, namespace, 5)
        assert kube.condition(namespace, "airflow", "Stalled") is None


def test_a_spec_changed_while_the_rollback_failed_is_tried_after_continuing_it(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    # maxSize 7 fails and its rollback fails too; the one ContinueUpdateRollback for 7 fails again (Stalled).
    # The user changes the spec to 5: the rollback is continued under 5 and completes, and 5, never tried,
    # must be tried, not reported as rolled back.
    with running_operator([namespace]):
        stack_name = _created(kube, namespace, template_bucket, workers={"maxSize": 10})
        aws_environment.configure(
            update_failures=[f"{stack_name}=rollback_failed", f"{stack_name}=continue_failed"]
        )
        kube.patch_stack(namespace, "airflow", {"spec": {"workers": {"maxSize": 7}}})
        stalled = kube.wait_condition(namespace, "airflow", "Stalled", timeout=90)
        assert (condition_of(stalled, "Stalled") or {}).get("reason") == "UpdateRollbackFailed"

        kube.patch_stack(namespace, "airflow", {"spec": {"workers": {"maxSize": 5}}})

        ready = kube.wait_condition(namespace, "airflow", "Ready", timeout=90)
        assert ready["status"]["stackStatus"] == "UPDATE_COMPLETE"
        stack = aws_environment.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0]
        parameters = {item["ParameterKey"]: item["ParameterValue"] for item in stack["Parameters"]}
        assert parameters["MaxGroupSize"] == "5"
