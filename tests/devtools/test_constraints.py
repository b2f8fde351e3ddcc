"""devtools/constraints.txt: the dependency versions every machine installs (`make dev-lock` writes it).

CI once failed the day a new kubernetes client shipped type hints: `pip install -e .[dev]` took the newest
release nobody had run. The lock makes every install repeat the versions the tests passed with; these checks
keep it whole and in force.
"""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
LOCK = REPO_ROOT / "devtools" / "constraints.txt"


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
        if match:
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def _declared() -> list[Requirement]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return [
        Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    ]


def test_the_lock_pins_every_declared_dependency_within_its_range() -> None:
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, (
            f"{requirement.name} is declared in pyproject.toml but not pinned: run make dev-lock"
        )
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{requirement.name}=={pins[name]} is outside {requirement.specifier}: run make dev-lock"
        )


def test_this_environment_was_installed_from_the_lock() -> None:
    pins = _pins()
    for requirement in _declared():
        name = canonicalize_name(requirement.name)
        installed = metadata.version(requirement.name)
        assert installed == pins[name], (
            f"{requirement.name} {installed} is installed, the lock says {pins[name]}: make test reinstalls"
        )


def test_make_installs_with_the_lock() -> None:
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "CONSTRAINTS := devtools/constraints.txt" in makefile
    assert re.search(r"^\$\(INSTALLED\): pyproject\.toml \$\(CONSTRAINTS\)$", makefile, re.MULTILINE)
    assert "pip install --quiet --constraint $(CONSTRAINTS) -e '.[dev]'" in makefile
