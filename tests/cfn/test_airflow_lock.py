"""The Airflow lock the instances install: complete, hashed, and the version the bootstrap pins."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version
from turbine_templates import REPO_ROOT, SCRIPTS_DIR

BOOTSTRAP = SCRIPTS_DIR / "turbine-bootstrap.sh"
REQUIREMENTS_IN = REPO_ROOT / "cfn" / "airflow" / "requirements.in"
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+) \\$")
_HASH = re.compile(r"^ +--hash=sha256:[0-9a-f]{64}( \\)?$")


def bootstrap_airflow_version() -> str:
    match = re.search(r"^readonly AIRFLOW_VERSION=(\S+)$", BOOTSTRAP.read_text(), re.MULTILINE)
    assert match, "turbine-bootstrap.sh pins no AIRFLOW_VERSION"
    return match[1]


def lock_file() -> Path:
    return SCRIPTS_DIR / f"airflow-{bootstrap_airflow_version()}.lock"


def locked_versions() -> dict[str, Version]:
    """Name -> version of every pin; fails on a pin without hashes or on anything unexpected."""
    pins: dict[str, Version] = {}
    current: str | None = None
    hashes = 0
    for line in lock_file().read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if match := _PIN.match(line):
            assert current is None or hashes, f"{current} has no hash"
            current, hashes = match["name"].lower().replace("_", "-"), 0
            pins[current] = Version(match["version"])
        elif _HASH.match(line):
            assert current is not None, line
            hashes += 1
        else:
            raise AssertionError(f"unexpected line in {lock_file().name}: {line!r}")
    assert current is None or hashes, f"{current} has no hash"
    return pins


def test_the_bootstrap_installs_the_lock_of_its_airflow_version_with_hashes() -> None:
    text = BOOTSTRAP.read_text()
    assert lock_file().is_file(), f"run `make lock`: {lock_file().name} is missing"
    assert 'AIRFLOW_LOCK="${TURBINE_DIR}/airflow-${AIRFLOW_VERSION}.lock"' in text
    assert "--require-hashes" in text
    assert "--no-deps" in text  # the lock is complete; nothing is resolved on the instance
    assert "githubusercontent" not in text
    assert "--constraint" not in text


def test_the_lock_pins_the_airflow_the_bootstrap_and_the_input_name() -> None:
    version = Version(bootstrap_airflow_version())
    pins = locked_versions()
    assert pins["apache-airflow"] == version
    assert pins["apache-airflow-core"] == version
    inputs = [
        Requirement(line)
        for line in REQUIREMENTS_IN.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    [airflow] = [requirement for requirement in inputs if requirement.name == "apache-airflow"]
    assert str(airflow.specifier) == f"=={version}"
    assert airflow.extras == {"celery", "amazon", "postgres", "fab"}
    # Every input requirement is satisfied by the lock, extras included (celery provider, SQS transport).
    for requirement in inputs:
        assert requirement.name in pins, requirement
        assert requirement.specifier.contains(pins[requirement.name]), requirement
    for provider in ("celery", "amazon", "postgres", "fab"):
        assert f"apache-airflow-providers-{provider}" in pins
    assert "pycurl" in pins  # kombu[sqs]
    assert "boto3" in pins  # the DynamoDB result backend and the S3 remote logs


def test_celery_stays_below_the_release_that_breaks_the_celery_provider() -> None:
    # celery 5.7 removed celery.backends.database.retry, which the Celery provider 3.26 imports.
    assert locked_versions()["celery"] < Version("5.7")


def test_the_lock_was_generated_for_the_instances_python() -> None:
    assert "#    make lock" in lock_file().read_text()
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "--python-version 3.11 --python-platform x86_64-manylinux_2_34" in makefile
    assert "readonly PYTHON=python3.11" in BOOTSTRAP.read_text()
