"""Manual approval, ownership and deletion policies, end to end."""

from __future__ import annotations

import time
from typing import Any

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import aws_calls, mutating_calls_since, turbine_stack
from turbine_operator.core.naming import default_stack_name

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("crd_installed", "small_templates", "kubeconfig_environment"),
]


def _stack(aws: EmbeddedAws, name: str) -> dict[str, object] | None:
    # Every page: a session's embedded AWS holds more stacks than DescribeStacks returns at once.
    pages = aws.client("cloudformation").get_paginator("describe_stacks").paginate()
    stacks = [stack for page in pages for stack in page["Stacks"]]
    return next((stack for stack in stacks if stack["StackName"] == name), None)


def _status(aws: EmbeddedAws, name: str) -> object:
    return (_stack(aws, name) or {}).get("StackStatus")


def _output(aws: EmbeddedAws, stack_name: str, key: str) -> str | None:
    stack: Any = _stack(aws, stack_name) or {}
    return next((o["OutputValue"] for o in stack.get("Outputs", []) if o["OutputKey"] == key), None)


def _reason(kube: KubeApi, namespace: str, name: str, kind: str = "Ready") -> str | None:
    condition = kube.condition(namespace, name, kind)
    return str(condition["reason"]) if condition else None


def test_manual_change_sets_wait_for_approval_in_git(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("manual", template_bucket, updatePolicy="Manual"))
        pending = wait_for(
            lambda: (kube.get_stack(namespace, "manual") or {}).get("status", {}).get("pendingChangeSet"),
            30,
            "a pending change set",
        )
        assert pending["summary"] == "1 to add"
        assert _reason(kube, namespace, "manual") == "ChangeSetAwaitingApproval"
        manual: Any = _stack(aws_environment, default_stack_name(namespace, "manual"))
        assert manual["StackStatus"] == "REVIEW_IN_PROGRESS"

        kube.patch_stack(namespace, "manual", {"spec": {"approvedChangeSet": pending["name"]}})
        body = kube.wait_condition(namespace, "manual", "Ready", timeout=30)
        assert body["status"]["stackStatus"] == "CREATE_COMPLETE"
        assert "pendingChangeSet" not in body["status"]

        kube.patch_stack(namespace, "manual", {"spec": {"workers": {"maxSize": 3}}})
        second = wait_for(
            lambda: (
                (p := (kube.get_stack(namespace, "manual") or {}).get("status", {}).get("pendingChangeSet"))
                and p["name"] != pending["name"]
                and p
            ),
            30,
            "the change set of the update",
        )
        assert _output(aws_environment, default_stack_name(namespace, "manual"), "MaxWorkers") == "10"
        kube.patch_stack(namespace, "manual", {"spec": {"approvedChangeSet": second["name"]}})
        wait_for(
            lambda: (
                (b := kube.get_stack(namespace, "manual"))
                and b["status"].get("stackStatus") == "UPDATE_COMPLETE"
                and _reason(kube, namespace, "manual") == "StackReady"
            ),
            30,
            "the approved update",
        )


def test_a_stack_owned_by_another_turbinestack_is_left_alone(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("first", template_bucket, stackName=f"{namespace}-shared"))
        kube.wait_condition(namespace, "first", "Ready", timeout=30)
        before = aws_calls()
        kube.create_stack(
            namespace,
            turbine_stack("second", template_bucket, stackName=f"{namespace}-shared", workers={"maxSize": 2}),
        )
        body = kube.wait_condition(namespace, "second", "Stalled", timeout=30)
        assert _reason(kube, namespace, "second", "Stalled") == "StackNotOwned"
        assert body["status"]["conditions"][0]["status"] == "False"
        assert mutating_calls_since(before) == {}
        shared: Any = _stack(aws_environment, f"{namespace}-shared")
        assert {"ParameterKey": "MaxGroupSize", "ParameterValue": "10"} in shared["Parameters"]

        kube.delete_stack(namespace, "second")
        wait_for(lambda: kube.get_stack(namespace, "second") is None, 30, "the second resource to go")
        assert _stack(aws_environment, f"{namespace}-shared") is not None


