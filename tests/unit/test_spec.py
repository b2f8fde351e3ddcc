"""parse_spec against the CRD: same fields, same defaults, and every CRD constraint enforced again.

The CRD is the contract (the API server validates it); parse_spec re-validates because
`turbine-operator render` reads manifests that never went through an API server. The tests below
read the CRD YAML, so a field or constraint added to one side only shows up as a failure here.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import re
import types
import typing
from collections.abc import Iterator
from typing import Any

import pytest

from contract.crd import crd_constraints, crd_properties, crd_spec_schema, snake
from turbine_operator.core.api.api_types import parse_duration
from turbine_operator.core.api.spec import (
    AirflowSpec,
    DeletionPolicy,
    DriftDetectionSpec,
    SchedulerSpec,
    TemplateBucket,
    TurbineStackSpec,
    UpdatePolicy,
    WebserverSpec,
    WorkersSpec,
    parse_spec,
)
from turbine_operator.core.api.spec_additions import (
    AdditionalPolicy,
    AdditionalTemplate,
    InstanceRole,
    KeyRef,
    PolicySource,
    TemplateSource,
)
from turbine_operator.core.api.spec_airflow import AirflowUser, OutputsConfigMap
from turbine_operator.core.errors import SpecError

MINIMAL: dict[str, Any] = {"templateBucket": {"name": "turbine-templates"}}


def parse(raw: object) -> TurbineStackSpec:
    return parse_spec(raw, namespace="airflow", name="prod", default_region="eu-west-1")


def with_value(path: str, value: object, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """MINIMAL (or `base`) with the dotted camelCase `path` set to `value`."""
    raw = copy.deepcopy(MINIMAL if base is None else base)
    *parents, leaf = path.split(".")
    node = raw
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return raw


def dataclass_fields(cls: type[Any], path: str = "spec") -> Iterator[tuple[str, Any]]:
    """Every field of the spec dataclasses, recursively, as (dotted snake_case path, resolved type)."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        field_path = f"{path}.{field.name}"
        field_type = _without_none(hints[field.name])
        yield field_path, field_type
        if dataclasses.is_dataclass(field_type):
            yield from dataclass_fields(typing.cast(type[Any], field_type), field_path)
        item = _item_dataclass(field_type)
        if item is not None:
            # A tuple of dataclasses mirrors a CRD list of objects, whose items the CRD walk names `[]`.
            yield f"{field_path}[]", item
            yield from dataclass_fields(item, f"{field_path}[]")


def _without_none(field_type: Any) -> Any:
    """X for an optional `X | None`, so optional nested objects are walked like required ones."""
    members = [member for member in typing.get_args(field_type) if member is not type(None)]
    if typing.get_origin(field_type) in (types.UnionType, typing.Union) and len(members) == 1:
        return members[0]
    return field_type


def _item_dataclass(field_type: object) -> type[Any] | None:
    if typing.get_origin(field_type) is not tuple:
        return None
    item, *_ = typing.get_args(field_type)
    return typing.cast(type[Any], item) if dataclasses.is_dataclass(item) else None


def dataclass_default(cls: type[Any], snake_path: str) -> object:
    """The default of the dataclass field at `snake_path` (below spec.)."""
    *parents, leaf = snake_path.split(".")[1:]
    for name in parents:
        cls = _without_none(typing.get_type_hints(cls)[name.removesuffix("[]")])
        if name.endswith("[]"):
            cls = typing.get_args(cls)[0]
    (field,) = [field for field in dataclasses.fields(cls) if field.name == leaf]
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def value_at(spec: TurbineStackSpec, snake_path: str) -> object:
    value: object = spec
    for name in snake_path.split(".")[1:]:
        value = getattr(value, name, None)  # below an absent optional object: absent too
    return value


