"""Reused passes: a slow suite that passed on exactly these inputs is not run again.

The suites that start real software (the chaos trials, the boot rehearsal, the integration and
deployment tests against the local control plane) take most of `make test`. Each is a group. What a
group's outcome depends on is derived, not listed: while its tests run, the files they and the Python
processes they start read are recorded (turbine_dev.tooling.read_tracking), with what the session read
before any test ran (conftests, plugins, the modules they import), less the test modules collected only for
other suites. Each read stands for its tree two levels down (cfn/scripts/, operator/turbine_operator/,
tests/stubbed/), because the programs a suite starts (bash, the Go binaries, the instances' Airflow)
read neighbours of what they were given that no audit event shows.

A group's record holds one run: the tests that all passed in it, the inputs it read and the key, a digest
of those inputs' contents, of the installed Python packages and of the TURBINE_* and CHAOS_* settings.
A later session skips the group's tests only when one record covers every one of them and its inputs still
digest to its key; passes of different runs are never merged. `make test` ends with what was reused
(`TURBINE_REUSE_PASSES=0` runs everything; CI sets it).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import pytest

from turbine_dev.tooling.caches import cache_dir
from turbine_dev.tooling.read_tracking import LOG_SETTING, REPO_ROOT, Reads, logged, track

REUSE_SETTING = "TURBINE_REUSE_PASSES"
GROUPS = ("tests/chaos/", "tests/rehearsal/", "tests/integration/", "tests/deploy/")
KEPT_RECORDS = 8  # per group: a branch switched back to finds its passes again
_TREE_DEPTH = 2


def _project_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return sorted({name for name in listed.decode().split("\0") if name})


def file_digests(files: Iterable[str], root: Path = REPO_ROOT) -> dict[str, str]:
    digests = {}
    for name in files:
        path = root / name
        if path.is_file():  # not: deleted but still in the index
            digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def _environment() -> bytes:
    """The interpreter, the installed packages and the settings the tests read from the environment."""
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    settings = sorted(
        f"{name}={value}"
        for name, value in os.environ.items()
        if name.startswith(("TURBINE_", "CHAOS_")) and name not in (REUSE_SETTING, LOG_SETTING)
    )
    return "\n".join([sys.version, *packages, *settings]).encode()


def tree_of(path: str, root: Path = REPO_ROOT) -> str:
    """What a read stands for: its tree two levels down, or the file itself nearer the root. A listed
    directory stands for everything in it (a file added there may change what the suite does)."""
    parts = path.split("/")
    if len(parts) > _TREE_DEPTH:
        return "/".join(parts[:_TREE_DEPTH]) + "/"
    return f"{path}/" if (root / path).is_dir() else path


def inputs_of(
    reads: Iterable[str], collected_only: Iterable[str], known: Iterable[str], root: Path = REPO_ROOT
) -> tuple[str, ...]:
    """A group's inputs from what it read: `collected_only` are files read only to collect other suites;
    trees that hold none of the `known` project files (a virtualenv inside the checkout) are left out."""
    skipped, files = set(collected_only), sorted(known)
    trees = {tree_of(path, root) for path in reads if path not in skipped}
    return tuple(sorted(tree for tree in trees if any(_within(name, (tree,)) for name in files)))


def _within(name: str, inputs: tuple[str, ...]) -> bool:
    return name in inputs or name.startswith(tuple(entry for entry in inputs if entry.endswith("/")))


def group_key(group: str, inputs: Iterable[str], digests: Mapping[str, str], environment: bytes) -> str:
    wanted = tuple(inputs)
    digest = hashlib.sha256(group.encode() + b"\0" + environment + b"\0" + "\n".join(wanted).encode())
    for name, content in sorted(digests.items()):
        if _within(name, wanted):
            digest.update(f"{name}\0{content}\n".encode())
    return digest.hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class Record:
    """One run of a group in which every test it ran passed."""

    key: str
    inputs: tuple[str, ...]
    passed: frozenset[str]
    time: str

    def covers(self, nodeids: Iterable[str]) -> bool:
        return set(nodeids) <= self.passed


def group_of_path(relative: str) -> str | None:
    return next((group for group in GROUPS if relative.startswith(group)), None)


def group_of(item: pytest.Item) -> str | None:
    path = Path(str(item.path)).resolve()
    if not path.is_relative_to(REPO_ROOT):
        return None
    return group_of_path(path.relative_to(REPO_ROOT).as_posix())


def _records_file(group: str) -> Path:
    return cache_dir("passes") / f"{group.strip('/').replace('/', '-')}.json"


def load_records(path: Path) -> list[Record]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return [
        Record(entry["key"], tuple(entry["inputs"]), frozenset(entry["passed"]), entry["time"])
        for entry in raw
        if isinstance(entry, dict)
    ]


def save_record(path: Path, record: Record) -> None:
    kept = [old for old in load_records(path) if old.key != record.key][-(KEPT_RECORDS - 1) :]
    entries = [
        {"key": r.key, "inputs": list(r.inputs), "passed": sorted(r.passed), "time": r.time}
        for r in [*kept, record]
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entries, indent=1))


def reusable(
    records: Iterable[Record], nodeids: Iterable[str], key_of: Mapping[tuple[str, ...], str]
) -> Record | None:
    """The newest record whose inputs still digest to its key and whose one run passed all these tests."""
    wanted = list(nodeids)
    for record in reversed(list(records)):
        if key_of.get(record.inputs) == record.key and record.covers(wanted):
            return record
    return None


def passed_in_one_run(ran: Iterable[str], passed: set[str], failed: set[str]) -> frozenset[str] | None:
    """The group's passes, if every test of it that ran in this session passed; else None."""
    ran = set(ran)
    if not ran or ran & failed or not ran <= passed:
        return None
    return frozenset(ran)


