"""Which project files a process reads, from Python's audit events: opened files (imported modules
included, as source or bytecode), listed directories and the paths handed to programs it starts.

The test session tracks itself, attributing each read to the suite whose test is running
(`Reads.current`); a child that imports turbine_dev (`python -m turbine_dev.rehearsal`, the embedded AWS)
tracks itself when TURBINE_READS_LOG names a file, appending each new path to it as it goes (a child
that is killed still leaves what it read). Programs that are not Python (bash, the Go binaries, Airflow's
own interpreter) are seen only through the paths they were given, which pass_cache widens to their trees.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOG_SETTING = "TURBINE_READS_LOG"
REPO_ROOT = Path(__file__).resolve().parents[3]
_ROOT = f"{REPO_ROOT}{os.sep}"
_LISTING_EVENTS = frozenset({"os.listdir", "os.scandir"})
_PROGRAM_EVENTS = frozenset({"subprocess.Popen", "os.exec", "os.posix_spawn"})


def project_path(value: object, cwd: str | None = None) -> str | None:
    """The project-relative path a value names (a str, bytes or os.PathLike), or None if it names none."""
    if isinstance(value, bytes):
        value = os.fsdecode(value)
    elif isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value or "\0" in value:
        return None
    absolute = os.path.normpath(os.path.join(cwd or os.getcwd(), value))
    if not absolute.startswith(_ROOT):
        return None
    relative = absolute[len(_ROOT) :].replace(os.sep, "/")
    parent, _, name = relative.rpartition("/__pycache__/")
    if parent and name.endswith(".pyc"):  # bytecode stands for its source: name.cpython-311.pyc
        relative = f"{parent}/{name.split('.')[0]}.py"
    return None if relative.startswith(".git/") else relative


class Reads:
    """The project paths read, by suite (None: read outside any suite's tests, at start-up and collection)."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.paths: dict[str | None, set[str]] = {}
        self._lock = threading.Lock()
        self._log: Any = None

    def hook(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            self._add(args[0] if args else None)
        elif event in _LISTING_EVENTS:
            # Collecting lists every test directory; only a test's own listings say what it depends on.
            if self.current is not None:
                self._add(args[0] if args else None)
        elif event in _PROGRAM_EVENTS and len(args) > 1:
            arguments = args[1] if isinstance(args[1], list | tuple) else [args[1]]
            cwd = args[2] if event == "subprocess.Popen" and len(args) > 2 else None
            where = os.fsdecode(cwd) if isinstance(cwd, str | bytes | os.PathLike) else None
            for argument in [args[0], *arguments]:
                self._add(argument, where)

    def _add(self, value: object, cwd: str | None = None) -> None:
        try:
            path = project_path(value, cwd)
        except (OSError, ValueError):  # a path that cannot be decoded, or no working directory left
            return
        if path is None:
            return
        with self._lock:
            seen = self.paths.setdefault(self.current, set())
            if path in seen:
                return
            seen.add(path)
            if self._log is not None:
                self._log.write(f"{path}\n")

    @contextlib.contextmanager
    def ignored(self) -> Iterator[None]:
        """Reads that are no suite's (the pass cache digesting every project file)."""
        before, self.current = self.current, ""
        try:
            yield
        finally:
            self.current = before

    def log_to(self, log: Path) -> None:
        """Appends every new path to `log` as well (line-buffered: a killed process loses nothing)."""
        self._log = log.open("a", buffering=1, encoding="utf-8")


def track(reads: Reads) -> None:
    """Audit hooks cannot be removed: tracking lasts as long as the process. The modules imported before
    it started (turbine_dev's own, at least) count as read."""
    sys.addaudithook(reads.hook)
    for module in list(sys.modules.values()):
        reads.hook("open", (getattr(module, "__file__", None),))


def logged(log: Path) -> set[str]:
    return set(log.read_text(encoding="utf-8").splitlines()) if log.is_file() else set()


def track_child() -> None:
    """Called when turbine_dev is imported: a child of a tracked session tracks itself."""
    log = os.environ.get(LOG_SETTING)
    if not log:
        return
    reads = Reads()
    reads.log_to(Path(log))
    track(reads)
