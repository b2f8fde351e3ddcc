"""Reused passes: keyed by what a suite really read, and granted only by one run that passed all of it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from turbine_dev.tooling.pass_cache import (
    Record,
    group_key,
    inputs_of,
    load_records,
    passed_in_one_run,
    reusable,
    save_record,
    tree_of,
)
from turbine_dev.tooling.read_tracking import LOG_SETTING, REPO_ROOT, Reads, logged, project_path, track

ENVIRONMENT = b"python 3.11"
DIGESTS = {
    "operator/turbine_operator/core/render/rendering.py": "a1",
    "operator/turbine_operator/core/plan/planning.py": "a2",
    "cfn/templates/turbine-cluster.yaml": "b1",
    "cfn/scripts/turbine-bootstrap.sh": "b2",
    "README.md": "c1",
}


KNOWN = [*DIGESTS, "devtools/turbine_dev/rehearsal/__main__.py", "tests/conftest.py", "tests/stubbed/aws.py"]


def test_the_rehearsal_reads_the_operators_code_so_a_change_to_it_runs_the_rehearsal_again(
    tmp_path: Path,
) -> None:
    # As tests/rehearsal starts it: a child Python that imports turbine_dev and renders user data with
    # the operator's core, with the session's reads log in its environment.
    log = tmp_path / "reads.log"
    environment = {
        **os.environ,
        LOG_SETTING: str(log),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "devtools"), str(REPO_ROOT / "operator")]),
    }
    subprocess.run(
        [sys.executable, "-c", "import turbine_dev, turbine_operator.core.render.rendering"],
        env=environment,
        check=True,
    )

    inputs = inputs_of(logged(log), (), KNOWN)

    assert "operator/turbine_operator/" in inputs
    assert "devtools/turbine_dev/" in inputs
    assert not any(tree.startswith(".venv") for tree in inputs)  # packages are keyed by their versions
    before = group_key("tests/rehearsal/", inputs, DIGESTS, ENVIRONMENT)
    edited = {**DIGESTS, "operator/turbine_operator/core/render/rendering.py": "a1-edited"}
    assert group_key("tests/rehearsal/", inputs, edited, ENVIRONMENT) != before


def test_the_session_sees_opened_files_listed_directories_and_the_paths_given_to_programs(
    tmp_path: Path,
) -> None:
    reads = Reads()
    track(reads)
    reads.current = "tests/rehearsal/"
    try:
        (REPO_ROOT / "README.md").read_bytes()
        os.listdir(REPO_ROOT / "cfn" / "templates")
        subprocess.run(["true", str(REPO_ROOT / "cfn" / "scripts" / "turbine-bootstrap.sh")], check=True)
        (tmp_path / "elsewhere").write_text("not the project's")
    finally:
        reads.current = ""

    seen = reads.paths["tests/rehearsal/"]
    assert {"README.md", "cfn/templates", "cfn/scripts/turbine-bootstrap.sh"} <= seen
    assert not any("elsewhere" in path for path in seen)


def test_bytecode_stands_for_its_source() -> None:
    cached = REPO_ROOT / "operator/turbine_operator/core/render/__pycache__/rendering.cpython-311.pyc"

    assert project_path(cached) == "operator/turbine_operator/core/render/rendering.py"
    assert project_path("/etc/passwd") is None


@pytest.mark.parametrize(
    ("path", "tree"),
    [
        ("cfn/scripts/turbine-bootstrap.sh", "cfn/scripts/"),
        ("operator/turbine_operator/core/render/rendering.py", "operator/turbine_operator/"),
        ("cfn/templates", "cfn/templates/"),  # a listed directory
        ("README.md", "README.md"),
        ("tests/conftest.py", "tests/conftest.py"),
    ],
)
def test_a_read_stands_for_its_tree(path: str, tree: str) -> None:
    assert tree_of(path) == tree


def test_files_only_collected_for_other_suites_are_no_inputs() -> None:
    reads = {"tests/unit/test_planning.py", "tests/conftest.py", "tests/stubbed/aws.py"}

    inputs = inputs_of(reads, {"tests/unit/test_planning.py"}, [*KNOWN, "tests/unit/test_planning.py"])

    assert inputs == ("tests/conftest.py", "tests/stubbed/")


@pytest.mark.parametrize(
    ("edited", "reruns"),
    [
        ("cfn/scripts/turbine-bootstrap.sh", True),
        ("operator/turbine_operator/core/plan/planning.py", True),  # the whole tree of a read file
        ("README.md", False),  # never read
    ],
)
def test_a_group_reruns_exactly_when_one_of_its_inputs_changes(edited: str, reruns: bool) -> None:
    inputs = ("cfn/scripts/", "operator/turbine_operator/")
    before = group_key("tests/chaos/", inputs, DIGESTS, ENVIRONMENT)

    after = group_key("tests/chaos/", inputs, {**DIGESTS, edited: "changed"}, ENVIRONMENT)

    assert (after != before) is reruns


def test_other_packages_settings_or_inputs_run_a_group_again() -> None:
    inputs = ("cfn/scripts/",)
    key = group_key("tests/chaos/", inputs, DIGESTS, ENVIRONMENT)

    assert group_key("tests/chaos/", inputs, DIGESTS, b"python 3.11\nmoto==5.1") != key
    assert group_key("tests/chaos/", (*inputs, "lambdas/"), DIGESTS, ENVIRONMENT) != key


def test_passes_of_two_runs_are_never_merged(tmp_path: Path) -> None:
    records = tmp_path / "chaos.json"
    inputs = ("cfn/scripts/",)
    key = group_key("tests/chaos/", inputs, DIGESTS, ENVIRONMENT)
    # One run passed the first trial (the second failed), a later one only the second.
    save_record(records, Record(key, inputs, frozenset({"t::one"}), "2026-12-07T10:00:00+00:00"))
    save_record(records, Record(key, inputs, frozenset({"t::two"}), "2026-12-07T11:00:00+00:00"))

    kept = load_records(records)

    assert [record.passed for record in kept] == [frozenset({"t::two"})]
    assert reusable(kept, ["t::one", "t::two"], {inputs: key}) is None
    assert reusable(kept, ["t::two"], {inputs: key}) == kept[0]
    assert reusable(kept, ["t::two"], {inputs: "another key"}) is None


def test_a_run_records_its_group_only_when_every_test_of_it_passed() -> None:
    ran = ["t::one", "t::two"]

    assert passed_in_one_run(ran, {"t::one", "t::two"}, set()) == frozenset(ran)
    assert passed_in_one_run(ran, {"t::one"}, {"t::two"}) is None
    assert passed_in_one_run(ran, {"t::one"}, set()) is None  # the second never got to its call
    assert passed_in_one_run([], set(), set()) is None
