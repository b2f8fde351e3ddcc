"""examples/admission/ without a server: the documents fit together, every field their CEL reads exists in the
CRD, every refusal names the field it checks, and the grants they read are the operator's
(the integration test tests/integration/test_admission_policy.py runs them on the real API server)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import yaml
from pydantic.alias_generators import to_camel

from turbine_dev.k8s.admission import EXAMPLES, example, flat_grants
from turbine_dev.k8s.kube import REPO_ROOT
from turbine_operator.core.access.tenancy import TENANTS_KEY, Tenant, parse_tenants

CRD = REPO_ROOT / "crds" / "turbinestacks.turbine.dev.yaml"
# A field path of the object: the segments up to, not including, a method call such as .split(.
OBJECT_FIELD = re.compile(r"\b(?:object|oldObject)((?:\.[A-Za-z_]\w*(?![\w(]))+)")
GRANT_KEY = re.compile(r"variables\.key \+ '(\w+)'")
NAMED_FIELD = re.compile(r"^'?((?:spec|metadata)\.[\w.]+): ")


def expressions(policy: dict[str, Any]) -> Iterator[str]:
    spec = policy["spec"]
    for entry in [*spec.get("matchConditions", []), *spec.get("variables", [])]:
        yield entry["expression"]
    for validation in spec["validations"]:
        yield validation["expression"]
        yield validation.get("messageExpression", "")


def schema_has(schema: dict[str, Any], path: str) -> bool:
    """Whether the CRD's schema declares the field (metadata is the API server's, not the CRD's)."""
    node = schema
    segments = path.strip(".").split(".")
    if segments[0] == "metadata":
        return True
    for segment in segments:
        properties = node.get("properties", {})
        if segment not in properties:
            return False
        node = properties[segment]
    return True


def test_the_examples_fit_together() -> None:
    policy, binding, grants = example("policy.yaml"), example("binding.yaml"), example("grants.yaml")
    assert (policy["apiVersion"], policy["kind"]) == (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
    )
    assert (binding["apiVersion"], binding["kind"]) == (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
    )
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert policy["spec"]["failurePolicy"] == "Fail"
    assert policy["spec"]["paramKind"] == {"apiVersion": grants["apiVersion"], "kind": grants["kind"]}
    assert binding["spec"]["paramRef"] == {
        "name": grants["metadata"]["name"],
        "namespace": grants["metadata"]["namespace"],
        "parameterNotFoundAction": "Deny",
    }
    rules = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rules == [
        {
            "apiGroups": ["turbine.dev"],
            "apiVersions": ["*"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["turbinestacks"],
        }
    ]
    assert sorted(path.name for path in EXAMPLES.iterdir()) == ["binding.yaml", "grants.yaml", "policy.yaml"]


def test_every_field_the_policy_reads_is_in_the_crd() -> None:
    crd = yaml.safe_load(CRD.read_text())
    (version,) = crd["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    read = {match for text in expressions(example("policy.yaml")) for match in OBJECT_FIELD.findall(text)}
    assert {".spec.roleArn", ".spec.serviceRoleArn", ".spec.region", ".spec.templateBucket.name"} <= read
    assert {".spec.stackName", ".spec.adopt", ".spec.allowAdministratorPolicies"} <= read
    assert sorted(path for path in read if not schema_has(schema, path)) == []


def test_every_refusal_names_the_field_it_checks() -> None:
    named = []
    for validation in example("policy.yaml")["spec"]["validations"]:
        fields = {NAMED_FIELD.match(validation[key]) for key in ("message", "messageExpression")}
        assert None not in fields, validation
        (field,) = {found.group(1) for found in fields if found}
        checked = {path.strip(".") for path in OBJECT_FIELD.findall(validation["expression"])}
        assert field in checked or (field, validation["expression"]) == (
            "metadata.namespace",
            "variables.tenant != ''",
        ), validation
        named.append(field)
    assert set(named) == {
        "metadata.namespace",
        "spec.roleArn",
        "spec.serviceRoleArn",
        "spec.region",
        "spec.templateBucket.name",
        "spec.stackName",
        "spec.adopt",
        "spec.allowAdministratorPolicies",
    }


def test_the_policy_reads_every_grant_of_the_operators_tenants_and_only_those() -> None:
    policy_text = "\n".join(expressions(example("policy.yaml")))
    operator_grants = {to_camel(field.name) for field in dataclasses.fields(Tenant)}
    # Who the tenant is and which namespaces it has are the namespace.<name> keys; the defaults are listed
    # among the granted roles, since what the operator fills in is its own to check.
    folded = {"name", "namespaces", "defaultRoleArn", "defaultServiceRoleArn"}
    assert set(GRANT_KEY.findall(policy_text)) == operator_grants - folded


def test_the_example_grants_are_the_docs_tenant() -> None:
    docs = (REPO_ROOT / "docs" / "tenants.md").read_text()
    config_map = next(
        yaml.safe_load(block)
        for block in re.findall(r"```yaml\n(.*?)```", docs, re.DOTALL)
        if TENANTS_KEY in block
    )
    text = config_map["data"][TENANTS_KEY]
    parse_tenants(text, "docs/tenants.md")  # the operator takes it
    assert example("grants.yaml")["data"] == flat_grants(yaml.safe_load(text)["tenants"])
