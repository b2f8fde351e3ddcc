"""A reused pass is keyed by every input of its suite: a change to one runs the suite again."""

from __future__ import annotations

from pathlib import Path

import pytest

from turbine_dev.pass_cache import group_key

FILES = ("operator/turbine_operator/core/planning.py", "cfn/templates/turbine-cluster.yaml", "README.md")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(f"{name}\n")
    return tmp_path


def _key(group: str, project: Path, environment: bytes = b"python 3.11") -> str:
    return group_key(group, FILES, environment, root=project)


@pytest.mark.parametrize(
    ("group", "edited", "reruns"),
    [
        ("tests/chaos/", "operator/turbine_operator/core/planning.py", True),
        ("tests/chaos/", "cfn/templates/turbine-cluster.yaml", False),
        ("tests/rehearsal/", "cfn/templates/turbine-cluster.yaml", True),
        ("tests/rehearsal/", "operator/turbine_operator/core/planning.py", False),
        ("tests/deploy/", "README.md", True),  # the kstatus table lives there
        ("tests/integration/", "README.md", False),
    ],
)
def test_a_group_reruns_exactly_when_one_of_its_inputs_changes(
    project: Path, group: str, edited: str, reruns: bool
) -> None:
    before = _key(group, project)
    (project / edited).write_text("changed\n")
    assert (_key(group, project) != before) is reruns


def test_other_packages_or_settings_run_every_group_again(project: Path) -> None:
    for group in ("tests/chaos/", "tests/rehearsal/", "tests/integration/", "tests/deploy/"):
        assert _key(group, project, b"python 3.11\nmoto==5.1") != _key(group, project)
