"""The Dockerfile, checked as far as this machine allows (Docker Hub is not reachable, so no image is built).

Checked here: hadolint; the multi-stage layout, non-root user, entrypoint and environment; that everything the
Dockerfile copies exists; that the wheel built from exactly those files holds the package and the
`turbine-operator` console script; and that the installed wheel finds Turbine's templates and Lambda sources
through TURBINE_CFN_DIR and TURBINE_LAMBDAS_DIR, as set in the image.
Not checked: that the base image exists and builds, the image's size and contents, running it as uid 10001.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from .support import REPO_ROOT, tool

DOCKERFILE = REPO_ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def stages() -> list[list[tuple[str, str]]]:
    result: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            result.append([])
        if result:
            result[-1].append((keyword, rest))
    return result


def test_hadolint_passes() -> None:
    done = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_final_stage_runs_the_operator_as_non_root_without_build_tools() -> None:
    build, final = stages()
    assert build[0][1].endswith(" AS build")
    assert final[0] == ("FROM", "${PYTHON_IMAGE}"), "both stages share one base, so the virtualenv runs"
    final_keywords = dict(final)
    assert json.loads(final_keywords["ENTRYPOINT"]) == ["turbine-operator", "run"]
    assert json.loads(final_keywords["CMD"]) == ["--all-namespaces", "--liveness=http://0.0.0.0:8080/healthz"]
    user = final_keywords["USER"].split(":", maxsplit=1)[0]
    assert user.isdigit(), "USER must be a numeric uid: runAsNonRoot can only verify numeric users"
    assert int(user) != 0
    assert user == "10001", "the Deployment's runAsUser"
    # Only the build stage sees the sources and builds; the final stage gets the finished virtualenv.
    final_text = " ".join(rest for _, rest in final)
    assert "pip wheel" not in final_text
    assert "pip install" not in final_text
    assert not re.search(r"\b(gcc|build-essential|apt-get install)\b", final_text)
    assert "pip uninstall" in final_text, "no pip in the final image"
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert "--from=build /opt/venv /opt/venv" in copies
    assert not any(" operator" in copy or "pyproject" in copy for copy in copies)


def test_the_image_installs_the_dependency_versions_the_tests_passed_with() -> None:
    build = stages()[0]
    copied = {rest.split()[0]: rest.split()[-1] for keyword, rest in build if keyword == "COPY"}
    assert copied.get("devtools/constraints.txt") == "./", "the build stage copies the lock"
    (install,) = [rest for keyword, rest in build if keyword == "RUN" and "pip install" in rest]
    assert "--constraint constraints.txt" in install


def test_copied_files_exist_and_env_points_at_them() -> None:
    env: dict[str, str] = {}
    for stage in stages():
        for keyword, rest in stage:
            if keyword == "COPY" and not rest.startswith("--from"):
                *sources, _target = rest.split()
                for source in sources:
                    assert (REPO_ROOT / source).exists(), f"COPY {source}: missing"
            if keyword == "ENV":
                env.update(dict(re.findall(r"(\w+)=(\S+)", rest)))
    final_copies = {rest.split()[-1]: rest.split()[0] for keyword, rest in stages()[-1] if keyword == "COPY"}
    assert final_copies[env["TURBINE_CFN_DIR"]] == "cfn"
    assert final_copies[env["TURBINE_LAMBDAS_DIR"]] == "lambdas"
    assert env["PATH"].startswith("/opt/venv/bin")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the files the build stage copies, in a scratch copy (setuptools writes build/)."""
    context = tmp_path_factory.mktemp("docker-context")
    for keyword, rest in stages()[0]:
        if keyword == "COPY":
            *sources, _target = rest.split()
            for source in sources:
                origin = REPO_ROOT / source
                if origin.is_dir():
                    shutil.copytree(
                        origin, context / source, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
                    )
                else:
                    (context / source).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, context / source)
    out = tmp_path_factory.mktemp("wheels")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(out), "."],
        cwd=context,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (built,) = out.glob("turbine_operator-*.whl")
    return built


def test_wheel_holds_the_package_and_the_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert "turbine_operator/cli.py" in names
    assert "turbine_operator/main.py" in names
    assert "turbine_operator/py.typed" in names
    assert re.search(r"^turbine-operator = turbine_operator\.cli:main$", scripts, re.MULTILINE), scripts
    assert not [name for name in names if name.startswith(("cfn/", "lambdas/", "tests/", "devtools/"))]


def test_installed_wheel_finds_turbine_sources_through_the_image_environment(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    image_root = tmp_path / "opt" / "turbine"  # the image's /opt/turbine
    shutil.copytree(REPO_ROOT / "cfn", image_root / "cfn")
    shutil.copytree(
        REPO_ROOT / "lambdas", image_root / "lambdas", ignore=shutil.ignore_patterns("__pycache__")
    )
    probe = (
        "import turbine_operator, sys\n"
        "from turbine_operator.adapters.sources import load_turbine_sources\n"
        "sources = load_turbine_sources()\n"
        "print(turbine_operator.__file__)\n"
        "print(len(sources.templates), len(sources.lambda_modules))\n"
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith("TURBINE_")}
    environment["PYTHONPATH"] = str(site)  # ahead of the editable install of the working tree
    with_env = {
        **environment,
        "TURBINE_CFN_DIR": str(image_root / "cfn"),
        "TURBINE_LAMBDAS_DIR": str(image_root / "lambdas"),
    }
    done = subprocess.run(
        [sys.executable, "-c", probe], env=with_env, capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    location, counts = done.stdout.splitlines()
    assert location.startswith(str(site)), "the installed wheel, not the working tree, was imported"
    templates, lambdas = map(int, counts.split())
    assert templates > 0
    assert lambdas > 0

    # Without the variables the installed layout has no cfn/ next to the package: the image must set them.
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode != 0
    assert "FileNotFoundError" in done.stderr

    # `turbine-operator render` (the console script's code path) works in that layout too.
    render = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from turbine_operator.cli import main; sys.exit(main(sys.argv[1:]))",
            "render",
            "-f",
            str(REPO_ROOT / "examples" / "turbine-stack.yaml"),
        ],
        env=with_env,
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert render.returncode == 0, render.stderr
    assert "stackName: default-airflow" in render.stdout