def plain(value: object) -> object:
    """A dataclass or enum value as the JSON the CRD default is written in."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [plain(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


# --- field sets and defaults ------------------------------------------------------------------


def test_minimal_spec_takes_every_default() -> None:
    assert parse(MINIMAL) == TurbineStackSpec(
        stack_name="t7-airflow-prod",
        region="eu-west-1",
        template_bucket=TemplateBucket(name="turbine-templates", prefix="turbine/"),
    )


def test_null_nested_objects_take_their_defaults() -> None:
    # YAML `workers:` with nothing below it arrives as None; it must mean "all defaults".
    raw = {**MINIMAL, "scheduler": None, "webserver": None, "workers": None, "airflow": None, "tags": None}
    assert parse(raw) == parse(MINIMAL)


def test_every_crd_spec_property_has_a_description() -> None:
    missing = [path for path, schema in crd_properties(crd_spec_schema()) if not schema.get("description")]
    assert missing == []


def test_crd_spec_properties_match_the_dataclass_fields() -> None:
    crd_fields = {
        ".".join(snake(part) for part in path.split(".")) for path, _ in crd_properties(crd_spec_schema())
    }
    model_fields = {path for path, _ in dataclass_fields(TurbineStackSpec)}
    assert crd_fields == model_fields


def test_crd_object_properties_are_dataclasses_and_leaves_are_not() -> None:
    # tags and parameters are free-form maps (additionalProperties), not nested dataclasses.
    model_types = dict(dataclass_fields(TurbineStackSpec))
    for path, schema in crd_properties(crd_spec_schema()):
        field_type = model_types[".".join(snake(part) for part in path.split("."))]
        has_properties = "properties" in schema
        assert dataclasses.is_dataclass(field_type) == has_properties, path


def _as_modelled(path: str, value: object) -> object:
    """The CRD writes driftDetection.interval as a duration; the model holds seconds."""
    if path == "spec.driftDetection.interval" and isinstance(value, str):
        return parse_duration(value)
    if path == "spec.driftDetection" and isinstance(value, dict):
        return {key: _as_modelled(f"{path}.{key}", item) for key, item in value.items()}
    return value


def crd_defaults() -> list[tuple[str, object]]:
    return [
        (path, _as_modelled(path, schema["default"]))
        for path, schema in crd_properties(crd_spec_schema())
        if "default" in schema
    ]


@pytest.mark.parametrize(("path", "crd_default"), crd_defaults(), ids=[path for path, _ in crd_defaults()])
def test_crd_defaults_equal_the_dataclass_defaults(path: str, crd_default: object) -> None:
    snake_path = ".".join(snake(part) for part in path.split("."))
    model_default = plain(dataclass_default(TurbineStackSpec, snake_path))
    if isinstance(crd_default, dict):
        # An object default ({} or a partial object) is completed by the defaults of its fields.
        assert isinstance(model_default, dict)
        assert {key: model_default[snake(key)] for key in crd_default} == crd_default
    else:
        assert model_default == crd_default


# spec.airflow.dags holds one of two sources, which no single spec can set both of: test_spec_airflow.py
# reads its fields, defaults and constraints.
DAGS = "spec.airflow.dags"


def top_level_defaults() -> list[tuple[str, object]]:
    # Defaults inside list items need an item to apply to: test_spec_additions.py checks those.
    return [
        (path, default) for path, default in crd_defaults() if "[]" not in path and not path.startswith(DAGS)
    ]


@pytest.mark.parametrize(
    ("path", "crd_default"), top_level_defaults(), ids=[path for path, _ in top_level_defaults()]
)
def test_parse_spec_applies_the_crd_defaults(path: str, crd_default: object) -> None:
    parsed = plain(value_at(parse(MINIMAL), ".".join(snake(part) for part in path.split("."))))
    if isinstance(crd_default, dict):
        assert isinstance(parsed, dict)
        assert {key: parsed[snake(key)] for key in crd_default} == crd_default
    else:
        assert parsed == crd_default


CERTIFICATE = "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"

FULL_SPEC: dict[str, Any] = {
    "stackName": "TurbineProd",
    "region": "us-gov-west-1",
    "roleArn": "arn:aws:iam::123456789012:role/turbine-operator",
    "serviceRoleArn": "arn:aws-us-gov:iam::123456789012:role/path/cfn-service",
    "templateBucket": {"name": "my-templates-bucket", "prefix": ""},
    "tags": {"team": "data", "cost-center": "42"},
    "scheduler": {"instanceType": "m5.xlarge"},
    "webserver": {
        "instanceType": "c6g.large",
        "port": 80,
        "allowedCidr": "192.168.0.0/24",
        "replicas": 3,
        "certificateArn": CERTIFICATE,
        "hostname": "airflow.example.com",
        "hostedZoneId": "Z0123456789ABCDEFGHIJ",
    },
    "imageId": "ami-0123456789abcdef0",
    "workers": {
        "instanceType": "r6i.2xlarge",
        "minSize": 2,
        "maxSize": 20,
        "growthThreshold": 0.75,
        "shrinkThreshold": 0.25,
    },
    "airflow": {
        "loadExampleDags": True,
        "loadDefaultConnections": True,
        "users": [
            {
                "username": "ada",
                "email": "ada@example.com",
                "role": "Admin",
                "firstName": "Ada",
                "lastName": "Lovelace",
                "passwordSecretKeyRef": {"name": "airflow-users", "key": "ada"},
            }
        ],
        "config": {
            "core.default_timezone": "Europe/Amsterdam",
            "common.io.xcom_objectstorage_threshold": "1",
        },
    },
    "outputsConfigMap": {"name": "airflow-outputs"},
    "parameters": {"DrainTimeout": "600"},
    "deletionPolicy": "Delete",
    "terminationProtection": True,
    "suspend": True,
    "updatePolicy": "Manual",
    "approvedChangeSet": "turbine-0123456789abcdef01234567",
    "driftDetection": {"enabled": False, "interval": "30m", "remediate": True},
    "adopt": True,
    "additionalTemplates": [{"name": "Dags", "template": {"inline": "Resources: {}"}}],
    "additionalPolicies": [
        {
            "name": "ReadData",
            "document": {"configMapKeyRef": {"name": "policies", "key": "read.json"}},
            "roles": ["worker"],
        }
    ],
    "allowAdministratorPolicies": True,
}


def test_full_spec_parses_every_field() -> None:
    assert parse(FULL_SPEC) == TurbineStackSpec(
        stack_name="TurbineProd",
        region="us-gov-west-1",
        role_arn="arn:aws:iam::123456789012:role/turbine-operator",
        service_role_arn="arn:aws-us-gov:iam::123456789012:role/path/cfn-service",
        image_id="ami-0123456789abcdef0",
        template_bucket=TemplateBucket(name="my-templates-bucket", prefix=""),
        tags={"team": "data", "cost-center": "42"},
        scheduler=SchedulerSpec(instance_type="m5.xlarge"),
        webserver=WebserverSpec(
            instance_type="c6g.large",
            port=80,
            allowed_cidr="192.168.0.0/24",
            replicas=3,
            certificate_arn=CERTIFICATE,
            hostname="airflow.example.com",
            hosted_zone_id="Z0123456789ABCDEFGHIJ",
        ),
        workers=WorkersSpec(
            instance_type="r6i.2xlarge", min_size=2, max_size=20, growth_threshold=0.75, shrink_threshold=0.25
        ),
        airflow=AirflowSpec(
            load_example_dags=True,
            load_default_connections=True,
            users=(
                AirflowUser(
                    username="ada",
                    email="ada@example.com",
                    role="Admin",
                    first_name="Ada",
                    last_name="Lovelace",
                    password_secret_key_ref=KeyRef(name="airflow-users", key="ada"),
                ),
            ),
            config={
                "core.default_timezone": "Europe/Amsterdam",
                "common.io.xcom_objectstorage_threshold": "1",
            },
        ),
        outputs_config_map=OutputsConfigMap(name="airflow-outputs"),
        parameters={"DrainTimeout": "600"},
        deletion_policy=DeletionPolicy.DELETE,
        termination_protection=True,
        suspend=True,
        update_policy=UpdatePolicy.MANUAL,
        approved_change_set="turbine-0123456789abcdef01234567",
        drift_detection=DriftDetectionSpec(enabled=False, interval=1800.0, remediate=True),
        adopt=True,
        additional_templates=(
            AdditionalTemplate(name="Dags", template=TemplateSource(inline="Resources: {}")),
        ),
        additional_policies=(
            AdditionalPolicy(
                name="ReadData",
                document=PolicySource(config_map_key_ref=KeyRef(name="policies", key="read.json")),
                roles=(InstanceRole.WORKER,),
            ),
        ),
        allow_administrator_policies=True,
    )


def leaf_paths() -> list[str]:
    # The fields of list items are compared entry by entry in test_spec_additions.py.
    return [
        path
        for path, schema in crd_properties(crd_spec_schema())
        if "properties" not in schema and "[]" not in path and not path.startswith(DAGS)
    ]


@pytest.mark.parametrize("path", leaf_paths())
def test_parse_spec_reads_every_crd_leaf_property(path: str) -> None:
    # FULL_SPEC sets every leaf to a non-default value; a property parse_spec ignored would still
    # have its default here. (The CRD field-set test above makes FULL_SPEC's coverage exhaustive.)
    snake_path = ".".join(snake(part) for part in path.split("."))
    assert value_at(parse(FULL_SPEC), snake_path) != value_at(parse(MINIMAL), snake_path)


@pytest.mark.parametrize(
    ("path", "value", "snake_path", "expected"),
    [
        ("webserver.port", 1, "spec.webserver.port", 1),
        ("webserver.port", 65535, "spec.webserver.port", 65535),
        ("workers.growthThreshold", 1, "spec.workers.growth_threshold", 1.0),
        ("workers.shrinkThreshold", 0, "spec.workers.shrink_threshold", 0.0),
        ("workers.maxSize", 1, "spec.workers.max_size", 1),
        ("workers.maxSize", 1000, "spec.workers.max_size", 1000),
        ("templateBucket.prefix", "a/b-c/", "spec.template_bucket.prefix", "a/b-c/"),
        ("templateBucket.name", "abc", "spec.template_bucket.name", "abc"),
        ("stackName", "a" * 128, "spec.stack_name", "a" * 128),
        ("region", "cn-north-1", "spec.region", "cn-north-1"),
        ("region", "us-isob-east-1", "spec.region", "us-isob-east-1"),
        ("webserver.allowedCidr", "0.0.0.0/0", "spec.webserver.allowed_cidr", "0.0.0.0/0"),
        ("webserver.allowedCidr", "203.0.113.7/32", "spec.webserver.allowed_cidr", "203.0.113.7/32"),
        ("workers.instanceType", "t4g.nano", "spec.workers.instance_type", "t4g.nano"),
        ("workers.instanceType", "m7i-flex.2xlarge", "spec.workers.instance_type", "m7i-flex.2xlarge"),
        ("workers.instanceType", "c5.metal", "spec.workers.instance_type", "c5.metal"),
        ("workers.instanceType", "m7i.metal-24xl", "spec.workers.instance_type", "m7i.metal-24xl"),
        ("tags", {"k" * 128: "v" * 256}, "spec.tags", {"k" * 128: "v" * 256}),
        (
            "parameters",
            {"PublicSubnet1Cidr": "10.0.0.0/27"},
            "spec.parameters",
            {"PublicSubnet1Cidr": "10.0.0.0/27"},
        ),
        ("parameters", {"VpcCidr": "10.0.0.0/25"}, "spec.parameters", {"VpcCidr": "10.0.0.0/25"}),
    ],
    ids=lambda value: str(value)[:30] if isinstance(value, str) else None,
)
def test_boundary_values_are_accepted(path: str, value: object, snake_path: str, expected: object) -> None:
    assert value_at(parse(with_value(path, value)), snake_path) == expected


def test_thresholds_given_as_integers_become_floats() -> None:
    parsed = parse(with_value("workers", {"growthThreshold": 1, "shrinkThreshold": 0}))
    assert isinstance(parsed.workers.growth_threshold, float)
    assert isinstance(parsed.workers.shrink_threshold, float)


# --- invalid specs: one case per CRD constraint (and a few the CRD cannot express) ---------------

# (constraint, raw spec, the field SpecError must name). A constraint is
# "<path>:<keyword>" for the keywords collected by crd_constraints() below.
INVALID: list[tuple[str, object, str]] = [
    ("spec:type", ["templateBucket"], "spec"),
    ("spec:type", "templateBucket: {name: x}", "spec"),
    ("spec:required", {}, "spec.templateBucket"),
    ("spec.stackName:type", with_value("stackName", 42), "spec.stackName"),
    ("spec.stackName:minLength", with_value("stackName", ""), "spec.stackName"),
    ("spec.stackName:maxLength", with_value("stackName", "a" * 129), "spec.stackName"),
    ("spec.stackName:pattern", with_value("stackName", "1turbine"), "spec.stackName"),
    ("spec.stackName:pattern", with_value("stackName", "turbine_prod"), "spec.stackName"),
    ("spec.stackName:pattern", with_value("stackName", "turbine.prod"), "spec.stackName"),
    ("spec.region:type", with_value("region", ["eu-west-1"]), "spec.region"),
    ("spec.region:pattern", with_value("region", "EU-WEST-1"), "spec.region"),
    ("spec.region:pattern", with_value("region", "eu-west"), "spec.region"),
    ("spec.roleArn:type", with_value("roleArn", {"arn": "x"}), "spec.roleArn"),
    ("spec.roleArn:pattern", with_value("roleArn", "arn:aws:iam::12345:role/x"), "spec.roleArn"),
    ("spec.imageId:type", with_value("imageId", 123), "spec.imageId"),
    ("spec.imageId:pattern", with_value("imageId", "ami-XYZ"), "spec.imageId"),
    ("spec.webserver.replicas:type", with_value("webserver.replicas", "2"), "spec.webserver.replicas"),
    ("spec.webserver.replicas:minimum", with_value("webserver.replicas", 1), "spec.webserver.replicas"),
    ("spec.webserver.replicas:maximum", with_value("webserver.replicas", 11), "spec.webserver.replicas"),
    (
        "spec.webserver.certificateArn:type",
        with_value("webserver.certificateArn", 1),
        "spec.webserver.certificateArn",
    ),
    (
        "spec.webserver.certificateArn:pattern",
        with_value("webserver.certificateArn", "arn:aws:iam::123456789012:role/x"),
        "spec.webserver.certificateArn",
    ),
    (
        "spec.webserver.certificateArn:maxLength",
        with_value(
            "webserver.certificateArn", "arn:aws:acm:eu-west-1:123456789012:certificate/" + "a" * 2048
        ),
        "spec.webserver.certificateArn",
    ),
    *(
        (
            f"spec.webserver.hostname:{constraint}",
            with_value("webserver", {"certificateArn": CERTIFICATE, "hostname": value}),
            "spec.webserver.hostname",
        )
        for constraint, value in (
            ("type", 7),
            ("pattern", "Airflow.example.com"),
            ("pattern", "localhost"),
            ("pattern", "*.example.com"),
            ("pattern", "-a.example.com"),
            ("pattern", "a." + "b" * 64 + ".com"),
            ("minLength", "a.b"),
            ("maxLength", ".".join(["a" * 63] * 4) + ".com"),
        )
    ),
    *(
        (
            f"spec.webserver.hostedZoneId:{constraint}",
            with_value(
                "webserver",
                {"certificateArn": CERTIFICATE, "hostname": "a.example.com", "hostedZoneId": value},
            ),
            "spec.webserver.hostedZoneId",
        )
        for constraint, value in (("type", 1), ("pattern", "/hostedzone/Z123"), ("pattern", "Z" + "A" * 32))
    ),
    # The URL is https://<hostname>, so a hostname without a certificate would name an unverifiable URL.
    (
        "spec.webserver:rule0",
        with_value("webserver.hostname", "airflow.example.com"),
        "spec.webserver.hostname",
    ),
    (
        "spec.webserver:rule1",
        with_value("webserver", {"certificateArn": CERTIFICATE, "hostedZoneId": "Z0123456789ABCDEFGHIJ"}),
        "spec.webserver.hostedZoneId",
    ),
    (
        "spec.serviceRoleArn:type",
        with_value("serviceRoleArn", 123456789012),
        "spec.serviceRoleArn",
    ),
    (
        "spec.serviceRoleArn:pattern",
        with_value("serviceRoleArn", "arn:aws:iam::123456789012:user/cfn"),
        "spec.serviceRoleArn",
    ),
    ("spec.templateBucket:type", {"templateBucket": "turbine-templates"}, "spec.templateBucket"),
    ("spec.templateBucket:required", {"templateBucket": {"prefix": "x/"}}, "spec.templateBucket.name"),
    ("spec.templateBucket:required", {"templateBucket": None}, "spec.templateBucket.name"),
    ("spec.templateBucket.name:type", {"templateBucket": {"name": 7}}, "spec.templateBucket.name"),
    (
        "spec.templateBucket.name:minLength",
        {"templateBucket": {"name": "ab"}},
        "spec.templateBucket.name",
    ),
    (
        "spec.templateBucket.name:maxLength",
        {"templateBucket": {"name": "a" * 64}},
        "spec.templateBucket.name",
    ),
    (
        "spec.templateBucket.name:pattern",
        {"templateBucket": {"name": "My_Bucket"}},
        "spec.templateBucket.name",
    ),
    (
        "spec.templateBucket.name:pattern",
        {"templateBucket": {"name": "bucket-"}},
        "spec.templateBucket.name",
    ),
    (
        # Dots break HTTPS virtual-hosted URLs, which the template URLs use.
        "spec.templateBucket.name:pattern",
        {"templateBucket": {"name": "my.bucket"}},
        "spec.templateBucket.name",
    ),
    (
        "spec.templateBucket.prefix:type",
        with_value("templateBucket.prefix", 1),
        "spec.templateBucket.prefix",
    ),
    (
        "spec.templateBucket.prefix:maxLength",
        with_value("templateBucket.prefix", "ab/" + "a/" * 99),
        "spec.templateBucket.prefix",
    ),
    (
        "spec.templateBucket.prefix:pattern",
        with_value("templateBucket.prefix", "turbine"),
        "spec.templateBucket.prefix",
    ),
    (
        "spec.templateBucket.prefix:pattern",
        with_value("templateBucket.prefix", "/turbine/"),
        "spec.templateBucket.prefix",
    ),
    ("spec.airflow.config:type", with_value("airflow.config", "core.x=1"), "spec.airflow.config"),
    (
        "spec.airflow.config:maxProperties",
        with_value("airflow.config", {f"core.option{index}": "x" for index in range(51)}),
        "spec.airflow.config",
    ),
    (
        "spec.airflow.config:rule0",
        with_value("airflow.config", {"Core.X": "1"}),
        "spec.airflow.config.Core.X",
    ),
    ("spec.airflow.config:rule0", with_value("airflow.config", {"core": "1"}), "spec.airflow.config.core"),
    ("spec.airflow.config.*:type", with_value("airflow.config", {"core.x": 1}), "spec.airflow.config.core.x"),
    (
        "spec.airflow.config.*:maxLength",
        with_value("airflow.config", {"core.x": "x" * 1025}),
        "spec.airflow.config.core.x",
    ),
    (
        "spec.airflow.config.*:pattern",
        with_value("airflow.config", {"core.x": "it's"}),
        "spec.airflow.config.core.x",
    ),
    (
        "spec.airflow.config.*:pattern",
        with_value("airflow.config", {"core.x": "a\\b"}),
        "spec.airflow.config.core.x",
    ),
    (
        "spec.airflow.config.*:pattern",
        with_value("airflow.config", {"core.x": "a\nb"}),
        "spec.airflow.config.core.x",
    ),
    ("spec.tags:type", with_value("tags", "team=data"), "spec.tags"),
    (
        "spec.tags:maxProperties",
        with_value("tags", {f"tag{index}": "x" for index in range(41)}),
        "spec.tags",
    ),
    (
        "spec.tags:rule0",
        with_value("tags", {"aws:cloudformation:x": "v"}),
        "spec.tags.aws:cloudformation:x",
    ),
    (
        "spec.tags:rule0",
        with_value("tags", {"turbine.dev/owner-uid": "spoofed"}),
        "spec.tags.turbine.dev/owner-uid",
    ),
    ("spec.tags:rule0", with_value("tags", {"k" * 129: "v"}), f"spec.tags.{'k' * 129}"),
    ("spec.tags.*:type", with_value("tags", {"team": 1}), "spec.tags.team"),
    ("spec.tags.*:maxLength", with_value("tags", {"team": "x" * 257}), "spec.tags.team"),
    # CloudFormation's Tag type refuses an empty key or value (botocore refuses it before sending).
    ("spec.tags.*:minLength", with_value("tags", {"team": ""}), "spec.tags.team"),
    ("spec.tags:rule0", with_value("tags", {"": "data"}), "spec.tags."),
    # AWS reserves aws: whatever its case.
    ("spec.tags:rule0", with_value("tags", {"AWS:owner": "me"}), "spec.tags.AWS:owner"),
    ("spec.tags:rule0", with_value("tags", {"Aws:cloudformation:x": "v"}), "spec.tags.Aws:cloudformation:x"),
    # More digits than a duration holds (the API server's CEL duration() would fail on it).
    (
        "spec.driftDetection.interval:pattern",
        with_value("driftDetection.interval", "999999h"),
        "spec.driftDetection.interval",
    ),
    ("spec.scheduler:type", with_value("scheduler", "m5.large"), "spec.scheduler"),
    (
        "spec.scheduler.instanceType:type",
        with_value("scheduler.instanceType", 5),
        "spec.scheduler.instanceType",
    ),
    (
        "spec.scheduler.instanceType:pattern",
        with_value("scheduler.instanceType", "T3.Medium"),
        "spec.scheduler.instanceType",
    ),
    ("spec.webserver:type", with_value("webserver", [80]), "spec.webserver"),
    (
        "spec.webserver.instanceType:type",
        with_value("webserver.instanceType", True),
        "spec.webserver.instanceType",
    ),
    (
        "spec.webserver.instanceType:pattern",
        with_value("webserver.instanceType", "t3.huge"),
        "spec.webserver.instanceType",
    ),
    (
        "spec.webserver.instanceType:pattern",
        with_value("webserver.instanceType", "t3"),
        "spec.webserver.instanceType",
    ),
    ("spec.webserver.port:type", with_value("webserver.port", "8080"), "spec.webserver.port"),
    ("spec.webserver.port:type", with_value("webserver.port", True), "spec.webserver.port"),
    ("spec.webserver.port:type", with_value("webserver.port", 8080.0), "spec.webserver.port"),
    ("spec.webserver.port:minimum", with_value("webserver.port", -1), "spec.webserver.port"),
    ("spec.webserver.port:maximum", with_value("webserver.port", 65536), "spec.webserver.port"),
    (
        "spec.webserver.allowedCidr:type",
        with_value("webserver.allowedCidr", ["10.0.0.0/16"]),
        "spec.webserver.allowedCidr",
    ),
    (
        "spec.webserver.allowedCidr:pattern",
        with_value("webserver.allowedCidr", "10.0.0.0/33"),
        "spec.webserver.allowedCidr",
    ),
    (
        "spec.webserver.allowedCidr:pattern",
        with_value("webserver.allowedCidr", "256.0.0.0/8"),
        "spec.webserver.allowedCidr",
    ),
    (
        "spec.webserver.allowedCidr:pattern",
        with_value("webserver.allowedCidr", "10.0.0.0"),
        "spec.webserver.allowedCidr",
    ),
    ("spec.workers:type", with_value("workers", 3), "spec.workers"),
    (
        "spec.workers:rule0",
        with_value("workers", {"minSize": 5, "maxSize": 4}),
        "spec.workers.minSize",
    ),
    ("spec.workers:rule0", with_value("workers", {"minSize": 11}), "spec.workers.minSize"),
    (
        "spec.workers:rule1",
        with_value("workers", {"growthThreshold": 0.5, "shrinkThreshold": 0.5}),
        "spec.workers.shrinkThreshold",
    ),
    (
        "spec.workers:rule1",
        with_value("workers", {"growthThreshold": 0.4}),
        "spec.workers.shrinkThreshold",
    ),
    (
        "spec.workers.instanceType:type",
        with_value("workers.instanceType", 5),
        "spec.workers.instanceType",
    ),
    (
        "spec.workers.instanceType:pattern",
        with_value("workers.instanceType", "t3 large"),
        "spec.workers.instanceType",
    ),
    ("spec.workers.minSize:type", with_value("workers.minSize", "1"), "spec.workers.minSize"),
    ("spec.workers.minSize:minimum", with_value("workers.minSize", -1), "spec.workers.minSize"),
    ("spec.workers.minSize:maximum", with_value("workers.minSize", 1001), "spec.workers.minSize"),
    ("spec.workers.maxSize:type", with_value("workers.maxSize", 2.5), "spec.workers.maxSize"),
    ("spec.workers.maxSize:minimum", with_value("workers.maxSize", 0), "spec.workers.maxSize"),
    ("spec.workers.maxSize:maximum", with_value("workers.maxSize", 1001), "spec.workers.maxSize"),
    (
        "spec.workers.growthThreshold:type",
        with_value("workers.growthThreshold", "0.9"),
        "spec.workers.growthThreshold",
    ),
    (
        "spec.workers.growthThreshold:type",
        with_value("workers.growthThreshold", True),
        "spec.workers.growthThreshold",
    ),
    (
        "spec.workers.growthThreshold:minimum",
        with_value("workers.growthThreshold", -0.1),
        "spec.workers.growthThreshold",
    ),
    (
        "spec.workers.growthThreshold:maximum",
        with_value("workers.growthThreshold", 1.01),
        "spec.workers.growthThreshold",
    ),
    (
        "spec.workers.growthThreshold:maximum",
        with_value("workers.growthThreshold", float("nan")),
        "spec.workers.growthThreshold",
    ),
    (
        "spec.workers.shrinkThreshold:type",
        with_value("workers.shrinkThreshold", [0.5]),
        "spec.workers.shrinkThreshold",
    ),
    (
        "spec.workers.shrinkThreshold:minimum",
        with_value("workers.shrinkThreshold", -0.5),
        "spec.workers.shrinkThreshold",
    ),
    (
        "spec.workers.shrinkThreshold:maximum",
        with_value("workers.shrinkThreshold", 2),
        "spec.workers.shrinkThreshold",
    ),
    ("spec.airflow:type", with_value("airflow", True), "spec.airflow"),
    (
        "spec.airflow.loadExampleDags:type",
        with_value("airflow.loadExampleDags", "yes"),
        "spec.airflow.loadExampleDags",
    ),
    (
        "spec.airflow.loadDefaultConnections:type",
        with_value("airflow.loadDefaultConnections", 1),
        "spec.airflow.loadDefaultConnections",
    ),
    ("spec.parameters:type", with_value("parameters", ["DrainTimeout=60"]), "spec.parameters"),
    (
        "spec.parameters:maxProperties",
        with_value("parameters", {f"Parameter{index}": "x" for index in range(61)}),
        "spec.parameters",
    ),
    (
        "spec.parameters:rule0",
        with_value("parameters", {"Drain-Timeout": "1"}),
        "spec.parameters.Drain-Timeout",
    ),
    (
        "spec.parameters:rule0",
        with_value("parameters", {"P" * 256: "1"}),
        f"spec.parameters.{'P' * 256}",
    ),
    (
        "spec.parameters:rule1",
        with_value("parameters", {"QSS3BucketName": "other"}),
        "spec.parameters.QSS3BucketName",
    ),
    (
        "spec.parameters:rule1",
        with_value("parameters", {"QSS3KeyPrefix": "x/"}),
        "spec.parameters.QSS3KeyPrefix",
    ),
    (
        "spec.parameters.*:type",
        with_value("parameters", {"DrainTimeout": 600}),
        "spec.parameters.DrainTimeout",
    ),
    (
        "spec.parameters.*:maxLength",
        with_value("parameters", {"DrainTimeout": "1" * 4097}),
        "spec.parameters.DrainTimeout",
    ),
    ("spec.deletionPolicy:type", with_value("deletionPolicy", 1), "spec.deletionPolicy"),
    ("spec.deletionPolicy:enum", with_value("deletionPolicy", "Orphan"), "spec.deletionPolicy"),
    ("spec.deletionPolicy:enum", with_value("deletionPolicy", "delete"), "spec.deletionPolicy"),
    (
        "spec.terminationProtection:type",
        with_value("terminationProtection", "true"),
        "spec.terminationProtection",
    ),
    ("spec.suspend:type", with_value("suspend", 0), "spec.suspend"),
    ("spec.updatePolicy:type", with_value("updatePolicy", ["Auto"]), "spec.updatePolicy"),
    ("spec.updatePolicy:enum", with_value("updatePolicy", "manual"), "spec.updatePolicy"),
    ("spec.approvedChangeSet:type", with_value("approvedChangeSet", 1), "spec.approvedChangeSet"),
    (
        "spec.approvedChangeSet:maxLength",
        with_value("approvedChangeSet", "t" * 129),
        "spec.approvedChangeSet",
    ),
    (
        "spec.approvedChangeSet:pattern",
        with_value("approvedChangeSet", "turbine_abc"),
        "spec.approvedChangeSet",
    ),
    ("spec.adopt:type", with_value("adopt", "yes"), "spec.adopt"),
    ("spec.driftDetection:type", with_value("driftDetection", "hourly"), "spec.driftDetection"),
    (
        "spec.driftDetection.enabled:type",
        with_value("driftDetection.enabled", "no"),
        "spec.driftDetection.enabled",
    ),
    (
        "spec.driftDetection:rule0",
        with_value("driftDetection.interval", "4m59s"),
        "spec.driftDetection.interval",
    ),
    (
        "spec.driftDetection.remediate:type",
        with_value("driftDetection.remediate", 1),
        "spec.driftDetection.remediate",
    ),
    (
        "spec.driftDetection.interval:type",
        with_value("driftDetection.interval", 3600),
        "spec.driftDetection.interval",
    ),
    (
        "spec.driftDetection.interval:minLength",
        with_value("driftDetection.interval", ""),
        "spec.driftDetection.interval",
    ),
    (
        "spec.driftDetection.interval:maxLength",
        with_value("driftDetection.interval", "1" * 20 + "h"),
        "spec.driftDetection.interval",
    ),
    (
        "spec.driftDetection.interval:pattern",
        with_value("driftDetection.interval", "1d"),
        "spec.driftDetection.interval",
    ),
]

# Constraints on the additional templates and policies are covered in test_spec_additions.py.
# ... and those on the users and the outputs ConfigMap in test_spec_airflow.py.
ADDITIONS = (
    "spec.additionalTemplates",
    "spec.additionalPolicies",
    "spec.allowAdministratorPolicies",
    "spec.airflow.users",
    "spec.airflow.dags",
    "spec.outputsConfigMap",
)
ADDITIONS_RULES = frozenset({"spec:rule0", "spec.airflow:rule0", "spec.airflow:rule1"})


def _outside_the_additions(constraint: str) -> bool:
    return not constraint.startswith(ADDITIONS) and constraint not in ADDITIONS_RULES


# An Application Load Balancer needs a /27 subnet; four of them need a /25 VPC. parse_spec checks it (no CEL
# rule: a regular expression on a 4096-character value exceeds the API server's cost budget).
@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (with_value("parameters", {"PublicSubnet1Cidr": "10.0.0.0/28"}), "spec.parameters.PublicSubnet1Cidr"),
        (with_value("parameters", {"PublicSubnet2Cidr": "10.0.1.0/28"}), "spec.parameters.PublicSubnet2Cidr"),
        (
            with_value("parameters", {"PrivateSubnet1Cidr": "10.0.10.0/29"}),
            "spec.parameters.PrivateSubnet1Cidr",
        ),
        (with_value("parameters", {"PrivateSubnet2Cidr": "10.0.11.0"}), "spec.parameters.PrivateSubnet2Cidr"),
        (with_value("parameters", {"VpcCidr": "10.0.0.0/26"}), "spec.parameters.VpcCidr"),
    ],
)
def test_subnets_too_small_for_a_load_balancer_are_refused(raw: object, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse(raw)
    assert caught.value.field == field
    assert "/27" in str(caught.value) or "/25" in str(caught.value)


def test_invalid_cases_cover_every_crd_constraint() -> None:
    expected = {c for c in crd_constraints(crd_spec_schema()) if _outside_the_additions(c)}
    assert {constraint for constraint, *_ in INVALID} == expected


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        pytest.param(
            raw,
            field,
            id=f"{constraint}-{index}",
        )
        for index, (constraint, raw, field) in enumerate(INVALID)
    ],
)
def test_invalid_spec_names_the_offending_field(raw: object, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse(raw)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        ("stackName", "turbine\n", "spec.stackName"),
        ("region", "eu-west-1\n", "spec.region"),
        ("roleArn", "arn:aws:iam::123456789012:role/x\n", "spec.roleArn"),
        ("templateBucket.name", "turbine-templates\n", "spec.templateBucket.name"),
        ("templateBucket.prefix", "turbine/\n", "spec.templateBucket.prefix"),
        ("webserver.allowedCidr", "10.0.0.0/16\n", "spec.webserver.allowedCidr"),
        ("approvedChangeSet", "turbine-abc\n", "spec.approvedChangeSet"),
    ],
)
def test_values_with_a_trailing_newline_are_rejected(path: str, value: str, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse(with_value(path, value))
    assert caught.value.field == field


def test_webserver_port_zero_is_rejected() -> None:
    with pytest.raises(SpecError) as caught:
        parse(with_value("webserver.port", 0))
    assert caught.value.field == "spec.webserver.port"


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300.0), ("1h30m", 5400.0), ("90s", None), ("2h", 7200.0)]
)
def test_drift_interval_is_a_duration_of_at_least_five_minutes(text: str, seconds: float | None) -> None:
    raw = with_value("driftDetection.interval", text)
    if seconds is None:
        with pytest.raises(SpecError) as caught:
            parse(raw)
        assert caught.value.field == "spec.driftDetection.interval"
    else:
        assert parse(raw).drift_detection.interval == seconds


def test_explicit_stack_name_and_region_override_the_defaults() -> None:
    parsed = parse({**MINIMAL, "stackName": "Custom", "region": "ap-southeast-2"})
    assert (parsed.stack_name, parsed.region) == ("Custom", "ap-southeast-2")


def test_default_stack_name_is_valid_even_for_awkward_resource_names() -> None:
    parsed = parse_spec(MINIMAL, namespace="1team", name="airflow.prod", default_region="eu-west-1")
    assert re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,127}", parsed.stack_name)


def test_fields_are_read_by_their_crd_names_only() -> None:
    # The API server prunes `max_size`; `render` must read the manifest the same way.
    with pytest.raises(SpecError) as caught:
        parse({"template_bucket": {"name": "turbine-templates"}})
    assert caught.value.field == "spec.templateBucket"
    parsed = parse({**MINIMAL, "workers": {"max_size": 3}, "deletion_policy": "Delete"})
    assert (parsed.workers.max_size, parsed.deletion_policy) == (10, DeletionPolicy.RETAIN)


def test_spec_is_immutable() -> None:
    parsed = parse(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.stack_name = "other"  # type: ignore[misc]