def test_a_turbinestack_applied_while_the_stack_of_its_name_is_being_deleted_waits_then_creates_it(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    # Delete and apply again (as a GitOps tool replacing a resource does; here under another name): the new
    # TurbineStack finds the old one's stack on its way out. It reads InProgress to kstatus meanwhile, not
    # Failed.
    stack_name = f"{namespace}-replaced"
    before = aws_environment.settings()["operation_seconds"]
    with running_operator([namespace]):
        old = turbine_stack("old", template_bucket, stackName=stack_name, deletionPolicy="Delete")
        kube.create_stack(namespace, old)
        kube.wait_condition(namespace, "old", "Ready", timeout=30)
        aws_environment.configure(operation_seconds=10)  # the deletion takes a while, as on AWS
        try:
            kube.delete_stack(namespace, "old")
            wait_for(lambda: _status(aws_environment, stack_name) == "DELETE_IN_PROGRESS", 30, "the deletion")
            kube.create_stack(namespace, turbine_stack("new", template_bucket, stackName=stack_name))
            waiting = kube.wait_condition(namespace, "new", "Reconciling", timeout=30)
            assert _status(aws_environment, stack_name) == "DELETE_IN_PROGRESS"
            conditions = {c["type"]: c for c in waiting["status"]["conditions"]}
            assert "not this TurbineStack's" in conditions["Reconciling"]["message"]
            assert conditions.get("Stalled", {}).get("status") != "True"
        finally:
            aws_environment.configure(operation_seconds=before)
        body = kube.wait_condition(namespace, "new", "Ready", timeout=60)
        assert body["status"]["stackStatus"] == "CREATE_COMPLETE"
        assert kube.get_stack(namespace, "old") is None


@pytest.mark.parametrize(
    ("policy", "stack_survives", "event"),
    [("Delete", False, "StackDeleted"), ("Retain", True, "StackRetained")],
)
def test_deletion_policy(
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    policy: str,
    stack_survives: bool,
    event: str,
) -> None:
    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("doomed", template_bucket, deletionPolicy=policy))
        kube.wait_condition(namespace, "doomed", "Ready", timeout=30)
        kube.delete_stack(namespace, "doomed")
        wait_for(lambda: kube.get_stack(namespace, "doomed") is None, 30, "the resource to go")
    assert (_stack(aws_environment, default_stack_name(namespace, "doomed")) is not None) == stack_survives
    assert event in {e.reason for e in kube.events_for(namespace, "doomed")}


def test_a_stack_whose_name_does_not_resolve_yet_is_deleted_with_its_turbinestack(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    # AWS is eventually consistent: for a moment after CreateChangeSet made a stack, DescribeStacks by its
    # name may answer that it does not exist. Here the moment lasts a minute.
    before = aws_environment.settings()["consistency_seconds"]
    aws_environment.configure(consistency_seconds=60)
    stack_name = default_stack_name(namespace, "young")
    try:
        with running_operator([namespace]):
            kube.create_stack(namespace, turbine_stack("young", template_bucket, deletionPolicy="Delete"))
            wait_for(lambda: _stack(aws_environment, stack_name) is not None, 30, "the stack in review")
            kube.delete_stack(namespace, "young")
            wait_for(lambda: kube.get_stack(namespace, "young") is None, 30, "the resource to go")
    finally:
        aws_environment.configure(consistency_seconds=before)
    assert _stack(aws_environment, stack_name) is None
    assert "StackDeleting" in {e.reason for e in kube.events_for(namespace, "young")}


def test_termination_protection_refuses_deletion_until_lifted(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    with running_operator([namespace]):
        manifest = turbine_stack(
            "guarded", template_bucket, deletionPolicy="Delete", terminationProtection=True
        )
        kube.create_stack(namespace, manifest)
        kube.wait_condition(namespace, "guarded", "Ready", timeout=30)
        stack_name = default_stack_name(namespace, "guarded")
        assert _stack(aws_environment, stack_name)["EnableTerminationProtection"] is True  # type: ignore[index]

        kube.delete_stack(namespace, "guarded")
        wait_for(
            lambda: _reason(kube, namespace, "guarded", "Stalled") == "TerminationProtected", 30, "Stalled"
        )
        message = kube.condition(namespace, "guarded", "Stalled")["message"]  # type: ignore[index]
        assert "spec.terminationProtection" in message
        assert _stack(aws_environment, stack_name) is not None

        kube.patch_stack(namespace, "guarded", {"spec": {"terminationProtection": False}})
        wait_for(lambda: kube.get_stack(namespace, "guarded") is None, 30, "the resource to go")
    assert _stack(aws_environment, stack_name) is None


def test_suspend_stops_every_aws_call_until_resumed(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("paused", template_bucket))
        kube.wait_condition(namespace, "paused", "Ready", timeout=30)
        kube.patch_stack(namespace, "paused", {"spec": {"suspend": True}})
        wait_for(
            lambda: (
                (b := kube.get_stack(namespace, "paused"))
                and b["status"]["observedGeneration"] == b["metadata"]["generation"]
            ),
            30,
            "the suspension to be observed",
        )
        before = aws_calls()
        kube.patch_stack(namespace, "paused", {"spec": {"workers": {"maxSize": 7}}})
        time.sleep(3)  # update handler plus several timer ticks
        assert aws_calls() == before
        assert "Suspended" in {event.reason for event in kube.events_for(namespace, "paused")}

        kube.patch_stack(namespace, "paused", {"spec": {"suspend": False}})
        wait_for(
            lambda: _output(aws_environment, default_stack_name(namespace, "paused"), "MaxWorkers") == "7",
            30,
            "the change made while suspended to be applied",
        )
