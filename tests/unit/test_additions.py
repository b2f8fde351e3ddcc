"""render_additions and desired_stack over the real master template from cfn/: the user's nested stacks,
their files and parameters, the managed policies, and what the desired hash records of them."""

from __future__ import annotations

import copy
import json
import re
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from turbine_operator.core.access.policies import ADMINISTRATOR_ACCESS_HINT
from turbine_operator.core.access.template_iam import administrator_resources
from turbine_operator.core.api.spec import TurbineStackSpec, parse_spec
from turbine_operator.core.errors import SpecError
from turbine_operator.core.render.additions import (
    WELL_KNOWN_OUTPUTS,
    WELL_KNOWN_PARAMETERS,
    RenderedAdditions,
    render_additions,
)
from turbine_operator.core.render.bundle import TurbineSources
from turbine_operator.core.render.references import Fetched, Source, SourceKind, references_of
from turbine_operator.core.render.rendering import RENDERED_MASTER, DesiredStack, Owner, desired_stack
from turbine_operator.core.render.templates import dump_template, load_template

MASTER_BODY = (Path(__file__).resolve().parents[2] / "cfn" / "templates" / "turbine-master.yaml").read_bytes()
MASTER = load_template(MASTER_BODY, "turbine-master.yaml")
SOURCES = TurbineSources(
    templates={"turbine-master.yaml": MASTER_BODY},
    scripts={"commons.sh": b"#!/bin/bash\n"},
    lambda_modules={"turbine_cluster_load": b"def handler(event, context):\n    pass\n"},
)
OWNER = Owner(namespace="airflow", name="prod", uid="6f1c0d3e-8a40-4c57-9a0e-6d2d5b1c2f10")
ADDITIONAL = "templates/additional_templates/"
SECRET_VALUE = "s3cr3t-Value-9f8e7d6c5b4a"
TOPIC = {"Topic": {"Type": "AWS::SNS::Topic"}}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "additional-templates-and-policies.md"


def documented_well_known_parameters() -> list[str]:
    """The well-known parameters as the docs list them (pinned apart from the code that passes them)."""
    text = DOCS.read_text()
    section = text[text.index("**Well-known parameters**") : text.index("They are the Turbine master")]
    return re.findall(r"`([A-Z][A-Za-z0-9]+)`", section)


