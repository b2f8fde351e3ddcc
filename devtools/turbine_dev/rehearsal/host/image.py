"""The rehearsal's stand-in for the instance image: Airflow from the shipped lock, the AWS CLI,
and the operating-system commands that turbine_dev.rehearsal.host.standin stands in for.

Installs are cached under $XDG_CACHE_HOME/turbine-operator/rehearsal/ (~/.cache by default), keyed
by what they are built from (the lock's hash, and the bootstrap's pip command for Airflow), so only the
first run on a machine pays for them. Airflow is installed by the bootstrap's own pip command against the
rehearsal's package index (turbine_dev.rehearsal.services.package_index).
The Airflow venv is built at the path instances use (/opt/airflow/venv, bind-mounted in a private
mount namespace), because a venv's scripts name their interpreter by absolute path.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from turbine_dev.rehearsal.host import standin
from turbine_dev.rehearsal.services import package_index
from turbine_dev.tooling.caches import cache_dir
from turbine_operator.adapters.sources import cfn_dir

REPO_ROOT = Path(__file__).resolve().parents[4]
INSTANCE_PYTHON = "/usr/bin/python3.11"  # AL2023's python3.11; Debian's here
AWSCLI = "awscli==1.46.3"
VENV_PATH = "/opt/airflow/venv"
INSTALLED_WITH = "turbine-rehearsal-installed-with"  # in the venv: the command that installed it


def cache() -> Path:
    return cache_dir("rehearsal")


def shipped_lock() -> Path:
    """The lock the bootstrap installs (cfn/scripts/airflow-<version>.lock)."""
    locks = sorted((cfn_dir() / "scripts").glob("airflow-*.lock"))
    if len(locks) != 1:
        raise FileNotFoundError(f"expected one cfn/scripts/airflow-*.lock, found {[p.name for p in locks]}")
    return locks[0]


def uv() -> str:
    beside = Path(sys.executable).parent / "uv"
    found = str(beside) if beside.exists() else shutil.which("uv")
    if not found:
        raise FileNotFoundError("uv is missing: it is a dev dependency (make .venv/.installed)")
    return found


def airflow_venv(lock: Path) -> Path:
    """Airflow as the bootstrap installs it: its own pip command (read from the script), run with the
    instance's python against the rehearsal's package index of the lock's files. Built once per lock and
    command; instances then find every locked requirement satisfied."""
    command = package_index.bootstrap_pip_install(VENV_PATH, str(lock))
    # Keyed by the command as the script writes it, not by where this checkout keeps the lock.
    written = package_index.bootstrap_pip_install(VENV_PATH, "${AIRFLOW_LOCK}")
    key = hashlib.sha256(lock.read_bytes() + "\0".join(written).encode()).hexdigest()[:16]
    target = cache() / f"airflow-{key}"
    if target.is_dir():
        return target
    index = package_index.wheelhouse(lock, cache())
    building = target.with_name(target.name + ".building")
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir(parents=True)
    with package_index.serving(index, "127.0.0.1") as url:
        script = (
            f"set -e; mount -t tmpfs tmpfs /opt; mkdir -p {VENV_PATH}; mount --bind {building} {VENV_PATH};"
            f" {INSTANCE_PYTHON} -m venv {VENV_PATH}; {shlex.join(command)}"
        )
        # Only the index stands in for pypi.org: no pip configuration or cache of this machine takes part.
        pip = {"PIP_INDEX_URL": url, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"}
        subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "bash", "-c", script],
            check=True,
            env={**os.environ, **pip},
        )
    # As the script writes it: the venv is shared by checkouts that keep the lock elsewhere.
    (building / INSTALLED_WITH).write_text(shlex.join(written) + "\n")
    building.rename(target)
    return target


def awscli() -> Path:
    target = cache() / f"awscli-{AWSCLI.split('==')[1]}"
    if not (target / "bin" / "aws").exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([uv(), "venv", "--quiet", "--python", INSTANCE_PYTHON, str(target)], check=True)
        subprocess.run(
            [uv(), "pip", "install", "--quiet", "--python", str(target / "bin" / "python"), AWSCLI],
            check=True,
        )
    return target / "bin" / "aws"


# Where each instance's image holds the stand-in commands' code: inside the image, as on an AMI. Instances
# have a /tmp of their own (and a chroot), so a path into the checkout, which may be under the system
# temporary directory, is not there when a stand-in runs.
STANDIN_SCRIPT = "usr/local/lib/turbine-rehearsal/host/standin.py"


def write_standin_commands(upper: Path) -> None:
    """The wrappers of the OS commands stood in for, and the code they run (standard library only),
    written into an instance's upper layer: nothing they name lies outside the instance's image."""
    script = upper / STANDIN_SCRIPT
    script.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(standin.__file__), script)
    packages = "var/lib/rehearsal-packages"
    wrappers = {
        "usr/bin/systemctl": "systemctl",
        "usr/bin/dnf": "dnf",
        "usr/bin/yum": "dnf",
        "usr/local/sbin/codedeploy-agent-standin": "codedeploy-agent",
        # Installed only when the instance asks dnf for their package, as on AL2023.
        f"{packages}/aws-cfn-bootstrap/opt/aws/bin/cfn-signal": "cfn-signal",
        f"{packages}/aws-cfn-bootstrap/usr/bin/cfn-signal": "cfn-signal",
        f"{packages}/amazon-efs-utils/usr/sbin/mount.efs": "mount.efs",
    }
    for path, name in wrappers.items():
        wrapper = upper / path
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(f'#!/bin/sh\nexec {INSTANCE_PYTHON} /{STANDIN_SCRIPT} {name} "$@"\n')
        wrapper.chmod(0o755)


def write_standins(upper: Path) -> None:
    """The instance image's OS commands, written into an instance's upper layer before it boots."""
    write_standin_commands(upper)
    aws = upper / "usr/bin/aws"
    aws.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(awscli(), aws)
