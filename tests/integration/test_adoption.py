"""Adoption that cannot steal, on the real control plane: spec.adopt takes over a Turbine stack whose
TurbineStack is gone, and refuses any other stack, recognised by its template's Metadata and not its name,
with no mutating AWS call (core/access/ownership.py, docs/ownership.md)."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path

import pytest
import yaml

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import aws_calls, mutating_calls_since, turbine_stack
from turbine_operator.core.naming import ownership_tags

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("crd_installed", "kubeconfig_environment"),
]

# Not a Turbine master: no turbine.dev/template Metadata. Adopting it would replace the template, and
# CloudFormation would delete the queue.
OTHER_TEMPLATE = """\
Metadata:
  purpose: someone else's queue
Resources:
  Queue:
    Type: AWS::SQS::Queue
"""


def _created(aws: EmbeddedAws, stack_name: str) -> bool:
    """Whether the stack is visible by name and created (the embedded AWS, like AWS, hides a new stack from
    DescribeStacks by name for a moment: docs/embedded-aws.md); else the TurbineStack would find none."""
    cloudformation = aws.client("cloudformation")
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError:
        return False
    return bool(stacks) and stacks[0]["StackStatus"] == "CREATE_COMPLETE"


def _tags(namespace: str, name: str) -> list[dict[str, str]]:
    """The owner tags of a TurbineStack that no longer exists."""
    tags = ownership_tags(namespace, name, str(uuid.uuid4()))
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def test_adoption_takes_a_turbine_stack_and_refuses_any_other(
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    monkeypatch: pytest.MonkeyPatch,
    small_templates: Path,
) -> None:
    tenant = {
        "name": "team",
        "namespaces": [namespace],
        "templateBuckets": [template_bucket],
        "stackNamePrefix": "team-",
        "allowAdoption": True,
    }
    kube.put_config_map(namespace, "turbine-tenants", {"tenants.yaml": yaml.safe_dump({"tenants": [tenant]})})
    monkeypatch.setenv("TURBINE_TENANTS_CONFIG_MAP", f"{namespace}/turbine-tenants")
    cloudformation = aws_environment.client("cloudformation")
    suffix = uuid.uuid4().hex[:6]
    foreign, orphan = f"team-foreign-{suffix}", f"team-orphan-{suffix}"
    # Tagged as a Turbine stack would be (its TurbineStack gone), and named like one: neither makes it one.
    cloudformation.create_stack(StackName=foreign, TemplateBody=OTHER_TEMPLATE, Tags=_tags(namespace, "gone"))
    master = (small_templates / "templates" / "turbine-master.yaml").read_text()
    cloudformation.create_stack(
        StackName=orphan,
        TemplateBody=master,
        Parameters=[
            {"ParameterKey": "QSS3BucketName", "ParameterValue": template_bucket},
            {"ParameterKey": "QSS3KeyPrefix", "ParameterValue": "turbine/"},
        ],
        Tags=_tags(namespace, "orphan-owner"),
    )
    for name in (foreign, orphan):
        wait_for(functools.partial(_created, aws_environment, name), 30, f"stack {name}")
    before = aws_calls()

    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("thief", template_bucket, stackName=foreign, adopt=True))
        kube.wait_condition(namespace, "thief", "Stalled", timeout=30)
        stalled = kube.condition(namespace, "thief", "Stalled") or {}
        refused_calls = mutating_calls_since(before)
        kube.create_stack(namespace, turbine_stack("heir", template_bucket, stackName=orphan, adopt=True))
        adopted = kube.wait_condition(namespace, "heir", "Ready", timeout=60)

    assert stalled["reason"] == "StackNotTurbine"
    assert f"Stack {foreign} is not a Turbine stack" in stalled["message"]
    assert refused_calls == {}
    thief = kube.get_stack(namespace, "thief") or {}
    assert "stackId" not in thief.get("status", {})
    template = cloudformation.get_template(StackName=foreign, TemplateStage="Original")["TemplateBody"]
    assert "someone else's queue" in str(template)  # untouched
    # The Turbine one, by its template's Metadata (GetTemplate answers it as AWS does), is taken over.
    assert adopted["status"]["stackName"] == orphan
    tags = {
        t["Key"]: t["Value"] for t in cloudformation.describe_stacks(StackName=orphan)["Stacks"][0]["Tags"]
    }
    assert tags["turbine.dev/owner-uid"] == adopted["metadata"]["uid"]
