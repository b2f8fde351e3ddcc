"""From spec to desired stack: typed parameters, the escape hatch, tags, and a hash that moves only
when what CloudFormation would get moves."""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from turbine_operator.core.api.spec import OPERATOR_PARAMETERS, TurbineStackSpec, parse_spec
from turbine_operator.core.errors import SpecError
from turbine_operator.core.naming import APPLIED_HASH_TAG, ownership_tags
from turbine_operator.core.render.bundle import TurbineSources
from turbine_operator.core.render.rendering import (
    CAPABILITIES,
    DERIVED_PARAMETERS,
    RENDERED_MASTER,
    TYPED_PARAMETERS,
    Owner,
    desired_stack,
    stack_parameters,
    typed_parameter_values,
)
from turbine_operator.core.render.templates import (
    check_parameter_value,
    declared_parameters,
    dump_template,
    load_template,
)

CRD_PATH = Path(__file__).resolve().parents[2] / "crds" / "turbinestacks.turbine.dev.yaml"

# The parameters of the real master template that the operator sets (as in tests/fixtures/small-cfn).
MASTER = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  QSS3BucketName: {Type: String}
  QSS3KeyPrefix: {Type: String}
  SchedulerInstanceType: {Type: String, Default: t3.large}
  WebserverInstanceType: {Type: String, Default: t3.medium}
  WorkerInstanceType: {Type: String, Default: t3.large}
  MinGroupSize: {Type: Number, Default: 0}
  MaxGroupSize: {Type: Number, Default: 10}
  ShrinkThreshold: {Type: Number, Default: 0.5}
  GrowthThreshold: {Type: Number, Default: 0.9}
  LoadExampleDags: {Type: String, Default: "false", AllowedValues: ["true", "false"]}
  LoadDefaultCons: {Type: String, Default: "false", AllowedValues: ["true", "false"]}
  WebServerPort: {Type: Number, Default: 8080}
  AllowHTTPAccessCIDR: {Type: String, Default: 10.0.0.0/16}
  WebserverCount: {Type: Number, Default: 2, MinValue: 2, MaxValue: 10}
  CertificateArn: {Type: String, Default: ""}
  WebserverHostname: {Type: String, Default: ""}
  WebserverHostedZoneId: {Type: String, Default: ""}
  ImageId: {Type: String, Default: ""}
  DrainTimeout: {Type: Number, Default: 3600, MinValue: 60, MaxValue: 7200}
  KeyName: {Type: String, Default: "", AllowedPattern: "^[a-z]*$", MaxLength: 8}
  DagBundle: {Type: String, Default: ""}
  AirflowConfig: {Type: String, Default: ""}
  DagBucket: {Type: String, Default: ""}
  DatabaseDeletionProtection: {Type: String, Default: "true", AllowedValues: ["true", "false"]}
Resources:
  TaskQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-tasks"
Outputs:
  QueueArn:
    Value: !GetAtt TaskQueue.Arn
