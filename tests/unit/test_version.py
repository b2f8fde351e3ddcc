"""The version is written once, in turbine_operator.__version__ (pyproject.toml reads it from there); what
cannot read it (the chart, the kustomizations' image tag, the Flux example's git tag, the commands of the
README and docs/) names the same version."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from turbine_operator import __version__

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_package_version_is_read_from_the_module() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "turbine_operator.__version__"}


def test_every_other_copy_names_the_same_version() -> None:
    chart = yaml.safe_load((REPO_ROOT / "charts" / "turbine-operator" / "Chart.yaml").read_text())
    assert (chart["version"], chart["appVersion"]) == (__version__, __version__)
    for kustomization in ("manifests/base", "manifests/examples/shards"):
        images = yaml.safe_load((REPO_ROOT / kustomization / "kustomization.yaml").read_text())["images"]
        assert {image["newTag"] for image in images} == {__version__}, kustomization
    flux = list(yaml.safe_load_all((REPO_ROOT / "manifests" / "flux" / "turbine.yaml").read_text()))
    tags = {doc["spec"]["ref"]["tag"] for doc in flux if doc and doc["kind"] == "GitRepository"}
    assert f"v{__version__}" in tags
    readme = (REPO_ROOT / "README.md").read_text()
    assert set(re.findall(r"turbine-operator:(\d+\.\d+\.\d+)", readme)) == {__version__}
    for page in sorted((REPO_ROOT / "docs").glob("*.md")):  # the quickstart's image tags
        assert set(re.findall(r"turbine-operator:(\d+\.\d+\.\d+)", page.read_text())) <= {__version__}, page
