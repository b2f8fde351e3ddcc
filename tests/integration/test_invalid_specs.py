"""Bad input never reaches AWS: schema errors are rejected by the server, the rest stall."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import aws_calls, mutating_calls_since, turbine_stack
from turbine_operator.core.naming import namespace_segment

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed")]

REJECTED_BY_THE_SERVER = [
    ("spec.webserver.port", {"webserver": {"port": 70000}}),
    ("spec.workers.minSize", {"workers": {"minSize": -1}}),
    ("spec.workers.growthThreshold", {"workers": {"growthThreshold": 1.5}}),
    ("spec.workers.minSize", {"workers": {"minSize": 5, "maxSize": 2}}),
    ("spec.workers.shrinkThreshold", {"workers": {"shrinkThreshold": 0.95, "growthThreshold": 0.9}}),
    ("spec.stackName", {"stackName": "1-starts-with-a-digit"}),
    ("spec.region", {"region": "mars-north-1a"}),
    ("spec.roleArn", {"roleArn": "not-an-arn"}),
    ("spec.templateBucket.name", {"templateBucket": {"name": "Bad_Bucket"}}),
    (
        "spec.templateBucket.prefix",
        {"templateBucket": {"name": "good-bucket", "prefix": "no-trailing-slash"}},
    ),
    ("spec.workers.instanceType", {"workers": {"instanceType": "enormous"}}),
    ("spec.webserver.allowedCidr", {"webserver": {"allowedCidr": "10.0.0.0"}}),
    ("spec.tags", {"tags": {"aws:owner": "me"}}),
    ("spec.tags.team", {"tags": {"team": ""}}),
    ("spec.tags", {"tags": {"": "data"}}),
    ("spec.tags", {"tags": {"AWS:owner": "me"}}),
    ("spec.driftDetection.interval", {"driftDetection": {"interval": "99999999999999999h"}}),
    ("spec.parameters", {"parameters": {"QSS3BucketName": "elsewhere"}}),
    ("spec.deletionPolicy", {"deletionPolicy": "Destroy"}),
    ("spec.updatePolicy", {"updatePolicy": "Sometimes"}),
    ("spec.approvedChangeSet", {"approvedChangeSet": "not a name!"}),
    ("spec.airflow.loadExampleDags", {"airflow": {"loadExampleDags": "yes"}}),
    (
        "spec.additionalTemplates[0].template",
        {"additionalTemplates": [{"name": "Dags", "template": {"inline": "x", "s3Url": "s3://b/k.yaml"}}]},
    ),
    (
        "spec.additionalTemplates[0].files[0].path",
        {"additionalTemplates": [{"name": "Dags", "template": {"inline": "x"}, "files": [{"path": "../x"}]}]},
    ),
    (
        "spec.additionalTemplates[0].parametersFrom[0]",
        {
            "additionalTemplates": [
                {"name": "Dags", "template": {"inline": "x"}, "parametersFrom": [{"name": "P"}]}
            ]
        },
    ),
    (
        "spec.additionalPolicies",
        {
            "additionalTemplates": [{"name": "Dags", "template": {"inline": "x"}}],
            "additionalPolicies": [{"name": "Dags", "document": {"inline": "{}"}}],
        },
    ),
    (
        "spec.additionalPolicies[0].roles[0]",
        {"additionalPolicies": [{"name": "Read", "document": {"inline": "{}"}, "roles": ["admin"]}]},
    ),
]


@pytest.mark.parametrize(
    ("field", "spec"), REJECTED_BY_THE_SERVER, ids=[f for f, _ in REJECTED_BY_THE_SERVER]
)
def test_server_rejects_naming_the_field(
    kube: KubeApi, namespace: str, field: str, spec: dict[str, Any]
) -> None:
    with pytest.raises(ApiException) as rejected:
        kube.create_stack(namespace, turbine_stack("invalid", "good-bucket", **spec))
    assert rejected.value.status == 422
    assert field in str(rejected.value.body)


def test_server_rejects_an_oversized_duration_naming_the_field(kube: KubeApi, namespace: str) -> None:
    # Beyond about 290 years CEL's duration() fails, and the API server would answer with a message about
    # protobuf conversion instead of naming the field.
    spec = {"driftDetection": {"interval": "99999999999999999h"}}
    with pytest.raises(ApiException) as rejected:
        kube.create_stack(namespace, turbine_stack("invalid", "good-bucket", **spec))
    assert rejected.value.status == 422
    assert "spec.driftDetection.interval" in str(rejected.value.body)
    assert "protobuf" not in str(rejected.value.body).lower()


def test_server_rejects_a_missing_template_bucket(kube: KubeApi, namespace: str) -> None:
    manifest = turbine_stack("invalid", "unused")
    del manifest["spec"]["templateBucket"]
    with pytest.raises(ApiException) as rejected:
        kube.create_stack(namespace, manifest)
    assert "spec.templateBucket" in str(rejected.value.body)


@pytest.mark.parametrize(
    ("field", "change"),
    [("spec.stackName", {"stackName": "another-stack"}), ("spec.region", {"region": "eu-west-1"})],
)
def test_server_keeps_immutable_fields(
    kube: KubeApi, namespace: str, field: str, change: dict[str, Any]
) -> None:
    kube.create_stack(
        namespace, turbine_stack("fixed", "good-bucket", stackName="fixed-stack", region="us-east-1")
    )
    with pytest.raises(ApiException) as rejected:
        kube.patch_stack(namespace, "fixed", {"spec": change})
    assert rejected.value.status == 422
    assert field in str(rejected.value.body)
    assert "immutable" in str(rejected.value.body)


def test_server_lets_the_spec_pin_the_defaulted_stack_name_and_region(kube: KubeApi, namespace: str) -> None:
    # Without spec.region a stack stays in the region it was created in (status.region), whatever the
    # operator's default becomes; writing that region (or stack name) into the spec pins it for good.
    kube.create_stack(namespace, turbine_stack("pinned", "good-bucket"))
    kube.custom.patch_namespaced_custom_object_status(
        "turbine.dev",
        "v1alpha1",
        namespace,
        "turbinestacks",
        "pinned",
        {"status": {"region": "eu-west-1", "stackName": f"{namespace}-pinned"}},
    )
    for refused in ({"region": "us-east-1"}, {"stackName": "another-stack"}):
        with pytest.raises(ApiException) as rejected:
            kube.patch_stack(namespace, "pinned", {"spec": refused})
        assert rejected.value.status == 422
        assert "immutable" in str(rejected.value.body)
    pinned = kube.patch_stack(
        namespace, "pinned", {"spec": {"region": "eu-west-1", "stackName": f"{namespace}-pinned"}}
    )
    assert (pinned["spec"]["region"], pinned["spec"]["stackName"]) == ("eu-west-1", f"{namespace}-pinned")
    with pytest.raises(ApiException) as removed:
        kube.patch_stack(namespace, "pinned", {"spec": {"region": None}})
    assert removed.value.status == 422


STALLED_BY_THE_OPERATOR = [
    ("InvalidSpec", "spec.parameters.NotAParameter", {"parameters": {"NotAParameter": "x"}}),
    ("InvalidSpec", "spec.parameters.MaxGroupSize", {"parameters": {"MaxGroupSize": "3"}}),
    ("InvalidSpec", "spec.parameters.DrainTimeout", {"parameters": {"DrainTimeout": "5"}}),
    ("InvalidSpec", "spec.parameters.DatabaseMultiAZ", {"parameters": {"DatabaseMultiAZ": "maybe"}}),
    ("TemplateBucketMissing", "spec.templateBucket.name", {"templateBucket": {"name": "no-such-bucket"}}),
]


@pytest.mark.usefixtures("kubeconfig_environment")
def test_operator_stalls_on_semantic_errors_without_touching_aws(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    before = aws_calls()
    with running_operator([namespace]):
        for index, (_, _, spec) in enumerate(STALLED_BY_THE_OPERATOR):
            kube.create_stack(namespace, turbine_stack(f"bad-{index}", template_bucket, **spec))
        for index, (reason, named, _) in enumerate(STALLED_BY_THE_OPERATOR):
            kube.wait_condition(namespace, f"bad-{index}", "Stalled", timeout=30)
            stalled = kube.condition(namespace, f"bad-{index}", "Stalled")
            assert stalled is not None
            assert stalled["reason"] == reason
            assert named in stalled["message"]
            assert kube.condition(namespace, f"bad-{index}", "Ready")["status"] == "False"  # type: ignore[index]
    assert mutating_calls_since(before) == {}
    stacks = aws_environment.client("cloudformation").list_stacks()["StackSummaries"]
    assert not [
        stack for stack in stacks if stack["StackName"].startswith(namespace_segment(namespace) + "bad-")
    ]