"""

SOURCES = TurbineSources(
    templates={"turbine-master.yaml": MASTER.encode()},
    scripts={"commons.sh": b"#!/bin/bash\n"},
    lambda_modules={"turbine_cluster_load": b"def handler(event, context):\n    pass\n"},
)
OWNER = Owner(namespace="airflow", name="prod", uid="6f1c0d3e-8a40-4c57-9a0e-6d2d5b1c2f10")
RAW: dict[str, Any] = {"templateBucket": {"name": "turbine-templates"}}
DECLARED = declared_parameters(load_template(MASTER, "master"))
KEY_PREFIX = "turbine/bundles/0123456789abcdef/"


def spec_of(**changes: Any) -> TurbineStackSpec:
    """The spec RAW would parse to, with top-level camelCase fields replaced (objects merged)."""
    raw = copy.deepcopy(RAW)
    for key, value in changes.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) else value
    return parse_spec(raw, namespace=OWNER.namespace, name=OWNER.name, default_region="eu-west-1")


def test_master_declares_every_parameter_the_operator_sets() -> None:
    assert set(TYPED_PARAMETERS.values()) | set(DERIVED_PARAMETERS) | OPERATOR_PARAMETERS <= set(DECLARED)


def test_typed_parameter_values_of_the_defaults() -> None:
    assert typed_parameter_values(spec_of()) == {
        "SchedulerInstanceType": "t3.large",
        "WebserverInstanceType": "t3.medium",
        "WebServerPort": "8080",
        "AllowHTTPAccessCIDR": "10.0.0.0/16",
        "WorkerInstanceType": "t3.large",
        "MinGroupSize": "0",
        "MaxGroupSize": "10",
        "GrowthThreshold": "0.9",
        "ShrinkThreshold": "0.5",
        "LoadExampleDags": "false",
        "LoadDefaultCons": "false",
        "WebserverCount": "2",
        "CertificateArn": "",
        "WebserverHostname": "",
        "WebserverHostedZoneId": "",
        "ImageId": "",  # the operator resolves it before rendering (operations/stack/reconcile.py)
        "AirflowConfig": "",  # no spec.airflow.config
        "DagBundle": "",  # no spec.airflow.dags: the dags folder alone
        "DagBucket": "",
        "DatabaseDeletionProtection": "true",  # deletionPolicy Retain: the database outlives the stack
    }


def test_the_database_is_deletable_only_with_a_stack_the_operator_deletes() -> None:
    # RDS refuses to delete a protected instance: deleting the stack would fail on it (USER_DeleteInstance).
    assert typed_parameter_values(spec_of(deletionPolicy="Retain"))["DatabaseDeletionProtection"] == "true"
    assert typed_parameter_values(spec_of(deletionPolicy="Delete"))["DatabaseDeletionProtection"] == "false"
    with pytest.raises(SpecError) as caught:
        stack_parameters(spec_of(parameters={"DatabaseDeletionProtection": "false"}), DECLARED, KEY_PREFIX)
    assert caught.value.field == "spec.parameters.DatabaseDeletionProtection"
    assert "spec.deletionPolicy" in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "parameter", "value"),
    [
        ({"scheduler": {"instanceType": "m5.xlarge"}}, "SchedulerInstanceType", "m5.xlarge"),
        ({"webserver": {"instanceType": "c6g.large"}}, "WebserverInstanceType", "c6g.large"),
        ({"webserver": {"port": 80}}, "WebServerPort", "80"),
        (
            {
                "webserver": {
                    "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0-1",
                    "hostname": "airflow.example.com",
                }
            },
            "WebserverHostname",
            "airflow.example.com",
        ),
        ({"webserver": {"allowedCidr": "0.0.0.0/0"}}, "AllowHTTPAccessCIDR", "0.0.0.0/0"),
        ({"workers": {"instanceType": "r6i.2xlarge"}}, "WorkerInstanceType", "r6i.2xlarge"),
        ({"workers": {"minSize": 3}}, "MinGroupSize", "3"),
        ({"workers": {"maxSize": 1000}}, "MaxGroupSize", "1000"),
        ({"workers": {"growthThreshold": 0.9}}, "GrowthThreshold", "0.9"),
        ({"workers": {"growthThreshold": 0.95}}, "GrowthThreshold", "0.95"),
        ({"workers": {"growthThreshold": 1}}, "GrowthThreshold", "1"),
        ({"workers": {"growthThreshold": 1.0}}, "GrowthThreshold", "1"),
        ({"workers": {"shrinkThreshold": 0.1}}, "ShrinkThreshold", "0.1"),
        ({"workers": {"shrinkThreshold": 0}}, "ShrinkThreshold", "0"),
        ({"workers": {"shrinkThreshold": 0.333}}, "ShrinkThreshold", "0.333"),
        ({"airflow": {"loadExampleDags": True}}, "LoadExampleDags", "true"),
        ({"airflow": {"loadExampleDags": False}}, "LoadExampleDags", "false"),
        ({"airflow": {"loadDefaultConnections": True}}, "LoadDefaultCons", "true"),
        ({"airflow": {"loadDefaultConnections": False}}, "LoadDefaultCons", "false"),
    ],
)
def test_typed_parameter_values_render_as_a_person_would_type_them(
    changes: dict[str, Any], parameter: str, value: str
) -> None:
    assert typed_parameter_values(spec_of(**changes))[parameter] == value


def test_thresholds_render_without_losing_precision() -> None:
    values = typed_parameter_values(
        spec_of(workers={"growthThreshold": 0.5000002, "shrinkThreshold": 0.5000001})
    )
    assert float(values["ShrinkThreshold"]) < float(values["GrowthThreshold"])


def crd_named_parameters() -> dict[str, str]:
    """Spec fields whose CRD description names the master template parameter, e.g. "(MinGroupSize)"."""
    spec_schema = yaml.safe_load(CRD_PATH.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"][
        "properties"
    ]["spec"]
    named: dict[str, str] = {}
    fields = [(f"spec.{name}", schema) for name, schema in spec_schema["properties"].items()]
    for group, group_schema in spec_schema["properties"].items():
        fields += [
            (f"spec.{group}.{key}", schema) for key, schema in group_schema.get("properties", {}).items()
        ]
    for field, schema in fields:
        match = re.search(r"\(([A-Z][A-Za-z0-9]+)\)", schema.get("description", ""))
        if match and match.group(1) in DECLARED:  # not every parenthesised word names a parameter
            named[field] = match.group(1)
    return named


def test_typed_parameters_match_the_parameters_the_crd_documents() -> None:
    assert crd_named_parameters() == TYPED_PARAMETERS


def test_stack_parameters_combine_typed_fields_escape_hatch_and_bundle_location() -> None:
    spec = spec_of(parameters={"DrainTimeout": "600"})
    assert stack_parameters(spec, DECLARED, KEY_PREFIX) == {
        **typed_parameter_values(spec),
        "DrainTimeout": "600",
        "QSS3BucketName": "turbine-templates",
        "QSS3KeyPrefix": KEY_PREFIX,
    }


def test_stack_parameters_reject_an_undeclared_parameter() -> None:
    with pytest.raises(SpecError) as caught:
        stack_parameters(spec_of(parameters={"SshKey": "mine"}), DECLARED, KEY_PREFIX)
    assert caught.value.field == "spec.parameters.SshKey"


@pytest.mark.parametrize(("field", "parameter"), sorted(TYPED_PARAMETERS.items()))
def test_stack_parameters_reject_a_parameter_that_repeats_a_typed_field(field: str, parameter: str) -> None:
    with pytest.raises(SpecError) as caught:
        stack_parameters(spec_of(parameters={parameter: "1"}), DECLARED, KEY_PREFIX)
    assert caught.value.field == f"spec.parameters.{parameter}"
    assert field in caught.value.message


@pytest.mark.parametrize("name", ["QSS3BucketName", "QSS3KeyPrefix"])
def test_operator_parameters_cannot_be_overridden_through_the_escape_hatch(name: str) -> None:
    # parse_spec refuses these, and so does the model when a spec is built in code.
    with pytest.raises(pydantic.ValidationError, match="is set by the operator"):
        dataclasses.replace(spec_of(), parameters={name: "evil-bucket"})
    parameters = stack_parameters(spec_of(), DECLARED, KEY_PREFIX)
    assert parameters["QSS3BucketName"] == "turbine-templates"
    assert parameters["QSS3KeyPrefix"] == KEY_PREFIX


@pytest.mark.parametrize("missing", sorted(set(TYPED_PARAMETERS.values()) | OPERATOR_PARAMETERS))
def test_a_master_template_lacking_a_parameter_is_a_packaging_error(missing: str) -> None:
    declared = {name: value for name, value in DECLARED.items() if name != missing}
    with pytest.raises(SpecError) as caught:
        stack_parameters(spec_of(), declared, KEY_PREFIX)
    assert caught.value.field == "spec"
    assert missing in caught.value.message


# --- desired_stack ----------------------------------------------------------------------------


def test_desired_stack_describes_the_stack_to_create() -> None:
    spec = spec_of(tags={"team": "data"}, serviceRoleArn="arn:aws:iam::123456789012:role/cfn")
    desired = desired_stack(spec, OWNER, SOURCES)
    assert desired.stack_name == "t7-airflow-prod"
    assert desired.region == "eu-west-1"
    assert desired.bucket == "turbine-templates"
    assert desired.key_prefix == f"turbine/bundles/{desired.bundle.digest}/"
    assert desired.template_key == RENDERED_MASTER
    assert desired.template_url_key == desired.key_prefix + RENDERED_MASTER
    assert desired.parameters == stack_parameters(spec, DECLARED, desired.key_prefix)
    assert desired.tags == {
        "team": "data",
        **ownership_tags(OWNER.namespace, OWNER.name, OWNER.uid),
        # The stack carries the hash it is updated to, so a lost status still knows what was applied.
        APPLIED_HASH_TAG: desired.hash,
    }
    assert desired.service_role_arn == "arn:aws:iam::123456789012:role/cfn"
    assert desired.capabilities == CAPABILITIES
    assert re.fullmatch(r"[0-9a-f]{32}", desired.hash)


def test_bundle_carries_the_rendered_master_as_canonical_json() -> None:
    desired = desired_stack(spec_of(), OWNER, SOURCES)
    rendered = desired.bundle.files[RENDERED_MASTER]
    assert rendered == dump_template(load_template(MASTER, "master"))
    assert json.loads(rendered)["Resources"]["TaskQueue"]["Properties"]["QueueName"] == {
        "Fn::Sub": "${AWS::StackName}-tasks"
    }


def test_desired_stack_is_stable_for_the_same_inputs() -> None:
    first = desired_stack(spec_of(tags={"a": "1", "b": "2"}), OWNER, SOURCES)
    second = desired_stack(spec_of(tags={"b": "2", "a": "1"}), OWNER, SOURCES)
    assert first == second


@pytest.mark.parametrize(
    "changes",
    [
        {"workers": {"maxSize": 11}},
        {"workers": {"growthThreshold": 0.8}},
        {"webserver": {"port": 80}},
        {"scheduler": {"instanceType": "m5.large"}},
        {"airflow": {"loadExampleDags": True}},
        {"parameters": {"DrainTimeout": "60"}},
        {"tags": {"team": "data"}},
        {"serviceRoleArn": "arn:aws:iam::123456789012:role/cfn"},
        {"templateBucket": {"name": "other-bucket"}},
        {"templateBucket": {"prefix": "elsewhere/"}},
        # The database's deletion protection follows it (DatabaseDeletionProtection).
        {"deletionPolicy": "Delete"},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_desired_hash_changes_with_the_spec(changes: dict[str, Any]) -> None:
    assert (
        desired_stack(spec_of(**changes), OWNER, SOURCES).hash
        != desired_stack(spec_of(), OWNER, SOURCES).hash
    )


@pytest.mark.parametrize(
    "changes",
    [
        # Handled without a change set (SetTerminationProtection) or not part of the stack at all.
        {"terminationProtection": True},
        {"adopt": True},
        {"suspend": True},
        {"roleArn": "arn:aws:iam::123456789012:role/operator"},
        # Approving must not rename the change set it approves (the name comes from the hash).
        {"updatePolicy": "Manual"},
        {"approvedChangeSet": "turbine-0123456789abcdef01234567"},
    ],
    ids=lambda changes: next(iter(changes)),
)
def test_desired_hash_ignores_fields_that_do_not_change_the_stack(changes: dict[str, Any]) -> None:
    assert (
        desired_stack(spec_of(**changes), OWNER, SOURCES).hash
        == desired_stack(spec_of(), OWNER, SOURCES).hash
    )


@pytest.mark.parametrize(
    "owner",
    [
        dataclasses.replace(OWNER, uid="0b4a6e0e-1111-4c57-9a0e-6d2d5b1c2f10"),
        dataclasses.replace(OWNER, name="staging"),
    ],
    ids=["uid", "name"],
)
def test_desired_hash_changes_with_the_ownership_tags(owner: Owner) -> None:
    spec = spec_of(stackName="Fixed")
    assert desired_stack(spec, owner, SOURCES).hash != desired_stack(spec, OWNER, SOURCES).hash


@pytest.mark.parametrize(
    "sources",
    [
        dataclasses.replace(SOURCES, templates={"turbine-master.yaml": (MASTER + "# comment\n").encode()}),
        dataclasses.replace(SOURCES, scripts={"commons.sh": b"#!/bin/bash\nset -eu\n"}),
        dataclasses.replace(
            SOURCES, lambda_modules={"turbine_cluster_load": b"def handler(e, c):\n    pass\n"}
        ),
    ],
    ids=["master-template", "script", "lambda"],
)
def test_desired_hash_changes_with_any_bundled_file(sources: TurbineSources) -> None:
    assert desired_stack(spec_of(), OWNER, sources).hash != desired_stack(spec_of(), OWNER, SOURCES).hash


def test_desired_stack_rejects_spec_parameters_the_master_does_not_declare() -> None:
    with pytest.raises(SpecError) as caught:
        desired_stack(spec_of(parameters={"SshKey": "mine"}), OWNER, SOURCES)
    assert caught.value.field == "spec.parameters.SshKey"


# --- the master template's own parameter constraints -------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        ({"DrainTimeout": "59"}, "spec.parameters.DrainTimeout"),
        ({"DrainTimeout": "7201"}, "spec.parameters.DrainTimeout"),
        ({"DrainTimeout": "an hour"}, "spec.parameters.DrainTimeout"),
        ({"DrainTimeout": ""}, "spec.parameters.DrainTimeout"),
        ({"KeyName": "Mine"}, "spec.parameters.KeyName"),
        ({"KeyName": "muchtoolong"}, "spec.parameters.KeyName"),
    ],
)
def test_escape_hatch_values_must_satisfy_the_template_constraints(
    parameters: dict[str, str], field: str
) -> None:
    with pytest.raises(SpecError) as caught:
        stack_parameters(spec_of(parameters=parameters), DECLARED, KEY_PREFIX)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "parameters",
    [{"DrainTimeout": "60"}, {"DrainTimeout": "7200"}, {"DrainTimeout": "90.5"}, {"KeyName": ""}],
)
def test_escape_hatch_values_within_the_template_constraints_pass(parameters: dict[str, str]) -> None:
    assert (
        stack_parameters(spec_of(parameters=parameters), DECLARED, KEY_PREFIX).items() >= parameters.items()
    )


@pytest.mark.parametrize(
    ("declaration", "value", "valid"),
    [
        ({"Type": "String", "AllowedValues": ["a", "b"]}, "a", True),
        ({"Type": "String", "AllowedValues": ["a", "b"]}, "c", False),
        ({"Type": "Number", "AllowedValues": [1, 2]}, "2", True),
        ({"Type": "String", "AllowedPattern": "[a-z]+"}, "abc", True),
        # CloudFormation matches the whole value, not a prefix.
        ({"Type": "String", "AllowedPattern": "[a-z]+"}, "abc1", False),
        ({"Type": "String", "MinLength": 2, "MaxLength": 3}, "ab", True),
        ({"Type": "String", "MinLength": 2, "MaxLength": 3}, "a", False),
        ({"Type": "String", "MinLength": 2, "MaxLength": 3}, "abcd", False),
        ({"Type": "String", "MaxLength": "3"}, "abc", True),
        ({"Type": "Number", "MinValue": 0, "MaxValue": 1}, "0.5", True),
        ({"Type": "Number", "MinValue": 0, "MaxValue": 1}, "1", True),
        ({"Type": "Number", "MinValue": 0, "MaxValue": 1}, "1.01", False),
        ({"Type": "Number", "MinValue": "0"}, "-1", False),
        ({"Type": "Number"}, "twelve", False),
        # Lengths are a String constraint; a Number's digits are not counted.
        ({"Type": "Number", "MaxLength": 1}, "100", True),
        ({"Type": "String"}, "", True),
        ({}, "anything", True),
    ],
)
def test_check_parameter_value(declaration: dict[str, Any], value: str, valid: bool) -> None:
    if valid:
        check_parameter_value(declaration, value, "spec.parameters.P")
    else:
        with pytest.raises(SpecError) as caught:
            check_parameter_value(declaration, value, "spec.parameters.P")
        assert caught.value.field == "spec.parameters.P"


@pytest.mark.parametrize("value", ["1_000", "nan", "infinity"])
def test_number_parameters_accept_only_plain_numbers(value: str) -> None:
    with pytest.raises(SpecError):
        check_parameter_value({"Type": "Number"}, value, "spec.parameters.P")


def test_typed_field_violating_a_template_constraint_names_the_typed_field() -> None:
    declared = {**DECLARED, "MaxGroupSize": {"Type": "Number", "MaxValue": 50}}
    with pytest.raises(SpecError) as caught:
        stack_parameters(spec_of(workers={"maxSize": 51}), declared, KEY_PREFIX)
    assert caught.value.field == "spec.workers.maxSize"


@pytest.mark.parametrize(
    ("parameter", "field"),
    [("QSS3BucketName", "spec.templateBucket.name"), ("QSS3KeyPrefix", "spec.templateBucket.prefix")],
)
def test_bundle_location_violating_a_template_constraint_names_the_template_bucket(
    parameter: str, field: str
) -> None:
    declared = {**DECLARED, parameter: {"Type": "String", "AllowedPattern": "x"}}
    with pytest.raises(SpecError) as caught:
        stack_parameters(spec_of(), declared, KEY_PREFIX)
    assert caught.value.field == field


# --- the real master template agrees with the CRD -----------------------------------------------

REAL_MASTER = Path(__file__).resolve().parents[2] / "cfn" / "templates" / "turbine-master.yaml"


@functools.cache
def real_declared() -> dict[str, Any]:
    return dict(declared_parameters(load_template(REAL_MASTER.read_bytes(), str(REAL_MASTER))))


def test_real_master_template_defaults_equal_the_spec_defaults() -> None:
    # A TurbineStack with an empty spec should deploy what the template deploys by default.
    declared = real_declared()
    defaults = {
        name: str(declared[name].get("Default")) for name in [*TYPED_PARAMETERS.values(), *DERIVED_PARAMETERS]
    }
    assert typed_parameter_values(spec_of()) == defaults


@pytest.mark.parametrize(
    "changes",
    [
        {"webserver": {"port": 1}},
        {"webserver": {"port": 65535}},
        {"webserver": {"allowedCidr": "0.0.0.0/0"}},
        {"webserver": {"allowedCidr": "203.0.113.7/32"}},
        {"workers": {"minSize": 1000, "maxSize": 1000}},
        {"workers": {"growthThreshold": 1, "shrinkThreshold": 0}},
        {"workers": {"instanceType": "m7i.metal-24xl"}},
        {"scheduler": {"instanceType": "t4g.nano"}},
        {"airflow": {"loadExampleDags": True, "loadDefaultConnections": True}},
        {"templateBucket": {"name": "a" * 63, "prefix": ""}},
        {"templateBucket": {"prefix": "a/b.c/(d)/"}},
    ],
    ids=lambda changes: json.dumps(changes)[:40],
)
def test_values_the_crd_accepts_pass_the_real_master_template_constraints(changes: dict[str, Any]) -> None:
    stack_parameters(spec_of(**changes), real_declared(), "turbine/bundles/0123456789abcdef/")
