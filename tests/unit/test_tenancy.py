"""Tenant grants: a TurbineStack reaches only what its namespace was granted (core.access.tenancy)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from turbine_operator.core.access.tenancy import TenantPolicyError, parse_tenants, ungoverned
from turbine_operator.core.api.spec import TurbineStackSpec, parse_spec
from turbine_operator.core.naming import default_stack_name

WHERE = "ConfigMap turbine-system/turbine-tenants"
ROLE = "arn:aws:iam::111122223333:role/turbine-data"
OTHER_ROLE = "arn:aws:iam::111122223333:role/turbine-admin"
FOREIGN_ROLE = "arn:aws:iam::999988887777:role/turbine-data"
SERVICE_ROLE = "arn:aws:iam::111122223333:role/turbine-data-cloudformation"
PREFIX = "data-"
DATA: dict[str, Any] = {
    "name": "data-team",
    "namespaces": ["data", "data-staging"],
    "accounts": ["111122223333"],
    "roleArns": [ROLE],
    "defaultServiceRoleArn": SERVICE_ROLE,
    "regions": ["eu-west-1"],
    "templateBuckets": ["data-turbine-templates"],
    "stackNamePrefix": PREFIX,
}
GRANTED = {"templateBucket": {"name": "data-turbine-templates"}, "region": "eu-west-1", "roleArn": ROLE}


def policy(*tenants: dict[str, Any], required: bool = False) -> Any:
    return parse_tenants(yaml.safe_dump({"tenants": list(tenants)}), WHERE, required=required)


def spec_in(namespace: str = "data", name: str = "prod", **fields: Any) -> TurbineStackSpec:
    """The spec as the operator parses it in a namespace of DATA: named by default with DATA's prefix."""
    stack_name = default_stack_name(namespace, name, PREFIX)
    return parse_spec(
        {**GRANTED, **fields},
        namespace=namespace,
        name=name,
        default_region="us-east-1",
        stack_name=stack_name,
    )


def test_a_spec_inside_its_grant_is_not_refused_and_gets_the_tenant_defaults() -> None:
    grants = policy(DATA)
    spec = spec_in()

    assert grants.refusal(spec, "data") is None
    assert grants.governed(spec, "data").service_role_arn == SERVICE_ROLE
    assert grants.governed(spec, "data").role_arn == ROLE


REFUSALS = [
    ({"roleArn": OTHER_ROLE}, "spec.roleArn", f"{OTHER_ROLE} is not among the roles tenant data-team"),
    ({"roleArn": FOREIGN_ROLE}, "spec.roleArn", "is in account 999988887777, which tenant data-team"),
    ({"serviceRoleArn": OTHER_ROLE}, "spec.serviceRoleArn", "(serviceRoleArns)"),
    ({"region": "us-east-1"}, "spec.region", "us-east-1 is not among the regions tenant data-team"),
    ({"templateBucket": {"name": "other"}}, "spec.templateBucket.name", "other is not among the buckets"),
    ({"stackName": "datascience-prod"}, "spec.stackName", "does not start with data-, the prefix"),
    ({"adopt": True}, "spec.adopt", "does not allow adoption (allowAdoption)"),
    ({"allowAdministratorPolicies": True}, "spec.allowAdministratorPolicies", "(allowAdministratorPolicies)"),
]


@pytest.mark.parametrize(("fields", "field", "message"), REFUSALS)
def test_a_spec_outside_its_grant_is_refused_naming_the_field_and_the_policy(
    fields: dict[str, Any], field: str, message: str
) -> None:
    refusal = policy(DATA).refusal(spec_in(**fields), "data")

    assert refusal is not None
    assert refusal.field == field
    assert message in refusal.message
    assert WHERE in refusal.message


def test_the_default_stack_name_of_a_tenant_namespace_carries_its_prefix() -> None:
    grants = policy(DATA)
    assert grants.stack_name_prefix("data-staging") == "data-"
    assert grants.stack_name_prefix("elsewhere") == ""
    assert spec_in("data-staging", "etl").stack_name == "data-t12-data-staging-etl"
    assert grants.refusal(spec_in("data-staging", "etl"), "data-staging") is None


def test_a_spec_without_a_role_takes_the_default_and_one_with_no_default_runs_on_the_operator() -> None:
    with_default = policy({**DATA, "defaultRoleArn": ROLE, "roleArns": []})
    spec = spec_in(roleArn=None)
    assert with_default.refusal(spec, "data") is None
    assert with_default.governed(spec, "data").role_arn == ROLE
    assert policy(DATA).governed(spec, "data").role_arn is None


def test_what_the_tenant_allows_it_may_use() -> None:
    grants = policy({**DATA, "allowAdoption": True, "allowAdministratorPolicies": True})
    assert grants.refusal(spec_in(adopt=True, allowAdministratorPolicies=True), "data") is None


def test_namespaces_no_tenant_lists_are_free_unless_tenants_are_required() -> None:
    spec = spec_in("other", roleArn=FOREIGN_ROLE, region="us-east-1")
    assert policy(DATA).refusal(spec, "other") is None
    assert ungoverned().refusal(spec, "other") is None

    refusal = policy(DATA, required=True).refusal(spec, "other")
    assert refusal is not None
    assert refusal.field == "metadata.namespace"
    assert "no tenant in ConfigMap turbine-system/turbine-tenants lists namespace other" in refusal.message
    assert ungoverned(required=True).refusal(spec, "other") is not None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "tenants: [{name: a, namespaces: [x]}, {name: b, namespaces: [x]}]",
            "namespace x is listed by tenants a and b",
        ),
        ("tenants: [{name: a, namespaces: [x]}, {name: a, namespaces: [y]}]", "tenant a is listed twice"),
        ("tenants: [{name: a, namespaces: [x], roleArn: r}]", "tenants.yaml.tenants[0].roleArn"),
        ("tenants: [{name: a, namespaces: []}]", "tenants.yaml.tenants[0].namespaces"),
        ("tenants: [{name: a, namespaces: [x], accounts: ['1234']}]", "tenants.yaml.tenants[0].accounts[0]"),
        ("tenants: [{name: a, namespaces: [x], allowAdoption: 'yes'}]", "tenants[0].allowAdoption"),
        ("tenants: [{name: a, namespaces: [x]}\n", "is not valid YAML"),
        (
            "tenants: [{name: a, namespaces: [x], stackNamePrefix: data-},"
            " {name: b, namespaces: [y], stackNamePrefix: data-science-}]",
            "the stackNamePrefix 'data-' of tenant a also covers tenant b's 'data-science-'",
        ),
        (
            "tenants: [{name: a, namespaces: [x]}, {name: b, namespaces: [y], stackNamePrefix: b-}]",
            "of tenant a",
        ),
        # Longer, and a default name (prefix, `t63-<namespace>-`, hashed name) would not fit in 128.
        (f"tenants: [{{name: a, namespaces: [x], stackNamePrefix: {'p' * 41}}}]", "stackNamePrefix"),
        # The default names of namespaces no tenant lists start so (core/naming.py namespace_segment).
        ("tenants: [{name: a, namespaces: [x], stackNamePrefix: t4-}]", "covers the default stack names"),
        ("tenants: [{name: a, namespaces: [x], stackNamePrefix: t}]", "covers the default stack names"),
    ],
)
def test_a_broken_policy_is_refused_naming_the_entry(text: str, message: str) -> None:
    with pytest.raises(TenantPolicyError, match=r"^ConfigMap turbine-system/turbine-tenants: ") as caught:
        parse_tenants(text, WHERE)
    assert message in str(caught.value)
