"""The Dockerfile and the wheel it installs, without a registry or a container engine.

Checked here: hadolint; the multi-stage layout, non-root user, entrypoint and environment; that every source
the Dockerfile copies is in the build context (.dockerignore applied as Docker applies it); that the wheel
built from exactly those files holds the package, Turbine's templates and Lambda sources, the LICENSE and the
`turbine-operator` console script; and that the wheel installed into a fresh virtualenv renders the example
from outside the checkout. tests/deploy/test_image_build.py builds and runs the real image (marker image).
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

from turbine_dev.tooling.build_context import context_files, excluded, parse_ignore

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


def copied_sources() -> list[str]:
    """Every source of a COPY or ADD from the build context (not --from another stage)."""
    sources = []
    for stage in stages():
        for keyword, rest in stage:
            if keyword in {"COPY", "ADD"} and not rest.startswith("--from"):
                *named, _target = [word for word in rest.split() if not word.startswith("--")]
                sources += named
    return sources


def in_context(source: str, context: list[str]) -> list[str]:
    """The context's files a COPY of `source` takes: the file itself or everything under the folder."""
    source = source.rstrip("/")
    return [name for name in context if name == source or name.startswith(source + "/")]


def test_every_copied_source_is_in_the_build_context() -> None:
    # A build sends the repository minus .dockerignore: a source the Dockerfile copies but .dockerignore
    # leaves out fails the build ("not found"), though it exists in the checkout.
    context = context_files(REPO_ROOT)
    for source in copied_sources():
        assert in_context(source, context), f"COPY {source}: not in the build context (see .dockerignore)"
    assert not [name for name in context if name.startswith(("tests/", "bench/", ".git/"))]


def test_dockerignore_rules_are_applied_as_docker_applies_them() -> None:
    rules = parse_ignore("# comment\n*/temp*\n**/*.pyc\ndevtools\n!devtools/keep.txt\n/docs/\n")
    assert excluded("somedir/temporary.txt", rules)
    assert not excluded("temporary.txt", rules), "* does not cross /"
    assert excluded("a/b/c.pyc", rules)
    assert excluded("c.pyc", rules), "**/ matches no folder too"
    assert excluded("devtools/turbine_dev/runs/demo.py", rules), "a folder excludes what it holds"
    assert not excluded("devtools/keep.txt", rules), "the last matching line decides"
    assert excluded("docs/index.md", rules), "a leading / and a trailing / are cleaned away"


def test_the_final_stage_takes_only_the_virtualenv() -> None:
    # cfn/ and lambdas/ are package data of the wheel: the runtime stage needs no copy of them, nor a
    # variable pointing at one.
    final = stages()[-1]
    copies = [rest for keyword, rest in final if keyword in {"COPY", "ADD"}]
    assert copies == ["--from=build /opt/venv /opt/venv"]
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(rest for keyword, rest in final if keyword == "ENV")))
    assert env["PATH"].startswith("/opt/venv/bin")
    assert not {"TURBINE_CFN_DIR", "TURBINE_LAMBDAS_DIR"} & set(env)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the build context's files the build stage copies, in a scratch copy (setuptools
    writes build/)."""
    context = tmp_path_factory.mktemp("docker-context")
    files = context_files(REPO_ROOT)
    build_sources = [
        source for keyword, rest in stages()[0] if keyword == "COPY" for source in rest.split()[:-1]
    ]
    for source in build_sources:
        for name in in_context(source, files):
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, context / name)
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


def test_wheel_holds_the_package_turbine_sources_license_and_console_script(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    assert "turbine_operator/cli.py" in names
    assert "turbine_operator/main.py" in names
    assert "turbine_operator/py.typed" in names
    assert re.search(r"^turbine-operator = turbine_operator\.cli:main$", scripts, re.MULTILINE), scripts
    assert not [name for name in names if name.startswith(("cfn/", "lambdas/", "tests/", "devtools/"))]
    # Every file of cfn/ and lambdas/ a fresh clone holds, under the package (adapters/sources.py).
    shipped = {
        name.removeprefix("turbine_operator/bundled/")
        for name in names
        if name.startswith("turbine_operator/bundled/")
    }
    tracked = {
        name
        for name in context_files(REPO_ROOT)
        if name.startswith(("cfn/", "lambdas/")) and "__pycache__" not in name
    }
    assert tracked <= shipped, sorted(tracked - shipped)
    # Every package of operator/ (pyproject.toml lists them for setuptools, which maps cfn/ and lambdas/).
    packages = {
        path.parent.relative_to(REPO_ROOT / "operator").as_posix()
        for path in (REPO_ROOT / "operator").rglob("__init__.py")
        if "egg-info" not in str(path)
    }
    assert {f"{package}/__init__.py" for package in packages} <= set(names)
    assert [name for name in names if name.endswith(".dist-info/licenses/LICENSE")], names


def test_installed_wheel_renders_the_example_from_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    """The wheel in a fresh virtualenv (its dependencies from this one's, no TURBINE_* variables), run from
    a folder outside the checkout: `turbine-operator render` finds Turbine's sources in the package."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # The dependencies only: a path line in a .pth file adds the folder without running its own .pth files
    # (this venv's editable install of the checkout is one).
    dependencies = next(Path(p) for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    (site / "dependencies.pth").write_text(f"{dependencies}\n")
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TURBINE_") and key not in {"PYTHONPATH", "VIRTUAL_ENV"}
    }
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    manifest = outside / "stack.yaml"
    shutil.copyfile(REPO_ROOT / "examples" / "turbine-stack.yaml", manifest)
    where = subprocess.run(
        [str(python), "-c", "import turbine_operator; print(turbine_operator.__file__)"],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        cwd=outside,
    ).stdout
    assert where.startswith(str(site)), "the installed wheel, not the checkout, was imported"
    render = subprocess.run(
        [str(venv / "bin" / "turbine-operator"), "render", "-f", str(manifest)],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        cwd=outside,
    )
    assert render.returncode == 0, render.stderr
    assert "stackName: t7-default-airflow" in render.stdout
