"""fetch_references over ConfigMaps and Secrets in memory and a fake S3: every object read once, every
gap reported against the field that asked for it, and fingerprints that move only when they should."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from stubbed.cluster import ObjectsInMemory
from turbine_operator.core.api.spec import TurbineStackSpec, parse_spec
from turbine_operator.core.errors import AwsAccessDenied, ReferenceMissing, SpecError
from turbine_operator.core.render.bundle import TurbineSources
from turbine_operator.core.render.references import Fetched, Source, SourceKind, references_of
from turbine_operator.core.render.rendering import Owner, desired_stack
from turbine_operator.operations.stack.references import fetch_references

CONFIG_MAP, SECRET, S3_OBJECT = SourceKind.CONFIG_MAP, SourceKind.SECRET, SourceKind.S3_OBJECT
NAMESPACE = "airflow"
BODY = (
    b'{"Parameters": {"Team": {"Type": "String"}, "Token": {"Type": "String", "NoEcho": true}},'
    b' "Resources": {"T": {"Type": "X"}}}'
)
POLICY = (
    b'{"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}}'
)
SECRET_VALUE = b"hunter2-do-not-print-me"


@dataclasses.dataclass
class FakeS3:
    """An S3Reader over a dict; keys in `denied` raise AccessDenied, `reads` records every call."""

    objects: dict[tuple[str, str], bytes] = dataclasses.field(default_factory=dict)
    denied: set[tuple[str, str]] = dataclasses.field(default_factory=set)
    reads: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def read_object(self, bucket: str, key: str) -> bytes | None:
        self.reads.append((bucket, key))
        if (bucket, key) in self.denied:
            raise AwsAccessDenied("GetObject", "AccessDenied", "x")
        return self.objects.get((bucket, key))


def key_ref(name: str, key: str) -> dict[str, str]:
    return {"name": name, "key": key}


def spec_of(*templates: dict[str, Any], policies: tuple[dict[str, Any], ...] = ()) -> TurbineStackSpec:
    raw = {
        "templateBucket": {"name": "turbine-templates"},
        "additionalTemplates": list(templates),
        "additionalPolicies": list(policies),
    }
    return parse_spec(raw, namespace=NAMESPACE, name="prod", default_region="eu-west-1")


def from_config_map(name: str, key: str) -> dict[str, Any]:
    return {"name": "Dags", "template": {"configMapKeyRef": key_ref(name, key)}}


def from_s3(url: str) -> dict[str, Any]:
    return {"name": "Dags", "template": {"s3Url": url}}


def with_token(name: str = "tokens", key: str = "api-token") -> dict[str, Any]:
    return {
        "name": "Dags",
        "template": {"inline": BODY.decode()},
        "parameters": {"Team": "data"},
        "parametersFrom": [{"name": "Token", "secretKeyRef": key_ref(name, key)}],
    }


SHARED_CONFIG_MAP = spec_of(
    {
        "name": "Dags",
        "template": {"configMapKeyRef": key_ref("settings", "dags.yaml")},
        "files": [
            {"path": "child.yaml", "configMapKeyRef": key_ref("settings", "child")},
            {"path": "again.yaml", "configMapKeyRef": key_ref("settings", "child")},
        ],
        "parametersFrom": [
            {"name": "Team", "configMapKeyRef": key_ref("settings", "team")},
            {"name": "Token", "secretKeyRef": key_ref("settings", "token")},
        ],
    },
    {"name": "Alarms", "template": {"s3Url": "s3://shared-templates/alarms.yaml"}},
    policies=({"name": "ReadData", "document": {"configMapKeyRef": key_ref("settings", "policy")}},),
)


def shared_objects() -> ObjectsInMemory:
    objects = ObjectsInMemory()
    config = {"dags.yaml": BODY, "child": b"Resources: {}", "team": b"data", "policy": POLICY}
    objects.put(CONFIG_MAP, NAMESPACE, "settings", "1", **config)
    objects.put(SECRET, NAMESPACE, "settings", token=SECRET_VALUE)
    return objects


def shared_s3() -> FakeS3:
    return FakeS3(objects={("shared-templates", "alarms.yaml"): b'{"Resources": {"T": {"Type": "X"}}}'})


def refusal(spec: TurbineStackSpec, objects: ObjectsInMemory, s3: FakeS3 | None) -> ReferenceMissing:
    with pytest.raises(ReferenceMissing) as caught:
        fetch_references(spec, NAMESPACE, objects, s3)
    return caught.value


def test_every_reference_is_fetched_keyed_by_its_source() -> None:
    fetched = fetch_references(SHARED_CONFIG_MAP, NAMESPACE, shared_objects(), shared_s3())
    assert set(fetched) == {reference.source for reference in references_of(SHARED_CONFIG_MAP)}
    assert fetched[(CONFIG_MAP, "settings", "dags.yaml")].content == BODY
    assert fetched[(SECRET, "settings", "token")].content == SECRET_VALUE
    assert (
        fetched[(S3_OBJECT, "shared-templates", "alarms.yaml")].content
        == b'{"Resources": {"T": {"Type": "X"}}}'
    )


def test_each_object_is_read_once_however_many_of_its_keys_are_referenced() -> None:
    objects, s3 = shared_objects(), shared_s3()
    fetch_references(SHARED_CONFIG_MAP, NAMESPACE, objects, s3)
    assert sorted(objects.reads) == [(CONFIG_MAP, NAMESPACE, "settings"), (SECRET, NAMESPACE, "settings")]
    assert s3.reads == [("shared-templates", "alarms.yaml")]


def test_an_s3_object_referenced_twice_is_read_once() -> None:
    spec = spec_of(
        from_s3("s3://shared-templates/t.yaml"), {**from_s3("s3://shared-templates/t.yaml"), "name": "B"}
    )
    s3 = FakeS3(objects={("shared-templates", "t.yaml"): b"Resources: {}"})
    fetch_references(spec, NAMESPACE, ObjectsInMemory(), s3)
    assert s3.reads == [("shared-templates", "t.yaml")]


def test_a_spec_without_references_reads_nothing() -> None:
    objects = ObjectsInMemory()
    spec = spec_of({"name": "Dags", "template": {"inline": "Resources: {}"}})
    assert fetch_references(spec, NAMESPACE, objects, None) == {}
    assert objects.reads == []


def test_what_was_fetched_renders() -> None:
    cfn = Path(__file__).resolve().parents[2] / "cfn" / "templates" / "turbine-master.yaml"
    sources = TurbineSources(
        templates={"turbine-master.yaml": cfn.read_bytes()}, scripts={}, lambda_modules={}
    )
    fetched = fetch_references(SHARED_CONFIG_MAP, NAMESPACE, shared_objects(), shared_s3())
    stack = desired_stack(SHARED_CONFIG_MAP, Owner(NAMESPACE, "prod", "uid-1"), sources, fetched)
    assert stack.parameters["DagsToken"] == SECRET_VALUE.decode()
    assert stack.shown_parameters()["DagsToken"] == "****"


def test_objects_are_read_from_the_stacks_namespace_only() -> None:
    objects = ObjectsInMemory()
    objects.put(CONFIG_MAP, "elsewhere", "settings", body=BODY)
    error = refusal(spec_of(from_config_map("settings", "body")), objects, None)
    assert error.field == "spec.additionalTemplates[Dags].template.configMapKeyRef"
    assert objects.reads == [(CONFIG_MAP, NAMESPACE, "settings")]


# --- gaps -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "field", "named"),
    [
        (
            spec_of(from_config_map("settings", "body")),
            "spec.additionalTemplates[Dags].template.configMapKeyRef",
            "ConfigMap settings does not exist in namespace airflow",
        ),
        (
            spec_of(with_token("tokens")),
            "spec.additionalTemplates[Dags].parametersFrom[Token].secretKeyRef",
            "Secret tokens does not exist in namespace airflow",
        ),
        (
            spec_of(
                {
                    "name": "Dags",
                    "template": {"inline": "Resources: {}"},
                    "files": [{"path": "c.yaml", "configMapKeyRef": key_ref("files", "c")}],
                }
            ),
            "spec.additionalTemplates[Dags].files[c.yaml].configMapKeyRef",
            "ConfigMap files does not exist in namespace airflow",
        ),
        (
            spec_of(
                policies=({"name": "ReadData", "document": {"configMapKeyRef": key_ref("policies", "p")}},)
            ),
            "spec.additionalPolicies[ReadData].document.configMapKeyRef",
            "ConfigMap policies does not exist in namespace airflow",
        ),
    ],
    ids=["template", "secret-parameter", "file", "policy"],
)
def test_a_missing_object_is_refused_naming_the_field_and_the_object(
    spec: TurbineStackSpec, field: str, named: str
) -> None:
    error = refusal(spec, ObjectsInMemory(), None)
    assert isinstance(error, SpecError)
    assert error.field == field
    assert named in error.message


@pytest.mark.parametrize(
    ("kind", "spec", "field"),
    [
        (
            CONFIG_MAP,
            spec_of(from_config_map("tokens", "body")),
            "spec.additionalTemplates[Dags].template.configMapKeyRef",
        ),
        (
            SECRET,
            spec_of(with_token("tokens", "body")),
            "spec.additionalTemplates[Dags].parametersFrom[Token].secretKeyRef",
        ),
    ],
    ids=["ConfigMap", "Secret"],
)
def test_a_missing_key_is_refused_naming_the_field_the_object_and_the_key(
    kind: SourceKind, spec: TurbineStackSpec, field: str
) -> None:
    objects = ObjectsInMemory()
    objects.put(kind, NAMESPACE, "tokens", other=SECRET_VALUE)
    error = refusal(spec, objects, None)
    assert error.field == field
    assert f"{kind.value} tokens has no key body" in error.message
    assert SECRET_VALUE.decode() not in str(error)


def test_a_config_map_is_no_stand_in_for_a_secret_of_the_same_name() -> None:
    objects = ObjectsInMemory()
    objects.put(CONFIG_MAP, NAMESPACE, "tokens", "1", **{"api-token": b"plain"})
    error = refusal(spec_of(with_token()), objects, None)
    assert "Secret tokens does not exist" in error.message


def test_a_missing_s3_object_is_refused_naming_the_field_and_the_url() -> None:
    error = refusal(spec_of(from_s3("s3://shared-templates/gone.yaml")), ObjectsInMemory(), FakeS3())
    assert error.field == "spec.additionalTemplates[Dags].template.s3Url"
    assert "s3://shared-templates/gone.yaml does not exist" in error.message


def test_an_s3_object_that_may_not_be_read_is_refused_asking_for_s3_get_object() -> None:
    s3 = FakeS3(
        objects={("shared-templates", "secret.yaml"): b"Resources: {}"},
        denied={("shared-templates", "secret.yaml")},
    )
    error = refusal(spec_of(from_s3("s3://shared-templates/secret.yaml")), ObjectsInMemory(), s3)
    assert error.field == "spec.additionalTemplates[Dags].template.s3Url"
    assert "s3://shared-templates/secret.yaml" in error.message
    assert "AccessDenied" in error.message
    assert "s3:GetObject" in error.message
    assert error.__cause__ is None


def test_an_s3_reference_without_aws_access_is_refused() -> None:
    error = refusal(spec_of(from_s3("s3://shared-templates/t.yaml")), ObjectsInMemory(), None)
    assert error.field == "spec.additionalTemplates[Dags].template.s3Url"
    assert "s3://shared-templates/t.yaml" in error.message


# --- fingerprints --------------------------------------------------------------------------------


def fetched_with(kind: SourceKind, version: str, content: bytes) -> Fetched:
    objects = ObjectsInMemory()
    objects.put(kind, NAMESPACE, "tokens", version, **{"api-token": content, "body": content})
    spec = spec_of(with_token()) if kind is SECRET else spec_of(from_config_map("tokens", "body"))
    source: Source = (kind, "tokens", "api-token" if kind is SECRET else "body")
    return fetch_references(spec, NAMESPACE, objects, None)[source]


def test_a_secret_fingerprint_changes_with_its_resource_version() -> None:
    assert (
        fetched_with(SECRET, "1", SECRET_VALUE).fingerprint
        != fetched_with(SECRET, "2", SECRET_VALUE).fingerprint
    )


def test_a_secret_fingerprint_does_not_follow_its_content() -> None:
    first, second = fetched_with(SECRET, "1", b"one"), fetched_with(SECRET, "1", b"two")
    assert first.fingerprint == second.fingerprint
    assert (first.content, second.content) == (b"one", b"two")


def test_a_config_map_fingerprint_changes_with_its_content() -> None:
    assert (
        fetched_with(CONFIG_MAP, "1", b"one").fingerprint != fetched_with(CONFIG_MAP, "1", b"two").fingerprint
    )


def test_a_config_map_fingerprint_ignores_a_new_version_of_the_same_content() -> None:
    assert (
        fetched_with(CONFIG_MAP, "1", b"one").fingerprint == fetched_with(CONFIG_MAP, "2", b"one").fingerprint
    )


def test_an_s3_fingerprint_follows_its_content() -> None:
    spec = spec_of(from_s3("s3://shared-templates/t.yaml"))
    source: Source = (S3_OBJECT, "shared-templates", "t.yaml")

    def fingerprint(content: bytes) -> str:
        s3 = FakeS3(objects={("shared-templates", "t.yaml"): content})
        return fetch_references(spec, NAMESPACE, ObjectsInMemory(), s3)[source].fingerprint

    assert fingerprint(b"one") == fingerprint(b"one")
    assert fingerprint(b"one") != fingerprint(b"two")
