"""parse_spec for the additional templates and policies, held to the CRD like the rest of the spec.

Entries are named by their key in error paths (spec.additionalTemplates[Dags].template), so a
message points at the entry a person wrote rather than at an index.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from contract.crd import crd_constraints, crd_properties, crd_spec_schema
from turbine_operator.core.api.spec import TurbineStackSpec, parse_spec
from turbine_operator.core.api.spec_additions import (
    AdditionalFile,
    AdditionalPolicy,
    AdditionalTemplate,
    InstanceRole,
    KeyRef,
    ParameterFrom,
    PolicySource,
    TemplateSource,
)
from turbine_operator.core.errors import SpecError

BUCKET = {"templateBucket": {"name": "turbine-templates"}}
TEMPLATE: dict[str, Any] = {"name": "Dags", "template": {"inline": "Resources: {}"}}
POLICY: dict[str, Any] = {"name": "ReadData", "document": {"inline": '{"Version": "2012-10-17"}'}}
ADDITIONS = ("spec.additionalTemplates", "spec.additionalPolicies", "spec.allowAdministratorPolicies")


def parse(raw: object) -> TurbineStackSpec:
    return parse_spec(raw, namespace="airflow", name="prod", default_region="eu-west-1")


def with_template(**fields: object) -> dict[str, Any]:
    return {**BUCKET, "additionalTemplates": [{**copy.deepcopy(TEMPLATE), **fields}]}


def with_policy(**fields: object) -> dict[str, Any]:
    return {**BUCKET, "additionalPolicies": [{**copy.deepcopy(POLICY), **fields}]}


def template_source(source: object) -> dict[str, Any]:
    return with_template(template=source)


def template_file(file: object) -> dict[str, Any]:
    return with_template(files=[file])


def parameter_from(item: object) -> dict[str, Any]:
    return with_template(parametersFrom=[item])


def policy_document(document: object) -> dict[str, Any]:
    return with_policy(document=document)


def key_ref_cases(
    constraint: str, field: str, build: Callable[[object], dict[str, Any]]
) -> Iterator[tuple[str, object, str]]:
    """The ten ways a configMapKeyRef or secretKeyRef can break the CRD, for one place it appears."""
    good = {"name": "settings", "key": "body.yaml"}
    yield f"{constraint}:type", build("settings/body.yaml"), field
    yield f"{constraint}:required", build({"name": "settings"}), f"{field}.key"
    for part, bad_type, too_long, bad_pattern in [
        ("name", 1, "a" * 254, "Settings"),
        ("key", ["k"], "k" * 254, "body yaml"),
    ]:
        yield f"{constraint}.{part}:type", build({**good, part: bad_type}), f"{field}.{part}"
        yield f"{constraint}.{part}:minLength", build({**good, part: ""}), f"{field}.{part}"
        yield f"{constraint}.{part}:maxLength", build({**good, part: too_long}), f"{field}.{part}"
        yield f"{constraint}.{part}:pattern", build({**good, part: bad_pattern}), f"{field}.{part}"


T = "spec.additionalTemplates[]"
P = "spec.additionalPolicies[]"
TF = "spec.additionalTemplates[Dags]"
PF = "spec.additionalPolicies[ReadData]"

INVALID: list[tuple[str, object, str]] = [
    (
        "spec:rule0",
        {**with_template(), "additionalPolicies": [{**POLICY, "name": "Dags"}]},
        "spec.additionalPolicies[Dags].name",
    ),
    (
        "spec.additionalTemplates:type",
        {**BUCKET, "additionalTemplates": TEMPLATE},
        "spec.additionalTemplates",
    ),
    (
        "spec.additionalTemplates:maxItems",
        {**BUCKET, "additionalTemplates": [{**TEMPLATE, "name": f"T{i}"} for i in range(21)]},
        "spec.additionalTemplates",
    ),
    (f"{T}:type", {**BUCKET, "additionalTemplates": ["Dags"]}, "spec.additionalTemplates[0]"),
    (f"{T}:required", {**BUCKET, "additionalTemplates": [{"name": "Dags"}]}, f"{TF}.template"),
    (
        f"{T}:required",
        {**BUCKET, "additionalTemplates": [{"template": TEMPLATE["template"]}]},
        "spec.additionalTemplates[0].name",
    ),
    (
        f"{T}:rule0",
        with_template(
            parameters={"Env": "dev"},
            parametersFrom=[{"name": "Env", "configMapKeyRef": {"name": "c", "key": "k"}}],
        ),
        f"{TF}.parametersFrom[Env]",
    ),
    (f"{T}.name:type", with_template(name=7), "spec.additionalTemplates[0].name"),
    (f"{T}.name:minLength", with_template(name=""), "spec.additionalTemplates[0].name"),
    (f"{T}.name:maxLength", with_template(name="D" * 65), f"spec.additionalTemplates[{'D' * 65}].name"),
    (f"{T}.name:pattern", with_template(name="dag-stack"), "spec.additionalTemplates[dag-stack].name"),
    (f"{T}.name:pattern", with_template(name="1Dags"), "spec.additionalTemplates[1Dags].name"),
    (f"{T}.template:type", template_source("Resources: {}"), f"{TF}.template"),
    (f"{T}.template:rule0", template_source({}), f"{TF}.template"),
    (
        f"{T}.template:rule0",
        template_source({"inline": "Resources: {}", "s3Url": "s3://bucket/t.yaml"}),
        f"{TF}.template",
    ),
    (f"{T}.template.inline:type", template_source({"inline": 5}), f"{TF}.template.inline"),
    (f"{T}.template.inline:minLength", template_source({"inline": ""}), f"{TF}.template.inline"),
    (
        f"{T}.template.inline:maxLength",
        template_source({"inline": "x" * 524289}),
        f"{TF}.template.inline",
    ),
    *key_ref_cases(
        f"{T}.template.configMapKeyRef",
        f"{TF}.template.configMapKeyRef",
        lambda ref: template_source({"configMapKeyRef": ref}),
    ),
    (f"{T}.template.s3Url:type", template_source({"s3Url": 3}), f"{TF}.template.s3Url"),
    (
        f"{T}.template.s3Url:maxLength",
        template_source({"s3Url": "s3://bucket/" + "k" * 1020}),
        f"{TF}.template.s3Url",
    ),
    (
        f"{T}.template.s3Url:pattern",
        template_source({"s3Url": "https://bucket.s3.amazonaws.com/t.yaml"}),
        f"{TF}.template.s3Url",
    ),
    (f"{T}.template.s3Url:pattern", template_source({"s3Url": "s3://bucket/"}), f"{TF}.template.s3Url"),
    (f"{T}.files:type", with_template(files={"path": "a.yaml"}), f"{TF}.files"),
    (
        f"{T}.files:maxItems",
        with_template(files=[{"path": f"f{i}", "inline": "x"} for i in range(51)]),
        f"{TF}.files",
    ),
    (f"{T}.files[]:type", template_file("child.yaml"), f"{TF}.files[0]"),
    (f"{T}.files[]:required", template_file({"inline": "x"}), f"{TF}.files[0].path"),
    (f"{T}.files[]:rule0", template_file({"path": "child.yaml"}), f"{TF}.files[child.yaml]"),
    (f"{T}.files[].path:type", template_file({"path": 1, "inline": "x"}), f"{TF}.files[0].path"),
    (f"{T}.files[].path:minLength", template_file({"path": "", "inline": "x"}), f"{TF}.files[0].path"),
    (
        f"{T}.files[].path:maxLength",
        template_file({"path": "a" * 513, "inline": "x"}),
        f"{TF}.files[{'a' * 513}].path",
    ),
    (
        f"{T}.files[].path:pattern",
        template_file({"path": "../escape.yaml", "inline": "x"}),
        f"{TF}.files[../escape.yaml].path",
    ),
    (
        f"{T}.files[].path:pattern",
        template_file({"path": "/etc/passwd", "inline": "x"}),
        f"{TF}.files[/etc/passwd].path",
    ),
    (
        f"{T}.files[].inline:type",
        template_file({"path": "c.yaml", "inline": 1}),
        f"{TF}.files[c.yaml].inline",
    ),
    (
        f"{T}.files[].inline:minLength",
        template_file({"path": "c.yaml", "inline": ""}),
        f"{TF}.files[c.yaml].inline",
    ),
    (
        f"{T}.files[].inline:maxLength",
        template_file({"path": "c.yaml", "inline": "x" * 524289}),
        f"{TF}.files[c.yaml].inline",
    ),
    *key_ref_cases(
        f"{T}.files[].configMapKeyRef",
        f"{TF}.files[c.yaml].configMapKeyRef",
        lambda ref: template_file({"path": "c.yaml", "configMapKeyRef": ref}),
    ),
    (f"{T}.parameters:type", with_template(parameters=["Env=dev"]), f"{TF}.parameters"),
    (
        f"{T}.parameters:maxProperties",
        with_template(parameters={f"P{i}": "x" for i in range(61)}),
        f"{TF}.parameters",
    ),
    (f"{T}.parameters.*:type", with_template(parameters={"Env": 1}), f"{TF}.parameters.Env"),
    (f"{T}.parameters.*:maxLength", with_template(parameters={"Env": "x" * 4097}), f"{TF}.parameters.Env"),
    (f"{T}.parameters:rule0", with_template(parameters={"env-name": "dev"}), f"{TF}.parameters.env-name"),
    (f"{T}.parametersFrom:type", with_template(parametersFrom={"name": "Env"}), f"{TF}.parametersFrom"),
    (
        f"{T}.parametersFrom:maxItems",
        with_template(
            parametersFrom=[{"name": f"P{i}", "secretKeyRef": {"name": "s", "key": "k"}} for i in range(61)]
        ),
        f"{TF}.parametersFrom",
    ),
    (f"{T}.parametersFrom[]:type", parameter_from("Env"), f"{TF}.parametersFrom[0]"),
    (
        f"{T}.parametersFrom[]:required",
        parameter_from({"secretKeyRef": {"name": "s", "key": "k"}}),
        f"{TF}.parametersFrom[0].name",
    ),
    (f"{T}.parametersFrom[]:rule0", parameter_from({"name": "Env"}), f"{TF}.parametersFrom[Env]"),
    (
        f"{T}.parametersFrom[]:rule0",
        parameter_from(
            {
                "name": "Env",
                "secretKeyRef": {"name": "s", "key": "k"},
                "configMapKeyRef": {"name": "c", "key": "k"},
            }
        ),
        f"{TF}.parametersFrom[Env]",
    ),
    *[
        (
            f"{T}.parametersFrom[].name:{keyword}",
            parameter_from({"name": name, "secretKeyRef": {"name": "s", "key": "k"}}),
            f"{TF}.parametersFrom[{label}].name",
        )
        for keyword, name, label in [
            ("type", 5, "0"),
            ("minLength", "", "0"),
            ("maxLength", "P" * 256, "P" * 256),
            ("pattern", "db_password", "db_password"),
        ]
    ],
    *key_ref_cases(
        f"{T}.parametersFrom[].configMapKeyRef",
        f"{TF}.parametersFrom[Env].configMapKeyRef",
        lambda ref: parameter_from({"name": "Env", "configMapKeyRef": ref}),
    ),
    *key_ref_cases(
        f"{T}.parametersFrom[].secretKeyRef",
        f"{TF}.parametersFrom[Env].secretKeyRef",
        lambda ref: parameter_from({"name": "Env", "secretKeyRef": ref}),
    ),
    ("spec.additionalPolicies:type", {**BUCKET, "additionalPolicies": POLICY}, "spec.additionalPolicies"),
    (
        "spec.additionalPolicies:maxItems",
        {**BUCKET, "additionalPolicies": [{**POLICY, "name": f"P{i}"} for i in range(10)]},
        "spec.additionalPolicies",
    ),
    (f"{P}:type", {**BUCKET, "additionalPolicies": ["ReadData"]}, "spec.additionalPolicies[0]"),
    (f"{P}:required", {**BUCKET, "additionalPolicies": [{"name": "ReadData"}]}, f"{PF}.document"),
    (f"{P}.name:type", with_policy(name=["ReadData"]), "spec.additionalPolicies[0].name"),
    (f"{P}.name:minLength", with_policy(name=""), "spec.additionalPolicies[0].name"),
    (f"{P}.name:maxLength", with_policy(name="R" * 65), f"spec.additionalPolicies[{'R' * 65}].name"),
    (f"{P}.name:pattern", with_policy(name="read_data"), "spec.additionalPolicies[read_data].name"),
    (f"{P}.document:type", policy_document('{"Version": "2012-10-17"}'), f"{PF}.document"),
    (f"{P}.document:rule0", policy_document({}), f"{PF}.document"),
    (f"{P}.document.inline:type", policy_document({"inline": {"Version": "x"}}), f"{PF}.document.inline"),
    (f"{P}.document.inline:minLength", policy_document({"inline": ""}), f"{PF}.document.inline"),
    (
        f"{P}.document.inline:maxLength",
        policy_document({"inline": "x" * 20481}),
        f"{PF}.document.inline",
    ),
    *key_ref_cases(
        f"{P}.document.configMapKeyRef",
        f"{PF}.document.configMapKeyRef",
        lambda ref: policy_document({"configMapKeyRef": ref}),
    ),
    (f"{P}.roles:type", with_policy(roles="worker"), f"{PF}.roles"),
    (f"{P}.roles:minItems", with_policy(roles=[]), f"{PF}.roles"),
    (f"{P}.roles:maxItems", with_policy(roles=["worker"] * 4), f"{PF}.roles"),
    (f"{P}.roles[]:type", with_policy(roles=[1]), f"{PF}.roles"),
    (f"{P}.roles[]:enum", with_policy(roles=["admin"]), f"{PF}.roles"),
    (
        "spec.allowAdministratorPolicies:type",
        {**BUCKET, "allowAdministratorPolicies": "yes"},
        "spec.allowAdministratorPolicies",
    ),
]


def test_invalid_cases_cover_every_crd_constraint_of_the_additions() -> None:
    expected = {
        constraint
        for constraint in crd_constraints(crd_spec_schema())
        if constraint.startswith(ADDITIONS) or constraint == "spec:rule0"
    }
    assert {constraint for constraint, *_ in INVALID} == expected


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param(raw, field, id=f"{constraint}-{index}")
        for index, (constraint, raw, field) in enumerate(INVALID)
    ],
)
def test_invalid_additions_name_the_offending_entry_and_field(raw: object, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse(raw)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "raw",
    [
        {**BUCKET, "additionalTemplates": [TEMPLATE, TEMPLATE]},
        {**BUCKET, "additionalPolicies": [POLICY, POLICY]},
        with_template(files=[{"path": "c.yaml", "inline": "a"}, {"path": "c.yaml", "inline": "b"}]),
    ],
    ids=["templates", "policies", "files"],
)
def test_list_keys_are_unique(raw: object) -> None:
    with pytest.raises(SpecError, match="repeats the"):
        parse(raw)


def test_a_fully_populated_template_entry_is_read_field_by_field() -> None:
    raw = with_template(
        template={"configMapKeyRef": {"name": "dag-templates", "key": "dags.yaml"}},
        files=[
            {"path": "nested/child.yaml", "inline": "Resources: {}"},
            {"path": "lambda.zip", "configMapKeyRef": {"name": "dag-templates", "key": "lambda.zip"}},
        ],
        parameters={"Environment": "prod"},
        parametersFrom=[
            {"name": "DbPassword", "secretKeyRef": {"name": "dag-secrets", "key": "password"}},
            {"name": "Owner", "configMapKeyRef": {"name": "dag-settings", "key": "owner"}},
        ],
    )
    assert parse(raw).additional_templates == (
        AdditionalTemplate(
            name="Dags",
            template=TemplateSource(config_map_key_ref=KeyRef("dag-templates", "dags.yaml")),
            files=(
                AdditionalFile(path="nested/child.yaml", inline="Resources: {}"),
                AdditionalFile(path="lambda.zip", config_map_key_ref=KeyRef("dag-templates", "lambda.zip")),
            ),
            parameters={"Environment": "prod"},
            parameters_from=(
                ParameterFrom(name="DbPassword", secret_key_ref=KeyRef("dag-secrets", "password")),
                ParameterFrom(name="Owner", config_map_key_ref=KeyRef("dag-settings", "owner")),
            ),
        ),
    )


def test_an_s3_template_source_is_read() -> None:
    parsed = parse(template_source({"s3Url": "s3://shared-templates/airflow/dags.yaml"}))
    assert parsed.additional_templates[0].template == TemplateSource(
        s3_url="s3://shared-templates/airflow/dags.yaml"
    )


def test_policy_roles_default_to_all_three_as_the_crd_says() -> None:
    (roles_schema,) = [schema for path, schema in crd_properties(crd_spec_schema()) if path == f"{P}.roles"]
    (policy,) = parse(with_policy()).additional_policies
    assert [role.value for role in policy.roles] == roles_schema["default"]
    assert policy == AdditionalPolicy(
        name="ReadData",
        document=PolicySource(inline='{"Version": "2012-10-17"}'),
        roles=(InstanceRole.SCHEDULER, InstanceRole.WEBSERVER, InstanceRole.WORKER),
    )


def test_policy_roles_are_kept_in_one_order_whatever_order_they_are_written_in() -> None:
    (policy,) = parse(with_policy(roles=["worker", "scheduler"])).additional_policies
    assert policy.roles == (InstanceRole.SCHEDULER, InstanceRole.WORKER)


def test_without_additions_the_spec_has_none() -> None:
    parsed = parse(BUCKET)
    assert (parsed.additional_templates, parsed.additional_policies) == ((), ())
    assert parsed.allow_administrator_policies is False
