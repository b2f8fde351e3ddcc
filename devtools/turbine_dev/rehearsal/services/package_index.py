"""The rehearsal's stand-in for PyPI: a simple index (PEP 503) of exactly the files the shipped lock pins.

On AWS the bootstrap installs Airflow from pypi.org with `pip install --no-deps --require-hashes
--only-binary :all: --requirement <lock>` (cfn/scripts/turbine-bootstrap.sh, install_airflow). Here that same
command, read from the script rather than restated, builds the image's Airflow against this index, and
every instance's pip is pointed at it (/etc/pip.conf) where on AWS it reaches pypi.org. So a flag the
bootstrap loses (the hashes, binaries only, no dependencies beyond the lock) or a lock that names a file
PyPI does not serve fails the rehearsal, where a venv built another way would hide it.

The files are downloaded once per lock from PyPI (the machine reaches the package registries) with the
same hash checking, and cached. The index follows PEP 503 (https://peps.python.org/pep-0503/): one page
per project under its normalized name, each file linked with its `#sha256=` digest.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import html
import http.server
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

from turbine_operator.adapters.sources import cfn_dir

BOOTSTRAP = "scripts/turbine-bootstrap.sh"
# The line of install_airflow that installs the lock, up to the end of its continuation lines.
_PIP_INSTALL = re.compile(
    r'^[ \t]*(?:retry \d+ \d+ )?("\$\{AIRFLOW_VENV\}/bin/pip" install(?:.*\\\n)*.*)$', re.M
)


def bootstrap_pip_install(venv: str, lock: str, script: Path | None = None) -> list[str]:
    """The bootstrap's own command that installs Airflow from the lock, with its venv and lock paths."""
    text = (script or cfn_dir() / BOOTSTRAP).read_text()
    found = _PIP_INSTALL.findall(text)
    if len(found) != 1:
        raise ValueError(f"expected one pip install of the lock in {BOOTSTRAP}, found {len(found)}")
    line = found[0].replace("\\\n", " ").replace("${AIRFLOW_VENV}", venv)
    if "$" in line.replace("${AIRFLOW_LOCK}", ""):
        raise ValueError(f"the bootstrap's pip install names a variable the rehearsal does not know: {line}")
    return [lock if word == "${AIRFLOW_LOCK}" else word for word in shlex.split(line)]


def normalized(project: str) -> str:
    """PEP 503's normalized name."""
    return re.sub(r"[-_.]+", "-", project).lower()


def write_simple_index(root: Path) -> None:
    """simple/ pages for the files in root/files: the project of a wheel is its name's first field."""
    projects: dict[str, list[tuple[str, str]]] = {}
    for path in sorted((root / "files").iterdir()):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        projects.setdefault(normalized(path.name.split("-", 1)[0]), []).append((path.name, digest))
    simple = root / "simple"
    shutil.rmtree(simple, ignore_errors=True)
    simple.mkdir()
    _page(simple / "index.html", "".join(f'<a href="{name}/">{name}</a>\n' for name in sorted(projects)))
    for project, files in projects.items():
        (simple / project).mkdir()
        links = "".join(
            f'<a href="../../files/{html.escape(name)}#sha256={digest}">{html.escape(name)}</a>\n'
            for name, digest in files
        )
        _page(simple / project / "index.html", links)


def _page(path: Path, links: str) -> None:
    path.write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")


def wheelhouse(lock: Path, cache: Path) -> Path:
    """The lock's files from PyPI and their simple index, built once per lock under `cache`."""
    key = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    target = cache / f"package-index-{key}"
    if (target / "simple" / "index.html").is_file():
        return target
    building = target.with_name(target.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    (building / "files").mkdir(parents=True)
    # The instances' platform is this machine's (x86_64 glibc, CPython 3.11), so pip picks their wheels.
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
         "--require-hashes", "--only-binary", ":all:", "--dest", str(building / "files"),
         "--requirement", str(lock)],
        check=True,
    )  # fmt: skip
    write_simple_index(building)
    shutil.rmtree(target, ignore_errors=True)
    building.rename(target)
    return target


class _Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Quiet: pip fetches hundreds of files."""


@contextlib.contextmanager
def serving(root: Path, host: str, port: int = 0) -> Iterator[str]:
    """Serves root's simple index at host:port (0: any free port); yields its URL, as pip's index-url."""
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer((host, port), handler)
    thread = threading.Thread(target=server.serve_forever, name="package-index", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()
