"""Default stack names on the real control plane: owners the old `<namespace>-<name>` confused get their
own stacks, and a stack an earlier operator named that way keeps its name (docs/tenants.md, Default stack
names)."""

from __future__ import annotations

from typing import Any

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import turbine_stack
from turbine_operator.core.naming import default_stack_name, legacy_stack_name, ownership_tags

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("crd_installed", "small_templates", "kubeconfig_environment"),
]

# An earlier operator's stack: any template will do, the operator updates it to the desired one.
EARLIER_TEMPLATE = """\
Resources:
  Queue:
    Type: AWS::SQS::Queue
"""


def _stack_names(aws: EmbeddedAws) -> set[str]:
    summaries = aws.client("cloudformation").list_stacks()["StackSummaries"]
    return {s["StackName"] for s in summaries if s["StackStatus"] != "DELETE_COMPLETE"}


def settled(aws: EmbeddedAws, stack_name: str) -> bool:
    """Whether the stack is visible by name and created: an earlier operator's stack is old, while the
    embedded AWS, like AWS, hides a new one from DescribeStacks by name a moment (docs/embedded-aws.md)."""
    cloudformation = aws.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError:
        return False
    return bool(stacks) and stacks[0]["StackStatus"] == "CREATE_COMPLETE"


def test_owners_the_old_default_confused_get_a_stack_each(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    # `<namespace>-a/prod` and `<namespace>/a-prod` were both `<namespace>-a-prod`: the second stalled on the
    # first's stack (StackNotOwned).
    other = f"{namespace}-a"
    kube.create_namespace(other)
    assert legacy_stack_name(other, "prod") == legacy_stack_name(namespace, "a-prod")
    with running_operator([namespace, other]):
        kube.create_stack(other, turbine_stack("prod", template_bucket))
        kube.create_stack(namespace, turbine_stack("a-prod", template_bucket))
        first = kube.wait_condition(other, "prod", "Ready", timeout=60)
        second = kube.wait_condition(namespace, "a-prod", "Ready", timeout=60)

    names = (first["status"]["stackName"], second["status"]["stackName"])
    assert names == (default_stack_name(other, "prod"), default_stack_name(namespace, "a-prod"))
    assert set(names) <= _stack_names(aws_environment)
    assert legacy_stack_name(namespace, "a-prod") not in _stack_names(aws_environment)


def test_an_upgraded_operator_keeps_the_stack_an_earlier_one_named(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    # The TurbineStack's status no longer records the name (restored without status, say): its stack, tagged
    # for it under the old default, is found and kept, and no second stack is made under the new default.
    created = kube.create_stack(namespace, turbine_stack("kept", template_bucket, suspend=True))
    uid = created["metadata"]["uid"]
    legacy = legacy_stack_name(namespace, "kept")
    tags = ownership_tags(namespace, "kept", uid)
    aws_environment.client("cloudformation").create_stack(
        StackName=legacy,
        TemplateBody=EARLIER_TEMPLATE,
        Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
    )
    wait_for(lambda: settled(aws_environment, legacy), 30, "the earlier stack")
    with running_operator([namespace]):
        kube.patch_stack(namespace, "kept", {"spec": {"suspend": False}})
        ready: Any = kube.wait_condition(namespace, "kept", "Ready", timeout=60)

    assert ready["status"]["stackName"] == legacy
    assert legacy in _stack_names(aws_environment)
    assert default_stack_name(namespace, "kept") not in _stack_names(aws_environment)
