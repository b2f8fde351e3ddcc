"""Python tools whose pins would clash with the project's own dependencies, each in a venv of its own.

checkov pins urllib3 to 1.26, while the operator runs on urllib3 2 (kubernetes, botocore): installed
into the project's venv it would test the operator on libraries it never ships with. So checkov gets
a venv of its own, made with uv from PyPI and cached by version next to the Go-built tools.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from pathlib import Path

from turbine_dev.tooling.caches import cache_dir

CHECKOV_VERSION = "3.2.459"


def tools_root() -> Path:
    return cache_dir("python-tools")


def ensure_checkov() -> Path:
    """The checkov executable, installed on first use."""
    venv = tools_root() / f"checkov-{CHECKOV_VERSION}"
    complete = venv / ".complete"
    venv.parent.mkdir(parents=True, exist_ok=True)
    # Scripts in a venv name its path, so it is built in place, one build at a time.
    with (venv.parent / f"{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not complete.exists():
            shutil.rmtree(venv, ignore_errors=True)
            uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
            subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
            python = str(venv / "bin" / "python")
            install = [uv, "pip", "install", "--quiet", "--python", python, f"checkov=={CHECKOV_VERSION}"]
            subprocess.run(install, check=True)
            complete.touch()
    return venv / "bin" / "checkov"