WELL_KNOWN = tuple(documented_well_known_parameters())
READ_DATA = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/*"}],
}
ADMINISTRATOR = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}


def body_of(parameters: Mapping[str, Any] | None = None, **sections: Any) -> str:
    """A nested template (JSON, which is YAML too) declaring `parameters`."""
    return json.dumps(
        {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": parameters or {},
            "Resources": TOPIC,
            **sections,
        }
    )


def entry(name: str = "Dags", body: str | None = None, **fields: Any) -> dict[str, Any]:
    return {"name": name, "template": {"inline": body or body_of()}, **fields}


def policy(name: str = "ReadData", document: object = READ_DATA, **fields: Any) -> dict[str, Any]:
    return {"name": name, "document": {"inline": json.dumps(document)}, **fields}


def spec_of(
    *templates: dict[str, Any], policies: tuple[dict[str, Any], ...] = (), **fields: Any
) -> TurbineStackSpec:
    raw: dict[str, Any] = {"templateBucket": {"name": "turbine-templates"}, **fields}
    if templates:
        raw["additionalTemplates"] = list(templates)
    if policies:
        raw["additionalPolicies"] = list(policies)
    return parse_spec(raw, namespace=OWNER.namespace, name=OWNER.name, default_region="eu-west-1")


def key_ref(name: str, key: str) -> dict[str, str]:
    return {"name": name, "key": key}


def from_config_map(name: str, key: str, content: bytes) -> dict[Source, Fetched]:
    return {(SourceKind.CONFIG_MAP, name, key): Fetched(content, f"digest of {content[:8]!r}")}


def from_secret(value: str = SECRET_VALUE, fingerprint: str = "v1") -> dict[Source, Fetched]:
    return {(SourceKind.SECRET, "tokens", "api-token"): Fetched(value.encode(), fingerprint)}


def secret_token_entry(declaration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return entry(
        body=body_of({"Token": declaration or {"Type": "String", "NoEcho": True}}),
        parametersFrom=[{"name": "Token", "secretKeyRef": key_ref("tokens", "api-token")}],
    )


def render(spec: TurbineStackSpec, fetched: Mapping[Source, Fetched] | None = None) -> RenderedAdditions:
    return render_additions(MASTER, spec, fetched or {})


def desired(spec: TurbineStackSpec, fetched: Mapping[Source, Fetched] | None = None) -> DesiredStack:
    return desired_stack(spec, OWNER, SOURCES, fetched or {})


def refusal(spec: TurbineStackSpec, fetched: Mapping[Source, Fetched] | None = None) -> SpecError:
    with pytest.raises(SpecError) as caught:
        desired(spec, fetched)
    return caught.value


def nested_parameters(rendered: RenderedAdditions, name: str = "Dags") -> dict[str, Any]:
    properties: dict[str, Any] = rendered.template["Resources"][name]["Properties"]
    return dict(properties.get("Parameters", {}))


def output_value(output: str) -> Any:
    return MASTER["Outputs"][output]["Value"]


def assert_quotes_little_of(message: str, body: bytes | str, longest: int = 40) -> None:
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    runs = [message[start : start + longest + 1] for start in range(len(message) - longest)]
    assert not [run for run in runs if run in text], message


# --- nested stacks and their files --------------------------------------------------------------


def test_each_additional_template_becomes_a_nested_stack_named_by_its_entry() -> None:
    rendered = render(spec_of(entry("Dags"), entry("Alarms")))
    cluster_url = MASTER["Resources"]["ClusterStack"]["Properties"]["TemplateURL"]["Fn::Sub"]
    for name in ("Dags", "Alarms"):
        assert rendered.template["Resources"][name] == {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {
                "TemplateURL": {
                    "Fn::Sub": cluster_url.replace(
                        "turbine-cluster.yaml", f"additional_templates/{name}.yaml"
                    )
                }
            },
        }
    assert rendered.template["Resources"]["Dags"]["Properties"]["TemplateURL"]["Fn::Sub"].endswith(
        "${QSS3KeyPrefix}templates/additional_templates/Dags.yaml"
    )


VERBATIM_BODY = b"""\
# kept as written: comments, short-form tags and key order
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      TopicName: !Sub "${AWS::StackName}-alerts"
Outputs:
  TopicArn: {Value: !Ref Topic}
"""


@pytest.mark.parametrize(
    ("source", "fetched"),
    [
        ({"inline": VERBATIM_BODY.decode()}, {}),
        (
            {"configMapKeyRef": key_ref("settings", "dags.yaml")},
            from_config_map("settings", "dags.yaml", VERBATIM_BODY),
        ),
        (
            {"s3Url": "s3://shared-templates/airflow/dags.yaml"},
            {(SourceKind.S3_OBJECT, "shared-templates", "airflow/dags.yaml"): Fetched(VERBATIM_BODY, "d")},
        ),
    ],
    ids=["inline", "configMapKeyRef", "s3Url"],
)
def test_the_template_body_is_uploaded_unchanged_at_its_bundle_path(
    source: dict[str, Any], fetched: dict[Source, Fetched]
) -> None:
    stack = desired(spec_of({"name": "Dags", "template": source}), fetched)
    assert stack.bundle.files[f"{ADDITIONAL}Dags.yaml"] == VERBATIM_BODY


def test_files_are_uploaded_at_their_paths_below_the_additional_templates() -> None:
    binary = b"\x00\xff\x89PNG"
    spec = spec_of(
        entry(
            files=[
                {"path": "child.yaml", "inline": "Resources: {}\n"},
                {"path": "nested/deeper/grandchild.json", "configMapKeyRef": key_ref("settings", "child")},
                {"path": "assets/logo.png", "configMapKeyRef": key_ref("settings", "logo")},
            ]
        )
    )
    fetched = {
        **from_config_map("settings", "child", b'{"Resources": {}}'),
        **from_config_map("settings", "logo", binary),
    }
    rendered = render(spec, fetched)
    assert dict(rendered.files) == {
        f"{ADDITIONAL}Dags.yaml": body_of().encode(),
        f"{ADDITIONAL}assets/logo.png": binary,
        f"{ADDITIONAL}child.yaml": b"Resources: {}\n",
        f"{ADDITIONAL}nested/deeper/grandchild.json": b'{"Resources": {}}',
    }
    bundle = desired(spec, fetched).bundle.files
    assert {path: bundle[path] for path in rendered.files} == dict(rendered.files)


# --- parameters ----------------------------------------------------------------------------------


def test_the_documented_well_known_parameters_are_the_ones_passed() -> None:
    assert sorted(WELL_KNOWN) == sorted((*WELL_KNOWN_PARAMETERS, *WELL_KNOWN_OUTPUTS))


@pytest.mark.parametrize("name", WELL_KNOWN)
def test_a_well_known_parameter_is_passed_when_the_template_declares_it(name: str) -> None:
    rendered = render(spec_of(entry(body=body_of({name: {"Type": "String"}}))))
    expected = {"Ref": name} if name.startswith("QSS3") else output_value(name)
    assert nested_parameters(rendered) == {name: expected}


def test_well_known_parameters_pass_the_expressions_behind_the_master_outputs() -> None:
    rendered = render(spec_of(entry(body=body_of({"VpcId": {"Type": "String"}}))))
    assert nested_parameters(rendered)["VpcId"] == {"Fn::GetAtt": ["ClusterStack", "Outputs.VpcId"]}


def test_no_parameters_are_passed_to_a_template_that_declares_none() -> None:
    rendered = render(spec_of(entry()))
    assert "Parameters" not in rendered.template["Resources"]["Dags"]["Properties"]


@pytest.mark.parametrize("name", ["DatabaseEndpoint", "WebserverURL", "MaxGroupSize", "VpcCidr", "Region"])
def test_other_master_parameters_and_outputs_are_not_passed(name: str) -> None:
    rendered = render(spec_of(entry(body=body_of({name: {"Type": "String", "Default": "x"}}))))
    assert nested_parameters(rendered) == {}


@pytest.mark.parametrize("name", ["VpcId", "QSS3KeyPrefix", "WorkerRoleName"])
@pytest.mark.parametrize("how", ["parameters", "parametersFrom"])
def test_explicit_parameters_win_over_well_known_ones(name: str, how: str) -> None:
    body = body_of({name: {"Type": "String"}})
    if how == "parameters":
        spec, fetched = spec_of(entry(body=body, parameters={name: "mine"})), {}
    else:
        ref = {"name": name, "configMapKeyRef": key_ref("settings", "value")}
        spec, fetched = (
            spec_of(entry(body=body, parametersFrom=[ref])),
            from_config_map("settings", "value", b"mine"),
        )
    assert nested_parameters(render(spec, fetched)) == {name: "mine"}


def test_explicit_parameters_are_passed_as_literal_values() -> None:
    body = body_of({"Retention": {"Type": "Number"}, "Team": {"Type": "String", "Default": "data"}})
    rendered = render(spec_of(entry(body=body, parameters={"Retention": "30", "Team": "ml"})))
    assert nested_parameters(rendered) == {"Retention": "30", "Team": "ml"}


def test_a_parameter_the_template_does_not_declare_is_refused() -> None:
    error = refusal(spec_of(entry(parameters={"Undeclared": "x"})))
    assert error.field == "spec.additionalTemplates[Dags].parameters.Undeclared"
    assert "Undeclared" in error.message


@pytest.mark.parametrize(
    ("item", "fetched"),
    [
        ({"configMapKeyRef": key_ref("settings", "value")}, from_config_map("settings", "value", b"x")),
        ({"secretKeyRef": key_ref("tokens", "api-token")}, from_secret()),
    ],
    ids=["configMapKeyRef", "secretKeyRef"],
)
def test_a_parameter_from_a_reference_the_template_does_not_declare_is_refused(
    item: dict[str, Any], fetched: dict[Source, Fetched]
) -> None:
    error = refusal(spec_of(entry(parametersFrom=[{"name": "Undeclared", **item}])), fetched)
    assert error.field == "spec.additionalTemplates[Dags].parametersFrom[Undeclared]"
    assert SECRET_VALUE not in str(error)


def test_a_declared_parameter_without_default_or_value_is_refused() -> None:
    body = body_of(
        {"Retention": {"Type": "Number"}, "Bucket": {"Type": "String"}, "Team": {"Type": "String"}}
    )
    error = refusal(spec_of(entry(body=body, parameters={"Team": "ml"})))
    assert error.field == "spec.additionalTemplates[Dags]"
    assert "Bucket, Retention" in error.message


def test_a_declared_parameter_with_a_default_may_be_left_to_cloudformation() -> None:
    rendered = render(spec_of(entry(body=body_of({"Team": {"Type": "String", "Default": "data"}}))))
    assert nested_parameters(rendered) == {}


CONSTRAINTS: list[tuple[dict[str, Any], str, bool]] = [
    ({"Type": "String", "AllowedValues": ["hot", "cold"]}, "cold", True),
    ({"Type": "String", "AllowedValues": ["hot", "cold"]}, "warm", False),
    ({"Type": "String", "AllowedPattern": "^[a-z]+$"}, "abc", True),
    ({"Type": "String", "AllowedPattern": "^[a-z]+$"}, "ABC", False),
    ({"Type": "String", "MaxLength": 3}, "abcd", False),
    ({"Type": "String", "MinLength": 2}, "a", False),
    ({"Type": "Number", "MinValue": 1, "MaxValue": 30}, "30", True),
    ({"Type": "Number", "MinValue": 1, "MaxValue": 30}, "31", False),
    ({"Type": "Number"}, "thirty", False),
]


@pytest.mark.parametrize(("declaration", "value", "valid"), CONSTRAINTS)
def test_the_template_parameter_constraints_apply_to_explicit_values(
    declaration: dict[str, Any], value: str, valid: bool
) -> None:
    spec = spec_of(entry(body=body_of({"Tier": declaration}), parameters={"Tier": value}))
    if valid:
        assert nested_parameters(render(spec)) == {"Tier": value}
    else:
        assert refusal(spec).field == "spec.additionalTemplates[Dags].parameters.Tier"


@pytest.mark.parametrize(("declaration", "value", "valid"), CONSTRAINTS)
def test_the_template_parameter_constraints_apply_to_config_map_values(
    declaration: dict[str, Any], value: str, valid: bool
) -> None:
    ref = {"name": "Tier", "configMapKeyRef": key_ref("settings", "tier")}
    spec = spec_of(entry(body=body_of({"Tier": declaration}), parametersFrom=[ref]))
    fetched = from_config_map("settings", "tier", value.encode())
    if valid:
        assert nested_parameters(render(spec, fetched)) == {"Tier": value}
    else:
        assert refusal(spec, fetched).field == "spec.additionalTemplates[Dags].parametersFrom[Tier]"


def test_a_config_map_value_becomes_a_literal_parameter_value() -> None:
    ref = {"name": "Team", "configMapKeyRef": key_ref("settings", "team")}
    spec = spec_of(entry(body=body_of({"Team": {"Type": "String"}}), parametersFrom=[ref]))
    rendered = render(spec, from_config_map("settings", "team", b"data-platform"))
    assert nested_parameters(rendered) == {"Team": "data-platform"}
    assert rendered.parameters == {}
    assert rendered.secret_parameters == frozenset()


def test_a_config_map_value_that_is_not_utf8_is_refused() -> None:
    ref = {"name": "Team", "configMapKeyRef": key_ref("settings", "team")}
    spec = spec_of(entry(body=body_of({"Team": {"Type": "String"}}), parametersFrom=[ref]))
    error = refusal(spec, from_config_map("settings", "team", b"\xff\xfe"))
    assert error.field == "spec.additionalTemplates[Dags].parametersFrom[Team].configMapKeyRef"


# --- Secret parameters ---------------------------------------------------------------------------


def test_a_secret_value_becomes_a_no_echo_parameter_of_the_master() -> None:
    rendered = render(spec_of(secret_token_entry()), from_secret(fingerprint="v7"))
    declaration = rendered.template["Parameters"]["DagsToken"]
    assert declaration["Type"] == "String"
    assert declaration["NoEcho"] is True
    assert "Default" not in declaration
    assert nested_parameters(rendered) == {"Token": {"Ref": "DagsToken"}}
    assert rendered.parameters == {"DagsToken": SECRET_VALUE}
    assert rendered.secret_parameters == frozenset({"DagsToken"})
    assert rendered.fingerprints == {"DagsToken": "v7"}


def test_a_secret_value_reaches_the_stack_parameters_and_is_masked_when_shown() -> None:
    stack = desired(spec_of(secret_token_entry()), from_secret())
    assert stack.parameters["DagsToken"] == SECRET_VALUE
    assert stack.secret_parameters == frozenset({"DagsToken"})
    shown = stack.shown_parameters()
    assert shown["DagsToken"] == "****"
    assert SECRET_VALUE not in json.dumps(shown)
    assert shown["QSS3BucketName"] == "turbine-templates"


def test_a_secret_value_appears_in_no_template_and_no_bundle_file() -> None:
    stack = desired(spec_of(secret_token_entry()), from_secret())
    assert SECRET_VALUE.encode() not in stack.bundle.files[RENDERED_MASTER]
    assert [path for path, content in stack.bundle.files.items() if SECRET_VALUE.encode() in content] == []
    assert SECRET_VALUE not in stack.hash


@pytest.mark.parametrize(
    "declaration",
    [
        {"Type": "String", "AllowedValues": ["one", "two"]},
        {"Type": "String", "AllowedPattern": "^[0-9]+$"},
        {"Type": "String", "MaxLength": 8},
        {"Type": "Number"},
    ],
    ids=["AllowedValues", "AllowedPattern", "MaxLength", "Number"],
)
def test_a_secret_value_failing_the_constraints_is_refused_without_quoting_it(
    declaration: dict[str, Any],
) -> None:
    error = refusal(spec_of(secret_token_entry(declaration)), from_secret())
    assert error.field == "spec.additionalTemplates[Dags].parametersFrom[Token]"
    assert SECRET_VALUE not in str(error)
    assert SECRET_VALUE not in "".join(traceback.format_exception(error))


def test_the_escape_hatch_cannot_set_a_secret_parameter() -> None:
    error = refusal(spec_of(secret_token_entry(), parameters={"DagsToken": "guess"}), from_secret())
    assert error.field == "spec.parameters.DagsToken"


# --- the desired hash ------------------------------------------------------------------------------


def config_map_team_spec() -> TurbineStackSpec:
    ref = {"name": "Team", "configMapKeyRef": key_ref("settings", "team")}
    return spec_of(entry(body=body_of({"Team": {"Type": "String"}}), parametersFrom=[ref]))


def test_the_hash_changes_when_a_config_map_value_changes() -> None:
    spec = config_map_team_spec()
    first = desired(spec, from_config_map("settings", "team", b"data"))
    second = desired(spec, from_config_map("settings", "team", b"ml"))
    assert first.hash != second.hash


@pytest.mark.parametrize(
    ("source", "key"),
    [
        (
            {"configMapKeyRef": key_ref("settings", "dags.yaml")},
            (SourceKind.CONFIG_MAP, "settings", "dags.yaml"),
        ),
        (
            {"s3Url": "s3://shared-templates/dags.yaml"},
            (SourceKind.S3_OBJECT, "shared-templates", "dags.yaml"),
        ),
    ],
    ids=["configMapKeyRef", "s3Url"],
)
def test_the_hash_changes_when_a_referenced_template_body_changes(
    source: dict[str, Any], key: Source
) -> None:
    spec = spec_of({"name": "Dags", "template": source})
    first = desired(spec, {key: Fetched(body_of().encode(), "a")})
    second = desired(spec, {key: Fetched(body_of(Description="changed").encode(), "a")})
    assert first.hash != second.hash


def test_the_hash_changes_when_a_referenced_file_changes() -> None:
    spec = spec_of(entry(files=[{"path": "child.yaml", "configMapKeyRef": key_ref("settings", "child")}]))
    first = desired(spec, from_config_map("settings", "child", b"Resources: {A: 1}"))
    second = desired(spec, from_config_map("settings", "child", b"Resources: {B: 1}"))
    assert first.hash != second.hash


def test_the_hash_changes_when_the_secret_fingerprint_changes() -> None:
    spec = spec_of(secret_token_entry())
    assert (
        desired(spec, from_secret(fingerprint="v1")).hash != desired(spec, from_secret(fingerprint="v2")).hash
    )


def test_the_hash_follows_the_secret_version_not_its_value() -> None:
    spec = spec_of(secret_token_entry())
    first = desired(spec, from_secret("first-value", fingerprint="v1"))
    second = desired(spec, from_secret("second-value", fingerprint="v1"))
    assert first.hash == second.hash
    assert first.bundle == second.bundle
    assert first.parameters["DagsToken"] != second.parameters["DagsToken"]


# --- policies ------------------------------------------------------------------------------------


def test_an_additional_policy_becomes_a_managed_policy_of_the_instance_roles() -> None:
    rendered = render(spec_of(policies=(policy(),)))
    resource = rendered.template["Resources"]["ReadData"]
    assert resource["Type"] == "AWS::IAM::ManagedPolicy"
    assert resource["Properties"]["PolicyDocument"] == READ_DATA
    assert resource["Properties"]["Roles"] == [
        output_value("SchedulerRoleName"),
        output_value("WebserverRoleName"),
        output_value("WorkerRoleName"),
    ]


@pytest.mark.parametrize(
    ("roles", "outputs"),
    [
        (["worker"], ["WorkerRoleName"]),
        (["webserver"], ["WebserverRoleName"]),
        (["worker", "scheduler"], ["SchedulerRoleName", "WorkerRoleName"]),
        (["worker", "webserver", "scheduler"], ["SchedulerRoleName", "WebserverRoleName", "WorkerRoleName"]),
    ],
)
def test_a_policy_is_attached_to_the_chosen_roles_only_in_a_fixed_order(
    roles: list[str], outputs: list[str]
) -> None:
    rendered = render(spec_of(policies=(policy(roles=roles),)))
    assert rendered.template["Resources"]["ReadData"]["Properties"]["Roles"] == [
        output_value(output) for output in outputs
    ]


def test_a_policy_document_may_come_from_a_config_map_in_yaml() -> None:
    document = (
        b"Version: 2012-10-17\n"
        b"Statement:\n"
        b"  - {Effect: Allow, Action: s3:GetObject, Resource: 'arn:aws:s3:::data/*'}\n"
    )
    spec = spec_of(
        policies=({"name": "ReadData", "document": {"configMapKeyRef": key_ref("policies", "read")}},)
    )
    rendered = render(spec, from_config_map("policies", "read", document))
    assert rendered.template["Resources"]["ReadData"]["Properties"]["PolicyDocument"] == READ_DATA


def test_an_administrator_policy_is_refused_by_default() -> None:
    error = refusal(spec_of(policies=(policy("Admin", ADMINISTRATOR),)))
    assert error.field.startswith("spec.additionalPolicies[Admin].document")
    assert "allowAdministratorPolicies" in error.message


def test_an_administrator_policy_is_rendered_when_allowed() -> None:
    rendered = render(spec_of(policies=(policy("Admin", ADMINISTRATOR),), allowAdministratorPolicies=True))
    assert rendered.template["Resources"]["Admin"]["Properties"]["PolicyDocument"] == ADMINISTRATOR


def test_a_policy_that_is_not_json_or_yaml_is_refused_naming_its_document() -> None:
    spec = spec_of(policies=({"name": "Broken", "document": {"inline": '{"Version": "2012-10-17", '}},))
    assert refusal(spec).field == "spec.additionalPolicies[Broken].document"


# --- names ----------------------------------------------------------------------------------------

TURBINE_NAMES = [
    "ClusterStack",
    "NetworkStack",
    "MaxGroupSize",
    "QSS3BucketName",
    "VpcCidr",
    "WebserverURL",
    "WorkerRoleName",
    "CreateNetwork",
    "WebServerPortIsNotZero",
]


@pytest.mark.parametrize("name", TURBINE_NAMES)
def test_a_template_named_like_a_turbine_resource_parameter_or_output_is_refused(name: str) -> None:
    error = refusal(spec_of(entry(name)))
    assert error.field == f"spec.additionalTemplates[{name}].name"
    assert "Turbine master template" in error.message


@pytest.mark.parametrize("name", TURBINE_NAMES)
def test_a_policy_named_like_a_turbine_resource_parameter_or_output_is_refused(name: str) -> None:
    error = refusal(spec_of(policies=(policy(name),)))
    assert error.field == f"spec.additionalPolicies[{name}].name"
    assert "Turbine master template" in error.message


def secret_entry(template: str, parameter: str) -> dict[str, Any]:
    return entry(
        template,
        body=body_of({parameter: {"Type": "String", "NoEcho": True}}),
        parametersFrom=[{"name": parameter, "secretKeyRef": key_ref("tokens", "api-token")}],
    )


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (spec_of(secret_entry("Vpc", "Id")), "spec.additionalTemplates[Vpc].parametersFrom[Id]"),
        (
            spec_of(secret_entry("Max", "GroupSize")),
            "spec.additionalTemplates[Max].parametersFrom[GroupSize]",
        ),
        (
            spec_of(entry("DagsToken"), secret_entry("Dags", "Token")),
            "spec.additionalTemplates[Dags].parametersFrom[Token]",
        ),
        (
            spec_of(secret_entry("Dags", "Token"), entry("DagsToken")),
            "spec.additionalTemplates[DagsToken].name",
        ),
        (
            spec_of(secret_entry("Dags", "Token"), secret_entry("DagsT", "oken")),
            "spec.additionalTemplates[DagsT].parametersFrom[oken]",
        ),
        (
            spec_of(secret_entry("Dags", "Token"), policies=(policy("DagsToken"),)),
            "spec.additionalPolicies[DagsToken].name",
        ),
    ],
    ids=[
        "master-parameter",
        "typed-parameter",
        "earlier-template",
        "later-template",
        "other-secret",
        "policy",
    ],
)
def test_a_secret_master_parameter_clashing_with_another_name_is_refused(
    spec: TurbineStackSpec, field: str
) -> None:
    assert refusal(spec, from_secret()).field == field


def test_two_templates_uploading_the_same_file_are_refused_naming_both() -> None:
    shared = {"path": "shared/child.yaml", "inline": "Resources: {}"}
    error = refusal(spec_of(entry("Dags", files=[shared]), entry("Alarms", files=[shared])))
    assert error.field == "spec.additionalTemplates[Alarms].files[shared/child.yaml]"
    assert "spec.additionalTemplates[Dags].files[shared/child.yaml]" in error.message


@pytest.mark.parametrize("file_first", [True, False], ids=["file-first", "template-first"])
def test_a_template_named_like_another_templates_file_is_refused(file_first: bool) -> None:
    with_file = entry("Dags", files=[{"path": "Alarms.yaml", "inline": "Resources: {}"}])
    entries = (with_file, entry("Alarms")) if file_first else (entry("Alarms"), with_file)
    error = refusal(spec_of(*entries))
    both = f"{error.field} {error.message}"
    assert "spec.additionalTemplates[Dags].files[Alarms.yaml]" in both
    assert "spec.additionalTemplates[Alarms].template" in both


def test_a_template_may_not_ship_a_file_named_like_itself() -> None:
    error = refusal(spec_of(entry("Dags", files=[{"path": "Dags.yaml", "inline": "Resources: {}"}])))
    assert error.field == "spec.additionalTemplates[Dags].files[Dags.yaml]"


# --- bad bodies -------------------------------------------------------------------------------------

MARKER = "Zq7-distinctive-run-of-body-text-that-must-not-be-echoed-back-Xw3"
ONE_RESOURCE = "Resources:\n  Topic: {Type: AWS::SNS::Topic}\n"


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            f"Resources:\n  Topic: {{Type: AWS::SNS::Topic, Name: {MARKER}\n".encode(), id="malformed-yaml"
        ),
        pytest.param(f"{ONE_RESOURCE}\t{MARKER}: x\n".encode(), id="tab"),
        pytest.param(f'{{"Resources": {{"Topic": "{MARKER}"'.encode(), id="truncated-json"),
        pytest.param(f'["{MARKER}", {{"Resources": {{}}}}]'.encode(), id="json-list"),
        pytest.param(f"{MARKER}\n".encode(), id="scalar"),
        pytest.param(f"Description: {MARKER}\nOutputs: {{}}\n".encode(), id="no-resources"),
        pytest.param(f"Description: {MARKER}\nResources: [{MARKER}]\n".encode(), id="resources-list"),
        pytest.param(f"Description: {MARKER}\nResources: {{}}\n".encode(), id="empty-resources"),
        pytest.param(f"AWSTemplateFormatVersion: 2011-01-01-{MARKER}\n{ONE_RESOURCE}".encode(), id="version"),
        pytest.param(f"AWSTemplateFormatVersion: '2010-09-10'\n{ONE_RESOURCE}".encode(), id="version-date"),
        pytest.param(f"Outputs: [{MARKER}]\n{ONE_RESOURCE}".encode(), id="outputs-list"),
        pytest.param(f"Parameters: {MARKER}\n{ONE_RESOURCE}".encode(), id="parameters-scalar"),
        pytest.param(b"\xff\xfe" + MARKER.encode() + b"\n", id="not-utf8"),
        pytest.param(
            f"Description: {'x' * 1_000_001}\n{ONE_RESOURCE}".encode(),
            id="over-1MB",
        ),
    ],
)
def test_a_bad_template_body_is_refused_naming_the_template_without_echoing_it(body: bytes) -> None:
    spec = spec_of({"name": "Dags", "template": {"configMapKeyRef": key_ref("settings", "dags.yaml")}})
    error = refusal(spec, from_config_map("settings", "dags.yaml", body))
    assert error.field == "spec.additionalTemplates[Dags].template"
    assert_quotes_little_of(str(error), body)


@pytest.mark.parametrize(
    ("declaration", "parameters"),
    [("1", {"Tier": "hot"}), ("[String]", {"Tier": "hot"}), ("1", {})],
    ids=["number-with-value", "list-with-value", "number-without-value"],
)
def test_a_parameter_declaration_that_is_not_a_map_is_refused(
    declaration: str, parameters: dict[str, str]
) -> None:
    body = f"Parameters:\n  Tier: {declaration}\n{ONE_RESOURCE}"
    assert (
        refusal(spec_of(entry(body=body, parameters=parameters))).field
        == "spec.additionalTemplates[Dags].template"
    )


def test_a_template_of_exactly_1mb_is_accepted() -> None:
    head = f"{ONE_RESOURCE}Description: "
    body = (head + "x" * (1_000_000 - len(head) - 1) + "\n").encode()
    spec = spec_of({"name": "Dags", "template": {"configMapKeyRef": key_ref("settings", "dags.yaml")}})
    assert len(body) == 1_000_000
    assert (
        render(spec, from_config_map("settings", "dags.yaml", body)).files[f"{ADDITIONAL}Dags.yaml"] == body
    )


def test_a_parameter_value_over_cloudformations_limit_is_refused() -> None:
    ref = {"name": "Blob", "configMapKeyRef": key_ref("settings", "blob")}
    spec = spec_of(entry(body=body_of({"Blob": {"Type": "String"}}), parametersFrom=[ref]))
    error = refusal(spec, from_config_map("settings", "blob", b"x" * 4097))
    assert error.field == "spec.additionalTemplates[Dags].parametersFrom[Blob]"
    assert "4096 bytes" in error.message


def test_a_master_template_grown_over_1mb_by_the_additions_is_refused() -> None:
    names = [f"P{index}" for index in range(60)]
    body = body_of({name: {"Type": "String"} for name in names})
    templates = [
        entry(f"Dags{index}", body=body, parameters={name: "x" * 4000 for name in names})
        for index in range(5)
    ]
    error = refusal(spec_of(*templates))
    assert error.field == "spec.additionalTemplates"
    assert "1 MB" in error.message


# --- references that were not fetched ------------------------------------------------------------------


def every_reference_spec() -> TurbineStackSpec:
    return spec_of(
        {
            "name": "Dags",
            "template": {"configMapKeyRef": key_ref("settings", "dags.yaml")},
            "files": [{"path": "child.yaml", "configMapKeyRef": key_ref("settings", "child")}],
            "parametersFrom": [
                {"name": "Team", "configMapKeyRef": key_ref("settings", "team")},
                {"name": "Token", "secretKeyRef": key_ref("tokens", "api-token")},
            ],
        },
        {"name": "Alarms", "template": {"s3Url": "s3://shared-templates/alarms.yaml"}},
        policies=({"name": "ReadData", "document": {"configMapKeyRef": key_ref("policies", "read")}},),
    )


def every_reference_fetched() -> dict[Source, Fetched]:
    return {
        **from_config_map(
            "settings",
            "dags.yaml",
            body_of({"Team": {"Type": "String"}, "Token": {"Type": "String", "NoEcho": True}}).encode(),
        ),
        **from_config_map("settings", "child", b"Resources: {}"),
        **from_config_map("settings", "team", b"data"),
        **from_secret(),
        (SourceKind.S3_OBJECT, "shared-templates", "alarms.yaml"): Fetched(body_of().encode(), "s3"),
        **from_config_map("policies", "read", json.dumps(READ_DATA).encode()),
    }


def test_every_reference_fetched_renders() -> None:
    rendered = render(every_reference_spec(), every_reference_fetched())
    assert {"Dags", "Alarms", "ReadData"} <= set(rendered.template["Resources"])


@pytest.mark.parametrize(
    "field",
    [
        "spec.additionalTemplates[Dags].template.configMapKeyRef",
        "spec.additionalTemplates[Dags].files[child.yaml].configMapKeyRef",
        "spec.additionalTemplates[Dags].parametersFrom[Team].configMapKeyRef",
        "spec.additionalTemplates[Dags].parametersFrom[Token].secretKeyRef",
        "spec.additionalTemplates[Alarms].template.s3Url",
        "spec.additionalPolicies[ReadData].document.configMapKeyRef",
    ],
)
def test_a_reference_that_was_not_fetched_is_refused_naming_the_field_that_asked_for_it(field: str) -> None:
    spec = every_reference_spec()
    (reference,) = [reference for reference in references_of(spec) if reference.field == field]
    fetched = every_reference_fetched()
    del fetched[reference.source]
    with pytest.raises(SpecError) as caught:
        render(spec, fetched)
    assert caught.value.field == field


# --- determinism and the spec without additions ------------------------------------------------------


def full_spec() -> TurbineStackSpec:
    return spec_of(
        secret_token_entry(),
        entry("Alarms", files=[{"path": "alarms/child.yaml", "inline": "Resources: {}"}]),
        policies=(policy(),),
    )


def test_rendering_the_same_spec_twice_gives_identical_bytes_and_hash() -> None:
    first, second = desired(full_spec(), from_secret()), desired(full_spec(), from_secret())
    assert first.bundle.files == second.bundle.files
    assert first.hash == second.hash
    assert first == second


def test_spec_order_is_kept_in_resources_while_the_json_is_canonical() -> None:
    forward = render(spec_of(entry("Zeta"), entry("Alpha"), policies=(policy("Mid"),)))
    backward = render(spec_of(entry("Alpha"), entry("Zeta"), policies=(policy("Mid"),)))
    master_resources = list(MASTER["Resources"])
    assert list(forward.template["Resources"]) == [*master_resources, "Zeta", "Alpha", "Mid"]
    assert list(backward.template["Resources"]) == [*master_resources, "Alpha", "Zeta", "Mid"]
    assert dump_template(forward.template) == dump_template(backward.template)
    assert dump_template(forward.template) == json.dumps(forward.template, sort_keys=True, indent=1).encode()


def test_rendering_does_not_change_the_master_it_was_given() -> None:
    master = copy.deepcopy(MASTER)
    render_additions(master, full_spec(), from_secret())
    assert master == MASTER


def test_a_spec_without_additions_renders_exactly_as_before() -> None:
    rendered = render(spec_of())
    assert rendered.template == MASTER
    assert dict(rendered.files) == {}
    assert dict(rendered.parameters) == {}
    assert rendered.secret_parameters == frozenset()
    stack = desired(spec_of())
    assert stack.bundle.files[RENDERED_MASTER] == dump_template(MASTER)
    assert not [path for path in stack.bundle.files if path.startswith(ADDITIONAL)]
    assert stack.secret_parameters == frozenset()
    assert stack == desired_stack(spec_of(), OWNER, SOURCES)


def test_a_secret_needs_a_no_echo_parameter_so_the_nested_stack_masks_it_too() -> None:
    error = refusal(spec_of(secret_token_entry({"Type": "String"})), from_secret())
    assert error.field == "spec.additionalTemplates[Dags].parametersFrom[Token]"
    assert "NoEcho: true" in error.message


@pytest.mark.parametrize(
    ("declaration", "value", "accepted"),
    [
        ({"Type": "String", "AllowedValues": [True, False]}, "true", True),
        ({"Type": "String", "AllowedValues": [True, False]}, "True", False),
        ({"Type": "String", "AllowedPattern": r"\p{Alnum}+"}, "anything", True),
        ({"Type": "String", "AllowedValues": 5}, "5", False),
        ({"Type": "String", "MinLength": "x"}, "value", False),
        ({"Type": "Number", "MaxValue": "lots"}, "3", False),
    ],
    ids=[
        "yaml-booleans",
        "booleans-are-lowercase",
        "java-pattern-left-to-aws",
        "values-not-a-list",
        "bad-length",
        "bad-bound",
    ],
)
def test_template_constraints_are_applied_or_reported_against_the_parameter(
    declaration: dict[str, Any], value: str, accepted: bool
) -> None:
    spec = spec_of(entry(body=body_of({"Tier": declaration}), parameters={"Tier": value}))
    if accepted:
        assert nested_parameters(render(spec)) == {"Tier": value}
    else:
        assert refusal(spec).field == "spec.additionalTemplates[Dags].parameters.Tier"


TEMPLATES_CLOUDFORMATION_REFUSES = [
    pytest.param(
        body_of(Resources={"Topic": {"Properties": {"TopicName": "x"}}}),
        "its resource Topic must be a map with a Type",
        id="resource-without-type",
    ),
    pytest.param(
        body_of(Resources={"Topic": {"Type": ["AWS::SNS::Topic"]}}),
        "its resource Topic must be a map with a Type",
        id="type-not-a-string",
    ),
    pytest.param(
        body_of(Resources={"Topic": "AWS::SNS::Topic"}), "must be a map with a Type", id="not-a-map"
    ),
    pytest.param(
        "Resources:\n  Topic: &topic\n    Type: AWS::SNS::Topic\n  Other: *topic\n",
        "uses YAML that CloudFormation refuses (line 2, column 10: found an anchor",
        id="anchor-and-alias",
    ),
    pytest.param(
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties: *props\n",
        "uses YAML that CloudFormation refuses (line 4, column 17: found an alias",
        id="alias",
    ),
    pytest.param(
        "Resources:\n  Topic:\n    <<: {Type: AWS::SNS::Topic}\n",
        "uses YAML that CloudFormation refuses (line 3, column 5: found a merge key",
        id="merge-key",
    ),
]


@pytest.mark.parametrize(("body", "problem"), TEMPLATES_CLOUDFORMATION_REFUSES)
def test_templates_cloudformation_refuses_are_refused_before_upload(body: str, problem: str) -> None:
    error = refusal(spec_of(entry(body=body)))

    assert error.field == "spec.additionalTemplates[Dags].template"
    assert problem in error.message


def test_the_rendered_stack_names_the_user_templates_for_validation() -> None:
    rendered = desired(spec_of(entry(), entry("Reports")))

    assert rendered.user_templates == {
        f"{ADDITIONAL}Dags.yaml": "spec.additionalTemplates[Dags].template",
        f"{ADDITIONAL}Reports.yaml": "spec.additionalTemplates[Reports].template",
    }


def test_renders_share_one_parse_of_the_master_and_never_change_it() -> None:
    plain = desired(spec_of()).bundle.files[RENDERED_MASTER]
    with_additions = desired(spec_of(entry(), policies=(policy(),))).bundle.files[RENDERED_MASTER]
    assert with_additions != plain
    # The master parsed once is shared: rendering the additions must not have written into it.
    assert desired(spec_of()).bundle.files[RENDERED_MASTER] == plain
    assert json.loads(plain) == load_template(SOURCES.templates["turbine-master.yaml"], "master")


# Administrator access granted through an additional template needs the same opt-in as an additional policy.

WORKER_ROLE = {"Ref": "WorkerRoleName"}
PARAMETERS = {"WorkerRoleName": {"Type": "String"}}


def document(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: object, resource: object = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def template_with(resource: dict[str, Any]) -> str:
    return body_of(PARAMETERS, Resources={"Grant": resource})


def iam_policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Policy",
        "Properties": {
            "PolicyName": "grant",
            "Roles": [WORKER_ROLE],
            "PolicyDocument": document(*statements),
        },
    }


GRANTS: list[tuple[dict[str, Any], str]] = [
    # The case issue 27 tried: a nested AWS::IAM::Policy granting `*` to the worker role, with no flag.
    (
        iam_policy(allow("*")),
        "its resource Grant (AWS::IAM::Policy) statement 0 allows every action on every",
    ),
    (
        {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {"PolicyDocument": document(allow("iam:PassRole"))},
        },
        "(AWS::IAM::ManagedPolicy) statement 0 allows iam:PassRole on every role",
    ),
    (
        {
            "Type": "AWS::IAM::RolePolicy",
            "Properties": {
                "RoleName": WORKER_ROLE,
                "PolicyName": "self",
                "PolicyDocument": document(
                    allow("iam:PutRolePolicy", {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:role/x"})
                ),
            },
        },
        "allows iam:PutRolePolicy on every role",
    ),
    (
        {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": document(),
                "Policies": [
                    {"PolicyName": "all", "PolicyDocument": document(allow("ec2:Describe*"), allow("*"))}
                ],
            },
        },
        "(AWS::IAM::Role) Policies[0] statement 1 allows every action",
    ),
    (
        {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": document(),
                "ManagedPolicyArns": [
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/ReadOnlyAccess"},
                    "arn:aws:iam::aws:policy/AdministratorAccess",
                ],
            },
        },
        "attaches the AWS managed policy AdministratorAccess",
    ),
    (
        {
            "Type": "AWS::IAM::User",
            "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/IAMFullAccess"]},
        },
        "(AWS::IAM::User) attaches the AWS managed policy IAMFullAccess",
    ),
    ({"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": "ci"}}, "makes access keys for an IAM user"),
    (
        {"Type": "AWS::IAM::UserToGroupAddition", "Properties": {"GroupName": "admins", "Users": ["ci"]}},
        "adds IAM users to a group",
    ),
    # What is computed at deploy time may be anything: an action, a statement, a whole document.
    (
        iam_policy(allow({"Fn::If": ["Wide", "*", "s3:GetObject"]})),
        "statement 0 allows every action on every",
    ),
    (
        {
            "Type": "AWS::IAM::Policy",
            "Properties": {"PolicyDocument": {"Fn::If": ["Wide", {}, {}]}, "Roles": []},
        },
        "has a policy document computed at deploy time",
    ),
    (
        iam_policy({"Fn::If": ["Wide", allow("*"), {"Ref": "AWS::NoValue"}]}),
        "statement 0 is computed at deploy",
    ),
]


@pytest.mark.parametrize(("resource", "what"), GRANTS)
def test_administrator_access_in_a_template_is_refused_naming_the_resource(
    resource: dict[str, Any], what: str
) -> None:
    spec = spec_of(entry(body=template_with(resource)))

    with pytest.raises(SpecError) as caught:
        render(spec)

    assert caught.value.field == "spec.additionalTemplates[Dags].template"
    assert what in caught.value.message
    assert caught.value.message.endswith(
        f", which counts as administrator access. {ADMINISTRATOR_ACCESS_HINT}"
    )


@pytest.mark.parametrize(("resource", "what"), GRANTS)
def test_administrator_access_in_a_template_is_allowed_when_the_spec_opts_in(
    resource: dict[str, Any], what: str
) -> None:
    spec = spec_of(entry(body=template_with(resource)), allowAdministratorPolicies=True)

    assert "Dags" in render(spec).template["Resources"]


@pytest.mark.parametrize(
    "resource",
    [
        iam_policy(allow("s3:GetObject", "arn:aws:s3:::data/*"), allow("sqs:ReceiveMessage")),
        iam_policy(allow(["iam:Get*", "iam:List*"]), {"Effect": "Deny", "Action": "*", "Resource": "*"}),
        iam_policy(allow("sts:AssumeRole", "arn:aws:s3:::data/*")),
        {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": document(),
                "ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess", {"Ref": "DataPolicy"}],
            },
        },
        {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": "x"}},
    ],
)
def test_templates_that_grant_no_administrator_access_render(resource: dict[str, Any]) -> None:
    assert list(administrator_resources(json.loads(template_with(resource)))) == []
    assert "Dags" in render(spec_of(entry(body=template_with(resource)))).template["Resources"]


def test_a_nested_template_shipped_as_a_file_is_checked_too() -> None:
    child = template_with(iam_policy(allow("iam:AttachRolePolicy", "arn:aws:iam::123456789012:role/prod-*")))
    files = [{"path": "children/grant.yaml", "inline": child}, {"path": "scripts/run.sh", "inline": "echo *"}]
    spec = spec_of(entry(files=files))

    with pytest.raises(SpecError) as caught:
        render(spec)

    assert caught.value.field == "spec.additionalTemplates[Dags].files[children/grant.yaml]"
    assert (
        "allows iam:AttachRolePolicy on the role arn:aws:iam::123456789012:role/prod-*"
        in caught.value.message
    )