class PassCache:
    def __init__(self, reuse: bool, reads: Reads) -> None:
        self.reuse = reuse
        self.reads = reads
        self.digests: dict[str, str] = {}
        self.environment = b""
        self.ran: dict[str, list[str]] = {}
        self.collected_only: dict[str, set[str]] = {}
        self.failed: set[str] = set()
        self.passed: set[str] = set()
        self.reused: dict[str, tuple[int, Record]] = {}
        self.recorded: dict[str, Record] = {}
        self._logs = Path(tempfile.mkdtemp(prefix="turbine-reads-"))

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        grouped: dict[str, list[pytest.Item]] = {}
        for item in items:
            if group := group_of(item):
                grouped.setdefault(group, []).append(item)
        if not grouped:
            return
        with self.reads.ignored():
            self.digests, self.environment = file_digests(_project_files()), _environment()
        modules = {_relative(item.path) for item in items}
        for group in grouped:
            # Test modules (and their conftests) of other suites are read only to be collected.
            self.collected_only[group] = {
                path for path in modules | _conftests(modules) if path and not path.startswith(group)
            }
        dropped: list[pytest.Item] = []
        if self.reuse:
            for group, members in grouped.items():
                records = load_records(_records_file(group))
                keys = {r.inputs: group_key(group, r.inputs, self.digests, self.environment) for r in records}
                record = reusable(records, [item.nodeid for item in members], keys)
                if record is not None:
                    dropped.extend(members)
                    self.reused[group] = (len(members), record)
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            gone = set(map(id, dropped))
            items[:] = [item for item in items if id(item) not in gone]
        for item in items:
            if group := group_of(item):
                self.ran.setdefault(group, []).append(item.nodeid)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        group = group_of(item)
        with self._reading_for(group):
            return (yield)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed or report.skipped:
            self.failed.add(report.nodeid)  # a skipped test did not pass either
        elif report.when == "call" and report.passed:
            self.passed.add(report.nodeid)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        for group, ran in self.ran.items():
            passed = passed_in_one_run(ran, self.passed, self.failed)
            if passed is None:
                continue
            reads = self.reads.paths.get(None, set()) | self.reads.paths.get(group, set())
            reads |= logged(self._log(group))
            inputs = inputs_of(reads, self.collected_only.get(group, ()), self.digests)
            record = Record(group_key(group, inputs, self.digests, self.environment), inputs, passed, now)
            save_record(_records_file(group), record)
            self.recorded[group] = record
        shutil.rmtree(self._logs, ignore_errors=True)

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not (self.reused or self.recorded):
            return
        terminalreporter.section("reused passes")
        for group, (count, record) in sorted(self.reused.items()):
            terminalreporter.write_line(
                f"{group}: {count} tests not run, all passed in one run at {record.time} on these exact "
                f"inputs (key {record.key}: {', '.join(record.inputs)})"
            )
        for group, record in sorted(self.recorded.items()):
            terminalreporter.write_line(
                f"{group}: {len(record.passed)} passes recorded under key {record.key} "
                f"({len(record.inputs)} inputs read)"
            )
        if self.reused:
            terminalreporter.write_line(f"{REUSE_SETTING}=0 runs them again")

    def _log(self, group: str) -> Path:
        return self._logs / f"{group.strip('/').replace('/', '-')}.log"

    def _reading_for(self, group: str | None) -> _Attribution:
        return _Attribution(self, group)


class _Attribution:
    """While one test runs: its reads, and those of the processes it starts, count for its group."""

    def __init__(self, cache: PassCache, group: str | None) -> None:
        self.cache, self.group = cache, group

    def __enter__(self) -> None:
        self.cache.reads.current = self.group or ""  # "": a test of no group, whose reads count for none
        if self.group:
            os.environ[LOG_SETTING] = str(self.cache._log(self.group))

    def __exit__(self, *_: object) -> None:
        self.cache.reads.current = ""
        os.environ.pop(LOG_SETTING, None)


def _relative(path: object) -> str | None:
    resolved = Path(str(path)).resolve()
    return resolved.relative_to(REPO_ROOT).as_posix() if resolved.is_relative_to(REPO_ROOT) else None


def _conftests(modules: Iterable[str | None]) -> set[str]:
    return {f"{Path(module).parent.as_posix()}/conftest.py" for module in modules if module}


def pytest_configure(config: pytest.Config) -> None:
    reads = Reads()
    track(reads)
    # Read before any plugin was configured: pytest's own settings (pythonpath, markers, timeout).
    reads.hook("open", (config.inipath,))
    reuse = os.environ.get(REUSE_SETTING, "1") != "0"
    config.pluginmanager.register(PassCache(reuse, reads), "turbine-pass-cache")
