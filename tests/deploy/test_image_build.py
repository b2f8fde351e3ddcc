"""The real image, built from the Dockerfile by buildah without a registry or a daemon, runs the operator's
command as its non-root user: `turbine-operator --version`, and `render` of the example (Turbine's templates
and Lambda sources come from the installed wheel). Slow (a Debian base by mmdebstrap, then the build): marker
image; `make test` runs it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from turbine_dev.tooling import image_build
from turbine_operator import __version__

from .support import REPO_ROOT

pytestmark = [pytest.mark.image, pytest.mark.timeout(3600)]

TAG = "localhost/turbine-operator:test"


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    image_build.ensure_tools()
    base = image_build.base_image()
    yield image_build.build(REPO_ROOT, TAG, {"PYTHON_IMAGE": base})
    image_build.buildah("rmi", TAG, check=False)


def test_the_image_runs_the_operator_command_as_its_non_root_user(image: str) -> None:
    who = image_build.run(image, ["id", "-u"])
    assert who.stdout.strip() == "10001", who.stderr
    version = image_build.run(image, ["turbine-operator", "--version"])
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"turbine-operator {__version__}"


def test_the_image_renders_the_example(image: str) -> None:
    render = image_build.run(
        image,
        ["turbine-operator", "render", "-f", "/tmp/turbine-stack.yaml"],
        files={"/tmp/turbine-stack.yaml": REPO_ROOT / "examples" / "turbine-stack.yaml"},
    )
    assert render.returncode == 0, render.stderr
    assert "stackName: t7-default-airflow" in render.stdout
    assert "masterTemplate:" in render.stdout
