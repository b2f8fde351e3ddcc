"""The bundle is content-addressed: same sources, same bytes and digest; any change, a new digest."""

from __future__ import annotations

import dataclasses
import io
import re
import zipfile

import pytest

from turbine_operator.core.render.bundle import (
    MASTER_TEMPLATE,
    Bundle,
    TurbineSources,
    build_bundle,
    lambda_archive,
)

SOURCES = TurbineSources(
    templates={
        "turbine-master.yaml": b"Resources: {}\n",
        "turbine-cluster.yaml": b"Resources: {Queue: {Type: AWS::SQS::Queue}}\n",
    },
    scripts={"commons.sh": b"#!/bin/bash\nset -e\n", "airflow-worker.service": b"[Unit]\n"},
    lambda_modules={"turbine_cluster_load": b"def handler(event, context):\n    return 0.5\n"},
)


def reversed_sources(sources: TurbineSources) -> TurbineSources:
    """The same files, offered in the opposite order (as another filesystem might list them)."""
    return TurbineSources(
        templates=dict(reversed(list(sources.templates.items()))),
        scripts=dict(reversed(list(sources.scripts.items()))),
        lambda_modules=dict(reversed(list(sources.lambda_modules.items()))),
    )


def test_keys_follow_the_documented_layout() -> None:
    bundle = build_bundle(SOURCES, {"templates/additional_templates/extra.yaml": b"Resources: {}\n"})
    assert set(bundle.files) == {
        "templates/turbine-master.yaml",
        "templates/turbine-cluster.yaml",
        "templates/additional_templates/extra.yaml",
        "scripts/commons.sh",
        "scripts/airflow-worker.service",
        "lambdas/turbine_cluster_load.zip",
    }
    assert MASTER_TEMPLATE in bundle.files
    assert list(bundle.files) == sorted(bundle.files)


def test_templates_and_scripts_are_uploaded_byte_for_byte() -> None:
    bundle = build_bundle(SOURCES)
    assert bundle.files["templates/turbine-cluster.yaml"] == SOURCES.templates["turbine-cluster.yaml"]
    assert bundle.files["scripts/commons.sh"] == SOURCES.scripts["commons.sh"]


def test_same_sources_give_byte_identical_files_and_digest() -> None:
    first = build_bundle(SOURCES, {"templates/turbine-master.json": b"{}"})
    second = build_bundle(reversed_sources(SOURCES), {"templates/turbine-master.json": b"{}"})
    assert first == second
    assert list(first.files.items()) == list(second.files.items())


def test_digest_is_short_hex() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", build_bundle(SOURCES).digest)


def test_lambda_archive_is_identical_across_calls() -> None:
    source = SOURCES.lambda_modules["turbine_cluster_load"]
    assert lambda_archive("turbine_cluster_load", source) == lambda_archive("turbine_cluster_load", source)


def test_lambda_archive_holds_the_module_at_its_root_with_fixed_metadata() -> None:
    source = SOURCES.lambda_modules["turbine_cluster_load"]
    with zipfile.ZipFile(io.BytesIO(lambda_archive("turbine_cluster_load", source))) as archive:
        (entry,) = archive.infolist()
        assert entry.filename == "turbine_cluster_load.py"
        assert archive.read(entry) == source
        # A fixed timestamp and mode make the zip (and so the digest) independent of build time.
        assert entry.date_time == (1980, 1, 1, 0, 0, 0)
        assert entry.external_attr >> 16 == 0o644


def with_file(sources: TurbineSources, category: str, name: str, body: bytes) -> TurbineSources:
    files = {**getattr(sources, category), name: body}
    return dataclasses.replace(sources, **{category: files})


def without_file(sources: TurbineSources, category: str, name: str) -> TurbineSources:
    files = {key: value for key, value in getattr(sources, category).items() if key != name}
    return dataclasses.replace(sources, **{category: files})


EVERY_FILE = [
    (category, name)
    for category in ("templates", "scripts", "lambda_modules")
    for name in getattr(SOURCES, category)
]


@pytest.mark.parametrize(("category", "name"), EVERY_FILE)
def test_digest_changes_when_any_file_changes(category: str, name: str) -> None:
    changed = with_file(SOURCES, category, name, getattr(SOURCES, category)[name] + b"\n# changed\n")
    assert build_bundle(changed).digest != build_bundle(SOURCES).digest


@pytest.mark.parametrize(("category", "name"), EVERY_FILE)
def test_digest_changes_when_any_file_is_removed(category: str, name: str) -> None:
    assert build_bundle(without_file(SOURCES, category, name)).digest != build_bundle(SOURCES).digest


@pytest.mark.parametrize("category", ["templates", "scripts", "lambda_modules"])
def test_digest_changes_when_a_file_is_added(category: str) -> None:
    added = with_file(SOURCES, category, "new_file", b"x")
    assert build_bundle(added).digest != build_bundle(SOURCES).digest


def test_digest_changes_when_a_file_is_renamed() -> None:
    renamed = without_file(
        with_file(SOURCES, "scripts", "renamed.sh", SOURCES.scripts["commons.sh"]), "scripts", "commons.sh"
    )
    assert build_bundle(renamed).digest != build_bundle(SOURCES).digest


def test_digest_changes_when_two_files_swap_contents() -> None:
    scripts = dict(SOURCES.scripts)
    scripts["commons.sh"], scripts["airflow-worker.service"] = (
        scripts["airflow-worker.service"],
        scripts["commons.sh"],
    )
    swapped = dataclasses.replace(SOURCES, scripts=scripts)
    assert build_bundle(swapped).digest != build_bundle(SOURCES).digest


def test_digest_changes_with_the_extra_files() -> None:
    assert (
        build_bundle(SOURCES, {"templates/turbine-master.json": b"{}"}).digest != build_bundle(SOURCES).digest
    )
    assert (
        build_bundle(SOURCES, {"templates/turbine-master.json": b"{}"}).digest
        != build_bundle(SOURCES, {"templates/turbine-master.json": b"{ }"}).digest
    )


@pytest.mark.parametrize(
    ("base_prefix", "expected"),
    [
        ("turbine/", "turbine/bundles/0123456789abcdef/"),
        ("", "bundles/0123456789abcdef/"),
        ("a/b/", "a/b/bundles/0123456789abcdef/"),
    ],
)
def test_key_prefix_puts_the_bundle_under_its_digest(base_prefix: str, expected: str) -> None:
    assert Bundle(files={}, digest="0123456789abcdef").key_prefix(base_prefix) == expected
