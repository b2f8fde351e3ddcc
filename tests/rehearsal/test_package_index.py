"""The rehearsal's stand-in for PyPI (turbine_dev.rehearsal.services.package_index): the bootstrap's own pip
command, read from the script, and a simple index pip installs from with the hashes checked."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from turbine_dev.rehearsal.services.package_index import bootstrap_pip_install, serving, write_simple_index

BOOTSTRAP = Path(__file__).resolve().parents[2] / "cfn" / "scripts" / "turbine-bootstrap.sh"


def test_the_bootstrap_installs_only_the_locked_wheels_by_hash() -> None:
    command = bootstrap_pip_install("/opt/airflow/venv", "/lock")

    assert command[:2] == ["/opt/airflow/venv/bin/pip", "install"]
    assert {"--no-deps", "--require-hashes"} <= set(command)
    assert command[command.index("--only-binary") + 1] == ":all:"
    assert command[command.index("--requirement") + 1] == "/lock"


def test_a_bootstrap_without_its_pip_install_is_refused(tmp_path: Path) -> None:
    script = tmp_path / "bootstrap.sh"
    script.write_text(BOOTSTRAP.read_text().replace('"${AIRFLOW_VENV}/bin/pip" install', "uv pip install"))
    with pytest.raises(ValueError, match="expected one pip install"):
        bootstrap_pip_install("/venv", "/lock", script)


def _wheel(files: Path, name: str, version: str) -> Path:
    """A minimal pure-Python wheel (PEP 427): one module, its metadata and RECORD."""
    dist = f"{name}-{version}"
    path = files / f"{dist}-py3-none-any.whl"
    contents = {
        f"{name}.py": b"VALUE = 1\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = [
        f"{arcname},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}"
        for arcname, data in contents.items()
    ]
    contents[f"{dist}.dist-info/RECORD"] = (
        "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    ).encode()
    with zipfile.ZipFile(path, "w") as wheel:
        for arcname, data in contents.items():
            wheel.writestr(arcname, data)
    return path


@pytest.mark.parametrize("matching", [True, False], ids=["hash-of-the-lock", "another-hash"])
def test_pip_installs_from_the_index_only_what_the_lock_hashes(tmp_path: Path, matching: bool) -> None:
    (tmp_path / "files").mkdir()
    wheel = _wheel(tmp_path / "files", "turbine_probe", "1.0")
    write_simple_index(tmp_path)
    digest = hashlib.sha256(wheel.read_bytes() if matching else b"another file").hexdigest()
    lock = tmp_path / "lock.txt"
    lock.write_text(f"turbine-probe==1.0 --hash=sha256:{digest}\n")
    command = bootstrap_pip_install(str(tmp_path / "venv"), str(lock))
    # The bootstrap's command, run by this interpreter's pip into a target folder instead of a new venv.
    arguments = [*command[2:], "--target", str(tmp_path / "installed"), "--disable-pip-version-check"]

    with serving(tmp_path, "127.0.0.1") as url:
        installed = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--index-url", url, "--no-cache-dir", *arguments],
            capture_output=True,
            text=True,
            check=False,
        )

    assert (installed.returncode == 0) is matching, installed.stderr
    assert (tmp_path / "installed" / "turbine_probe.py").exists() is matching
    if not matching:
        assert "DO NOT MATCH THE HASHES" in installed.stderr
