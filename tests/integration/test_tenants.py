"""Namespaces are tenants, on the real control plane: a TurbineStack outside its grant never reaches AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from turbine_dev.k8s.kube import KubeApi
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import aws_calls, mutating_calls_since, turbine_stack

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed", "kubeconfig_environment")]

ADMINISTRATOR_TEMPLATE = json.dumps(
    {
        "Parameters": {"WorkerRoleName": {"Type": "String"}},
        "Resources": {
            "Everything": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyName": "everything",
                    "Roles": [{"Ref": "WorkerRoleName"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
                    },
                },
            }
        },
    }
)


def outside_the_grant(namespace: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(reason, what the Stalled message names, spec fields) of TurbineStacks the tenant does not grant."""
    return [
        ("OutsideTenantGrant", "spec.roleArn", {"roleArn": "arn:aws:iam::123456789012:role/someone-elses"}),
        ("OutsideTenantGrant", "account 999988887777", {"roleArn": "arn:aws:iam::999988887777:role/granted"}),
        ("OutsideTenantGrant", "spec.serviceRoleArn", {"serviceRoleArn": "arn:aws:iam::123456789012:role/x"}),
        ("OutsideTenantGrant", "spec.region", {"region": "eu-west-1"}),
        ("OutsideTenantGrant", "spec.templateBucket.name", {"templateBucket": {"name": "another-bucket"}}),
        ("OutsideTenantGrant", "spec.stackName", {"stackName": "elsewhere-prod"}),
        ("OutsideTenantGrant", "spec.adopt", {"adopt": True}),
        ("OutsideTenantGrant", "spec.allowAdministratorPolicies", {"allowAdministratorPolicies": True}),
        # Inside the grant, but a nested template grants `*` to the worker role: that needs the flag the
        # tenant does not allow.
        (
            "InvalidSpec",
            "spec.additionalTemplates[Grant].template",
            {"additionalTemplates": [{"name": "Grant", "template": {"inline": ADMINISTRATOR_TEMPLATE}}]},
        ),
    ]


def test_a_tenant_reaches_only_what_its_namespace_was_granted(
    kube: KubeApi, namespace: str, template_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = {
        "name": "team",
        "namespaces": [namespace],
        "accounts": ["123456789012"],
        "roleArns": ["arn:aws:iam::123456789012:role/granted"],
        "regions": ["us-east-1"],
        "templateBuckets": [template_bucket],
        "stackNamePrefix": "team-",  # at most 40 characters; the namespace is longer
    }
    kube.put_config_map(namespace, "turbine-tenants", {"tenants.yaml": yaml.safe_dump({"tenants": [tenant]})})
    monkeypatch.setenv("TURBINE_TENANTS_CONFIG_MAP", f"{namespace}/turbine-tenants")
    refused = outside_the_grant(namespace)
    before = aws_calls()

    with running_operator([namespace]):
        for index, (_, _, fields) in enumerate(refused):
            kube.create_stack(namespace, turbine_stack(f"outside-{index}", template_bucket, **fields))
        for index, (reason, named, _) in enumerate(refused):
            kube.wait_condition(namespace, f"outside-{index}", "Stalled", timeout=30)
            stalled = kube.condition(namespace, f"outside-{index}", "Stalled") or {}
            assert (stalled["reason"], named in stalled["message"]) == (reason, True), stalled
            if reason == "OutsideTenantGrant":
                assert f"tenant team of ConfigMap {namespace}/turbine-tenants" in stalled["message"]

    assert mutating_calls_since(before) == {}


def test_required_tenants_refuse_a_namespace_none_lists(
    kube: KubeApi, namespace: str, template_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kube.put_config_map(namespace, "turbine-tenants", {"tenants.yaml": "tenants: []\n"})
    monkeypatch.setenv("TURBINE_TENANTS_CONFIG_MAP", f"{namespace}/turbine-tenants")
    monkeypatch.setenv("TURBINE_REQUIRE_TENANTS", "1")
    before = aws_calls()

    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("unlisted", template_bucket))
        kube.wait_condition(namespace, "unlisted", "Stalled", timeout=30)
        stalled = kube.condition(namespace, "unlisted", "Stalled") or {}

    assert stalled["reason"] == "OutsideTenantGrant"
    assert stalled["message"].startswith(
        f"metadata.namespace: no tenant in ConfigMap {namespace}/turbine-tenants"
    )
    assert mutating_calls_since(before) == {}
