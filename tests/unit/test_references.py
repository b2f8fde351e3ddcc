"""What a spec reads from outside its manifest: the references it lists, the objects to watch, which
TurbineStacks read an object, reading fetched values back, and values whose reprs never show their
content."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from turbine_operator.core.api.spec import TurbineStackSpec, parse_spec
from turbine_operator.core.api.spec_additions import KeyRef
from turbine_operator.core.errors import SpecError
from turbine_operator.core.render.references import (
    Fetched,
    ReaderIndex,
    Reference,
    SourceKind,
    StoredObject,
    change_needs_reconcile,
    content_fingerprint,
    content_of,
    references_of,
    text_of,
    version_fingerprint,
    watched_objects,
)

CONFIG_MAP, SECRET, S3_OBJECT = SourceKind.CONFIG_MAP, SourceKind.SECRET, SourceKind.S3_OBJECT
SECRET_VALUE = b"hunter2-do-not-print-me"


def spec_of(
    templates: list[dict[str, Any]] | None = None, policies: list[dict[str, Any]] | None = None
) -> TurbineStackSpec:
    raw = {
        "templateBucket": {"name": "turbine-templates"},
        "additionalTemplates": templates or [],
        "additionalPolicies": policies or [],
    }
    return parse_spec(raw, namespace="airflow", name="prod", default_region="eu-west-1")


def key_ref(name: str, key: str) -> dict[str, str]:
    return {"name": name, "key": key}


def s3_template(url: str) -> TurbineStackSpec:
    return spec_of([{"name": "Dags", "template": {"s3Url": url}}])


EVERY_KIND = spec_of(
    [
        {
            "name": "Dags",
            "template": {"configMapKeyRef": key_ref("settings", "dags.yaml")},
            "files": [
                {"path": "inline.yaml", "inline": "Resources: {}"},
                {"path": "nested/child.yaml", "configMapKeyRef": key_ref("settings", "child")},
            ],
            "parameters": {"Literal": "x"},
            "parametersFrom": [
                {"name": "Team", "configMapKeyRef": key_ref("settings", "team")},
                {"name": "Token", "secretKeyRef": key_ref("tokens", "api-token")},
            ],
        },
        {
            "name": "Alarms",
            "template": {"s3Url": "s3://shared-templates/airflow/alarms.yaml"},
            "parametersFrom": [{"name": "Token", "secretKeyRef": key_ref("settings", "team")}],
        },
        {"name": "Inline", "template": {"inline": "Resources: {}"}},
    ],
    [
        {"name": "ReadData", "document": {"configMapKeyRef": key_ref("policies", "read")}},
        {"name": "WriteLogs", "document": {"inline": '{"Version": "2012-10-17"}'}},
    ],
)


def test_references_of_lists_every_reference_with_the_field_that_asked_for_it_in_spec_order() -> None:
    assert references_of(EVERY_KIND) == (
        Reference(
            CONFIG_MAP, "settings", "dags.yaml", "spec.additionalTemplates[Dags].template.configMapKeyRef"
        ),
        Reference(
            CONFIG_MAP,
            "settings",
            "child",
            "spec.additionalTemplates[Dags].files[nested/child.yaml].configMapKeyRef",
        ),
        Reference(
            CONFIG_MAP,
            "settings",
            "team",
            "spec.additionalTemplates[Dags].parametersFrom[Team].configMapKeyRef",
        ),
        Reference(
            SECRET, "tokens", "api-token", "spec.additionalTemplates[Dags].parametersFrom[Token].secretKeyRef"
        ),
        Reference(
            S3_OBJECT,
            "shared-templates",
            "airflow/alarms.yaml",
            "spec.additionalTemplates[Alarms].template.s3Url",
        ),
        Reference(
            SECRET, "settings", "team", "spec.additionalTemplates[Alarms].parametersFrom[Token].secretKeyRef"
        ),
        Reference(
            CONFIG_MAP, "policies", "read", "spec.additionalPolicies[ReadData].document.configMapKeyRef"
        ),
    )


def test_a_spec_without_references_lists_none() -> None:
    inline_only = spec_of(
        [{"name": "Dags", "template": {"inline": "Resources: {}"}, "files": [{"path": "a", "inline": "b"}]}],
        [{"name": "ReadData", "document": {"inline": '{"Version": "2012-10-17"}'}}],
    )
    assert references_of(inline_only) == ()
    assert references_of(spec_of()) == ()
    assert watched_objects(inline_only) == frozenset()


def test_the_same_key_asked_for_twice_is_listed_twice_with_each_field() -> None:
    spec = spec_of(
        [
            {"name": "Dags", "template": {"configMapKeyRef": key_ref("settings", "body")}},
            {"name": "Alarms", "template": {"configMapKeyRef": key_ref("settings", "body")}},
        ]
    )
    assert [reference.field for reference in references_of(spec)] == [
        "spec.additionalTemplates[Dags].template.configMapKeyRef",
        "spec.additionalTemplates[Alarms].template.configMapKeyRef",
    ]
    assert {reference.source for reference in references_of(spec)} == {(CONFIG_MAP, "settings", "body")}


@pytest.mark.parametrize(
    ("url", "bucket", "key"),
    [
        ("s3://shared-templates/dags.yaml", "shared-templates", "dags.yaml"),
        ("s3://shared-templates/a/b/c/dags.yaml", "shared-templates", "a/b/c/dags.yaml"),
        ("s3://my.dotted.bucket-1/path/to/t.json", "my.dotted.bucket-1", "path/to/t.json"),
        ("s3://abc/key/with/trailing/", "abc", "key/with/trailing/"),
        ("s3://abc/weird+key=%20(1).yaml", "abc", "weird+key=%20(1).yaml"),
    ],
)
def test_an_s3_url_is_split_into_bucket_and_key(url: str, bucket: str, key: str) -> None:
    (reference,) = references_of(s3_template(url))
    assert (reference.kind, reference.name, reference.key) == (S3_OBJECT, bucket, key)
    assert reference.source == (S3_OBJECT, bucket, key)
    assert reference.describe() == url


@pytest.mark.parametrize(
    ("reference", "described"),
    [
        (Reference(CONFIG_MAP, "settings", "body", "f"), "key body of ConfigMap settings"),
        (Reference(SECRET, "tokens", "api-token", "f"), "key api-token of Secret tokens"),
        (Reference(S3_OBJECT, "bucket", "a/b.yaml", "f"), "s3://bucket/a/b.yaml"),
    ],
)
def test_a_reference_describes_what_it_reads(reference: Reference, described: str) -> None:
    assert reference.describe() == described


def test_watched_objects_are_the_config_maps_and_secrets_but_not_s3() -> None:
    assert watched_objects(EVERY_KIND) == frozenset(
        {(CONFIG_MAP, "settings"), (CONFIG_MAP, "policies"), (SECRET, "tokens"), (SECRET, "settings")}
    )


def test_a_spec_reading_only_s3_watches_nothing() -> None:
    assert watched_objects(s3_template("s3://shared-templates/dags.yaml")) == frozenset()


# --- which TurbineStacks read an object ----------------------------------------------------------


def config_map_template(config_map: str) -> TurbineStackSpec:
    return spec_of([{"name": "Dags", "template": {"configMapKeyRef": key_ref(config_map, "t.yaml")}}])


def test_the_reader_index_names_every_stack_reading_an_object_in_its_namespace() -> None:
    index = ReaderIndex()
    index.record("uid-a", "airflow", "prod", config_map_template("shared"))
    index.record("uid-b", "airflow", "stage", config_map_template("shared"))
    index.record("uid-c", "other", "prod", config_map_template("shared"))

    assert index.readers("airflow", CONFIG_MAP, "shared") == ["prod", "stage"]
    assert index.readers("other", CONFIG_MAP, "shared") == ["prod"]
    assert index.readers("airflow", SECRET, "shared") == []


def test_a_changed_spec_stops_reading_what_it_no_longer_names() -> None:
    index = ReaderIndex()
    index.record("uid-a", "airflow", "prod", config_map_template("first"))
    index.record("uid-a", "airflow", "prod", config_map_template("second"))

    assert index.readers("airflow", CONFIG_MAP, "first") == []
    assert index.readers("airflow", CONFIG_MAP, "second") == ["prod"]


def test_a_spec_that_does_not_parse_reads_nothing() -> None:
    index = ReaderIndex()
    index.record("uid-a", "airflow", "prod", config_map_template("shared"))
    index.record("uid-a", "airflow", "prod", None)

    assert index.readers("airflow", CONFIG_MAP, "shared") == []


def test_a_deleted_stack_is_forgotten_and_the_other_readers_stay() -> None:
    index = ReaderIndex()
    index.record("uid-a", "airflow", "prod", EVERY_KIND)
    index.record("uid-b", "airflow", "stage", EVERY_KIND)
    index.forget("uid-a")
    index.forget("uid-unknown")

    assert index.readers("airflow", SECRET, "tokens") == ["stage"]
    index.forget("uid-b")
    assert [index.readers("airflow", kind, name) for kind, name in watched_objects(EVERY_KIND)] == [[]] * 4


# --- reading fetched values back ----------------------------------------------------------------


FETCHED = {
    (CONFIG_MAP, "settings", "body"): Fetched(b"Resources: {}", "c1"),
    (SECRET, "settings", "body"): Fetched(SECRET_VALUE, "s1"),
}


def test_content_of_without_a_reference_is_none() -> None:
    assert content_of(FETCHED, CONFIG_MAP, None, "spec.x") is None


@pytest.mark.parametrize(("kind", "expected"), [(CONFIG_MAP, b"Resources: {}"), (SECRET, SECRET_VALUE)])
def test_content_of_reads_the_value_of_the_kind_asked_for(kind: SourceKind, expected: bytes) -> None:
    value = content_of(FETCHED, kind, KeyRef("settings", "body"), "spec.x")
    assert value is not None
    assert value.content == expected


@pytest.mark.parametrize(
    ("kind", "ref"),
    [
        (CONFIG_MAP, KeyRef("settings", "other")),
        (CONFIG_MAP, KeyRef("elsewhere", "body")),
        (SECRET, KeyRef("settings", "other")),
    ],
)
def test_content_of_a_gap_is_a_spec_error_naming_the_field(kind: SourceKind, ref: KeyRef) -> None:
    field = "spec.additionalTemplates[Dags].template.configMapKeyRef"
    with pytest.raises(SpecError) as caught:
        content_of(FETCHED, kind, ref, field)
    assert caught.value.field == field
    assert f"key {ref.key} of {kind.value} {ref.name}" in caught.value.message


def test_text_of_decodes_utf8() -> None:
    assert text_of(Fetched("Grüße".encode(), "f"), "spec.x") == "Grüße"


def test_text_of_refuses_bytes_that_are_not_utf8_without_quoting_them() -> None:
    with pytest.raises(SpecError) as caught:
        text_of(Fetched(b"\xff" + SECRET_VALUE, "f"), "spec.x.secretKeyRef")
    assert caught.value.field == "spec.x.secretKeyRef"
    assert SECRET_VALUE.decode() not in str(caught.value)


# --- reprs and fingerprints -----------------------------------------------------------------------

SHOWN: list[Callable[[object], str]] = [
    repr,
    str,
    lambda value: f"{value}",
    lambda value: f"{value!r}",
    lambda value: repr([value]),
    lambda value: repr({"key": value}),
]


@pytest.mark.parametrize("show", SHOWN)
def test_a_fetched_value_is_shown_without_its_content(show: Callable[[object], str]) -> None:
    shown = show(Fetched(SECRET_VALUE, "0123456789abcdef"))
    assert SECRET_VALUE.decode() not in shown
    assert "hunter2" not in shown
    assert f"<{len(SECRET_VALUE)} bytes>" in shown
    assert "0123456789abcdef" in shown


@pytest.mark.parametrize("show", SHOWN)
def test_a_stored_object_is_shown_with_its_keys_but_not_their_values(show: Callable[[object], str]) -> None:
    stored = StoredObject(
        uid="uid-1", resource_version="42", data={"token": SECRET_VALUE, "user": b"airflow"}
    )
    shown = show(stored)
    assert SECRET_VALUE.decode() not in shown
    assert "airflow" not in shown
    assert "'token'" in shown
    assert "'user'" in shown
    assert "uid-1" in shown


def test_a_content_fingerprint_follows_the_content() -> None:
    assert content_fingerprint(b"a") == content_fingerprint(b"a")
    assert content_fingerprint(b"a") != content_fingerprint(b"b")
    assert len(content_fingerprint(b"a")) == 16


def test_a_version_fingerprint_follows_the_object_version_and_not_its_data() -> None:
    stored = StoredObject(uid="uid-1", resource_version="42", data={"token": b"one"})
    same_version = StoredObject(uid="uid-1", resource_version="42", data={"token": b"two"})
    new_version = StoredObject(uid="uid-1", resource_version="43", data={"token": b"one"})
    recreated = StoredObject(uid="uid-2", resource_version="42", data={"token": b"one"})
    assert version_fingerprint(stored) == version_fingerprint(same_version)
    assert version_fingerprint(stored) != version_fingerprint(new_version)
    assert version_fingerprint(stored) != version_fingerprint(recreated)
    assert version_fingerprint(stored) != content_fingerprint(b"one")


@pytest.mark.parametrize(
    ("event_type", "previous", "version", "expected"),
    [
        (None, None, "7", False),
        (None, "7", "7", False),
        (None, "6", "7", True),
        ("ADDED", None, "7", True),
        ("MODIFIED", "6", "7", True),
        ("DELETED", "7", "8", True),
    ],
    ids=["first-listing", "relisting-unchanged", "relisting-changed", "added", "modified", "deleted"],
)
def test_which_watch_events_reconcile_the_stacks_that_read_an_object(
    event_type: str | None, previous: str | None, version: str, expected: bool
) -> None:
    assert change_needs_reconcile(event_type, previous, version) is expected
