"""Additional templates and IAM policies, end to end: real API server, embedded AWS, the operator.

The main case deploys examples/additions/ (two templates, one nesting a child, two policies and a
Secret-sourced parameter) on the real Turbine stack; the others use the small stand-in master so
that ConfigMap changes and bad input are quick to follow.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import turbine_stack
from turbine_operator.core.naming import default_stack_name

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed", "kubeconfig_environment")]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "additions"
ADDITIONAL = "templates/additional_templates/"


def _example() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    stack = yaml.safe_load((EXAMPLE / "turbine-stack.yaml").read_text())
    resources = list(yaml.safe_load_all((EXAMPLE / "resources.yaml").read_text()))
    return stack, resources


def _apply_resources(kube: KubeApi, namespace: str, resources: list[dict[str, Any]]) -> None:
    for resource in resources:
        name = resource["metadata"]["name"]
        if resource["kind"] == "ConfigMap":
            kube.put_config_map(namespace, name, resource["data"])
        else:
            kube.put_secret(namespace, name, resource["stringData"])


@contextlib.contextmanager
def _every_log_message() -> Iterator[list[str]]:
    """Every log line of this process (the in-process operator's included), at every level."""
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    handler = Collect(level=logging.DEBUG)
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield messages
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _nested_stacks(aws: EmbeddedAws, stack: str) -> dict[str, dict[str, Any]]:
    cloudformation = aws.client("cloudformation")
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    return {
        resource["LogicalResourceId"]: cloudformation.describe_stacks(
            StackName=resource["PhysicalResourceId"]
        )["Stacks"][0]
        for resource in resources
        if resource["ResourceType"] == "AWS::CloudFormation::Stack"
    }


def _attached_policies(aws: EmbeddedAws, role: str) -> set[str]:
    """Logical IDs of the additional policies attached to the role (IAM names: <stack>-<id>-<suffix>)."""
    attached = aws.client("iam").list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    return {policy["PolicyName"].split("-")[1] for policy in attached if policy["PolicyName"].count("-") == 2}


def test_two_templates_and_two_policies_on_the_real_stack(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    manifest, resources = _example()
    manifest["spec"]["templateBucket"]["name"] = template_bucket
    manifest["spec"]["stackName"] = f"t{uuid.uuid4().hex[:6]}"  # moto keeps nested stack names whole
    token = f"token-{uuid.uuid4().hex}"
    resources[1]["stringData"]["webhook-token"] = token
    _apply_resources(kube, namespace, resources)

    with _every_log_message() as log, running_operator([namespace]):
        kube.create_stack(namespace, manifest)
        body = kube.wait_condition(namespace, "airflow-extras", "Ready", timeout=120)
        assert body["status"]["stackStatus"] == "CREATE_COMPLETE"
        events = [f"{event.reason} {event.message}" for event in kube.events_for(namespace, "airflow-extras")]

    stack = manifest["spec"]["stackName"]
    nested = _nested_stacks(aws_environment, stack)
    assert {"DataLake", "Notifications"} <= set(nested)
    assert {name: nested[name]["StackStatus"] for name in ("DataLake", "Notifications")} == {
        "DataLake": "CREATE_COMPLETE",
        "Notifications": "CREATE_COMPLETE",
    }
    child = _nested_stacks(aws_environment, nested["DataLake"]["StackId"])
    assert child["QueueStack"]["StackStatus"] == "CREATE_COMPLETE"

    outputs = body["status"]["outputs"]
    assert _attached_policies(aws_environment, outputs["WorkerRoleName"]) == {"ReadDataLake"}
    for role in ("SchedulerRoleName", "WebserverRoleName"):
        assert _attached_policies(aws_environment, outputs[role]) == {"PublishAlerts"}

    cloudformation = aws_environment.client("cloudformation")
    described = cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    prefix = next(
        p["ParameterValue"] for p in described["Parameters"] if p["ParameterKey"] == "QSS3KeyPrefix"
    )
    s3 = aws_environment.client("s3")
    for key in ("DataLake.yaml", "data-lake-queue.yaml", "Notifications.yaml"):
        s3.head_object(Bucket=template_bucket, Key=f"{prefix}{ADDITIONAL}{key}")
    uploaded = s3.get_object(Bucket=template_bucket, Key=f"{prefix}{ADDITIONAL}DataLake.yaml")["Body"].read()
    assert uploaded.decode() == resources[0]["data"]["data-lake.yaml"]

    # The Secret's value reached AWS, and nowhere else.
    secret_arn = next(
        r["PhysicalResourceId"]
        for r in cloudformation.describe_stack_resources(StackName=nested["Notifications"]["StackId"])[
            "StackResources"
        ]
        if r["LogicalResourceId"] == "WebhookSecret"
    )
    value = aws_environment.client("secretsmanager").get_secret_value(SecretId=secret_arn)["SecretString"]
    assert value == token
    master = s3.get_object(Bucket=template_bucket, Key=f"{prefix}templates/turbine-master.json")[
        "Body"
    ].read()
    assert token not in master.decode()
    assert token not in json.dumps(kube.get_stack(namespace, "airflow-extras"))
    assert not [event for event in events if token in event]
    assert not [message for message in log if token in message]


SMALL_EXTRA = """\
Parameters:
  QueueSuffix: {Type: String, AllowedPattern: "[a-z0-9-]+"}
  QSS3KeyPrefix: {Type: String}
Resources:
  ExtraQueue:
    Type: AWS::SQS::Queue
    Properties:
      # The suffix first, then the stack's unique id: SQS takes at most 80 characters, and the nested stack's
      # name with the test's long namespace in it is longer than that.
      QueueName: !Join ["-", [!Ref QueueSuffix, !Select [2, !Split ["/", !Ref "AWS::StackId"]]]]
Outputs:
  Prefix:
    Value: !Ref QSS3KeyPrefix
"""


def _small_stack_with_extra(name: str, bucket: str) -> dict[str, Any]:
    return turbine_stack(
        name,
        bucket,
        deletionPolicy="Delete",
        additionalTemplates=[
            {
                "name": "Extra",
                "template": {"configMapKeyRef": {"name": "extras", "key": "extra.yaml"}},
                "parametersFrom": [
                    {"name": "QueueSuffix", "configMapKeyRef": {"name": "extras", "key": "suffix"}}
                ],
            }
        ],
    )


def _queue_names(aws: EmbeddedAws, stack: str) -> list[str]:
    nested = _nested_stacks(aws, stack)["Extra"]
    resources = aws.client("cloudformation").describe_stack_resources(StackName=nested["StackId"])
    return [r["PhysicalResourceId"].rsplit("/", 1)[-1] for r in resources["StackResources"]]


@pytest.mark.usefixtures("small_templates")
def test_changing_a_referenced_config_map_updates_the_stack(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    stack = default_stack_name(namespace, "extras")
    kube.put_config_map(namespace, "extras", {"extra.yaml": SMALL_EXTRA, "suffix": "first"})
    with running_operator([namespace]):
        kube.create_stack(namespace, _small_stack_with_extra("extras", template_bucket))
        kube.wait_condition(namespace, "extras", "Ready", timeout=60)
        names = _queue_names(aws_environment, stack)
        assert [name.startswith("first-") for name in names] == [True], names
        applied = kube.get_stack(namespace, "extras")["status"]["lastAppliedHash"]  # type: ignore[index]

        kube.put_config_map(namespace, "extras", {"extra.yaml": SMALL_EXTRA, "suffix": "second"})
        wait_for(
            lambda: (
                (status := (kube.get_stack(namespace, "extras") or {}).get("status", {}))
                and status.get("lastAppliedHash") not in (None, applied)
                and status.get("stackStatus") == "UPDATE_COMPLETE"
            ),
            60,
            "the ConfigMap change to be applied",
        )
        names = _queue_names(aws_environment, stack)
        assert [name.startswith("second-") for name in names] == [True], names
        # The watch asked for the reconcile (rather than a later resync finding the change).
        annotations = kube.get_stack(namespace, "extras")["metadata"]["annotations"]  # type: ignore[index]
        assert annotations["references.turbine.dev/changed"].startswith("ConfigMap/extras@")
        created = [e for e in kube.events_for(namespace, "extras") if e.reason == "ChangeSetCreated"]
        assert len({e.message for e in created}) >= 2  # the create, then the update
        kube.delete_stack(namespace, "extras")
        wait_for(lambda: kube.get_stack(namespace, "extras") is None, 60, "the stack to be deleted")


GOOD_TEMPLATE = "Resources:\n  Queue:\n    Type: AWS::SQS::Queue\n"
ADMIN = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)

BAD_INPUT: dict[str, tuple[dict[str, Any], str]] = {
    "missing-config-map": (
        {
            "additionalTemplates": [
                {"name": "Lake", "template": {"configMapKeyRef": {"name": "absent", "key": "t"}}}
            ]
        },
        "spec.additionalTemplates[Lake].template.configMapKeyRef: ConfigMap absent does not exist",
    ),
    "missing-key": (
        {
            "additionalTemplates": [
                {"name": "Lake", "template": {"configMapKeyRef": {"name": "bad", "key": "nokey"}}}
            ]
        },
        "spec.additionalTemplates[Lake].template.configMapKeyRef: ConfigMap bad has no key nokey",
    ),
    "malformed-yaml": (
        {
            "additionalTemplates": [
                {"name": "Lake", "template": {"configMapKeyRef": {"name": "bad", "key": "broken"}}}
            ]
        },
        "spec.additionalTemplates[Lake].template: is not valid YAML or JSON",
    ),
    "not-a-template": (
        {"additionalTemplates": [{"name": "Lake", "template": {"inline": "just: some\nsettings: here\n"}}]},
        "spec.additionalTemplates[Lake].template: is not a CloudFormation template",
    ),
    "invalid-policy-json": (
        {
            "additionalPolicies": [
                {"name": "Read", "document": {"configMapKeyRef": {"name": "bad", "key": "policy"}}}
            ]
        },
        "spec.additionalPolicies[Read].document",
    ),
    "administrator-wildcard": (
        {"additionalPolicies": [{"name": "Everything", "document": {"inline": ADMIN}}]},
        "allows every action on every resource",
    ),
    "name-clash": (
        {"additionalTemplates": [{"name": "TaskQueue", "template": {"inline": GOOD_TEMPLATE}}]},
        "spec.additionalTemplates[TaskQueue].name: TaskQueue is already a resource of the Turbine master",
    ),
}


@pytest.mark.usefixtures("small_templates")
def test_bad_input_stalls_naming_the_entry_and_nothing_is_uploaded_or_applied(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    kube.put_config_map(namespace, "bad", {"broken": "Resources: [unclosed\n  - {", "policy": '{"Version": '})
    s3 = aws_environment.client("s3")
    keys_before = {o["Key"] for o in s3.list_objects_v2(Bucket=template_bucket).get("Contents", [])}
    with running_operator([namespace]):
        for name, (spec, _) in BAD_INPUT.items():
            kube.create_stack(namespace, turbine_stack(name, template_bucket, **copy.deepcopy(spec)))
        for name, (_, message) in BAD_INPUT.items():
            stalled = kube.wait_condition(namespace, name, "Stalled", timeout=30)
            condition = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")
            assert message in condition["message"], name
        keys_after = {o["Key"] for o in s3.list_objects_v2(Bucket=template_bucket).get("Contents", [])}
        assert keys_after == keys_before
        live = {
            s["StackName"] for s in aws_environment.client("cloudformation").list_stacks()["StackSummaries"]
        }
        assert not {default_stack_name(namespace, name) for name in BAD_INPUT} & live

        # Creating the missing ConfigMap is enough: the watch reconciles the TurbineStack.
        kube.put_config_map(namespace, "absent", {"t": GOOD_TEMPLATE})
        kube.wait_condition(namespace, "missing-config-map", "Ready", timeout=60)


@pytest.mark.usefixtures("small_templates")
def test_a_template_from_s3_is_read_and_copied_into_the_bundle(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    s3 = aws_environment.client("s3")
    source = f"shared/{namespace}/queue.yaml"
    s3.put_object(Bucket=template_bucket, Key=source, Body=GOOD_TEMPLATE.encode())

    def from_s3(key: str) -> dict[str, Any]:
        return {
            "additionalTemplates": [
                {"name": "Shared", "template": {"s3Url": f"s3://{template_bucket}/{key}"}}
            ]
        }

    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("from-s3", template_bucket, **from_s3(source)))
        kube.create_stack(
            namespace, turbine_stack("not-there", template_bucket, **from_s3(f"{source}.missing"))
        )
        kube.wait_condition(namespace, "from-s3", "Ready", timeout=60)
        stalled = kube.wait_condition(namespace, "not-there", "Stalled", timeout=30)
    condition = next(c for c in stalled["status"]["conditions"] if c["type"] == "Stalled")
    assert condition["reason"] == "ReferenceNotFound"
    assert (
        f"spec.additionalTemplates[Shared].template.s3Url: s3://{template_bucket}/{source}.missing"
        in (condition["message"])
    )
    stack = aws_environment.client("cloudformation").describe_stacks(
        StackName=default_stack_name(namespace, "from-s3")
    )["Stacks"][0]
    prefix = next(p["ParameterValue"] for p in stack["Parameters"] if p["ParameterKey"] == "QSS3KeyPrefix")
    copy_ = s3.get_object(Bucket=template_bucket, Key=f"{prefix}{ADDITIONAL}Shared.yaml")["Body"].read()
    assert copy_.decode() == GOOD_TEMPLATE
