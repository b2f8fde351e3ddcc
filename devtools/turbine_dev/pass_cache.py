"""Reused passes: a slow suite that passed on exactly these inputs is not run again.

The suites that start real software (the chaos trials, the boot rehearsal, the integration and
deployment tests against the local control plane) take most of `make test`. Each is a group; its
key is a digest of every file that can change its outcome (the whole project less the parts the
group never reads, tracked or not, committed or not), of the installed Python packages and of the
TURBINE_* and CHAOS_* settings. A test that passed under that key is deselected by a later session,
which says so in its summary; any change to an input runs it again. `TURBINE_REUSE_PASSES=0` runs
everything (CI sets it).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest

from turbine_dev.caches import cache_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
REUSE_SETTING = "TURBINE_REUSE_PASSES"

# What each group never reads. Everything else (operator/, devtools/, pyproject.toml, the shared
# tests/conftest.py and fixtures, files not yet known here) is an input of every group.
_OTHER_TESTS = tuple(
    f"tests/{name}/" for name in ("adapters", "cfn", "devtools", "lambdas", "operations", "stubbed", "unit")
)
# docs/ stays an input of the suites whose AWS calls are checked against docs/iam-policy.json.
_PROSE = ("bench/", "README.md")
GROUPS: dict[str, tuple[str, ...]] = {
    "tests/chaos/": (
        *_OTHER_TESTS, *_PROSE, "cfn/", "lambdas/", "charts/", "examples/",
        "tests/rehearsal/", "tests/integration/", "tests/deploy/",
    ),
    "tests/rehearsal/": (
        *_OTHER_TESTS, *_PROSE, "docs/", "operator/", "charts/", "crds/", "manifests/", "examples/",
        "tests/chaos/", "tests/integration/", "tests/deploy/",
    ),
    "tests/integration/": (
        *_OTHER_TESTS, *_PROSE, "charts/", "tests/chaos/", "tests/rehearsal/", "tests/deploy/",
    ),
    # The deployment tests read the README (the kstatus table) and docs/ (the IAM policy).
    "tests/deploy/": (*_OTHER_TESTS, "bench/", "tests/chaos/", "tests/rehearsal/", "tests/integration/"),
}  # fmt: skip


def _project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return sorted({name for name in listed.decode().split("\0") if name})


def _environment() -> bytes:
    """The interpreter, the installed packages and the settings the tests read from the environment."""
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    settings = sorted(
        f"{name}={value}"
        for name, value in os.environ.items()
        if name.startswith(("TURBINE_", "CHAOS_")) and name != REUSE_SETTING
    )
    return "\n".join([sys.version, *packages, *settings]).encode()


def group_key(group: str, files: Iterable[str], environment: bytes, root: Path = REPO_ROOT) -> str:
    digest = hashlib.sha256(group.encode() + b"\0" + environment)
    for name in files:
        if name.startswith(GROUPS[group]):
            continue
        path = root / name
        if not path.is_file():
            continue  # deleted but still in the index
        digest.update(name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:32]


def group_of(item: pytest.Item) -> str | None:
    path = Path(str(item.path)).resolve()
    if not path.is_relative_to(REPO_ROOT):
        return None
    relative = path.relative_to(REPO_ROOT).as_posix()
    return next((group for group in GROUPS if relative.startswith(group)), None)


def _record(group: str, key: str) -> Path:
    return cache_dir("passes") / f"{group.strip('/').replace('/', '-')}-{key}"


def _recorded(path: Path) -> set[str]:
    return set(path.read_text().splitlines()) if path.exists() else set()


class PassCache:
    def __init__(self, reuse: bool) -> None:
        self.reuse = reuse
        self.keys: dict[str, str] = {}
        self.failed: set[str] = set()
        self.passed: set[str] = set()
        self.reused: dict[str, int] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        grouped = {item.nodeid: group for item in items if (group := group_of(item))}
        if not grouped:
            return
        files, environment = _project_files(), _environment()
        self.keys = {group: group_key(group, files, environment) for group in set(grouped.values())}
        if not self.reuse:
            return
        passed = {group: _recorded(_record(group, key)) for group, key in self.keys.items()}
        kept, dropped = [], []
        for item in items:
            group = grouped.get(item.nodeid)
            if group is not None and item.nodeid in passed[group]:
                dropped.append(item)
                self.reused[group] = self.reused.get(group, 0) + 1
            else:
                kept.append(item)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = kept

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed:
            self.failed.add(report.nodeid)
        elif report.when == "call" and report.passed:
            self.passed.add(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        for group, key in self.keys.items():
            fresh = {nodeid for nodeid in self.passed - self.failed if nodeid.startswith(group)}
            if fresh:
                record = _record(group, key)
                record.parent.mkdir(parents=True, exist_ok=True)
                record.write_text("".join(f"{nodeid}\n" for nodeid in sorted(_recorded(record) | fresh)))

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        for group, count in sorted(self.reused.items()):
            terminalreporter.write_line(
                f"reused passes: {count} tests of {group} passed before on these exact inputs "
                f"(key {self.keys[group]}); TURBINE_REUSE_PASSES=0 runs them again"
            )


def pytest_configure(config: pytest.Config) -> None:
    reuse = os.environ.get(REUSE_SETTING, "1") != "0"
    config.pluginmanager.register(PassCache(reuse), "turbine-pass-cache")
