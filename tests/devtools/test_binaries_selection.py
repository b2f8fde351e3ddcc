"""`make demo` builds only what the demo runs; `make test` builds every Go tool the tests use.

Cold on a 2-core machine the tools the demo never starts (promtool, helm, kstatus, kube-controller-manager)
took about ten of `make demo`'s eighteen minutes.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from turbine_dev.k8s import binaries

REPO_ROOT = Path(__file__).resolve().parents[2]


def builds_asked_by(target: str) -> list[list[str]]:
    """The arguments of each `python -m turbine_dev.k8s.binaries` `make TARGET` would run (make -n: printed,
    not run; -B: as on a fresh clone, where nothing is built yet)."""
    printed = subprocess.run(
        ["make", "-n", "-B", target], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout
    asked = []
    for line in printed.splitlines():
        if "turbine_dev." not in line:  # only the commands that build or run; recipes may hold shell code
            continue
        words = shlex.split(line)
        if "turbine_dev.k8s.binaries" in words:
            asked.append(words[words.index("turbine_dev.k8s.binaries") + 1 :])
        assert "turbine_dev.runs.demo" not in words or target == "demo"
    return asked


def test_make_demo_builds_only_the_control_plane() -> None:
    (arguments,) = builds_asked_by("demo")
    assert set(binaries.chosen(arguments)) == {"kube-apiserver"}, "kube-apiserver and etcd are one build"


def test_make_test_builds_every_tool() -> None:
    (arguments,) = builds_asked_by("test")
    assert binaries.chosen(arguments) == [name for name in binaries.BUILDERS if name != "etcd"]


def test_main_runs_only_the_builders_named(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []
    monkeypatch.setattr(
        binaries, "BUILDERS", {name: (lambda name=name: ran.append(name)) for name in binaries.BUILDERS}
    )
    monkeypatch.setattr(binaries, "_go_env", lambda _name: "go0")
    binaries.main(["etcd", "helm"])
    assert ran == ["etcd", "helm"]
    with pytest.raises(SystemExit, match="unknown binaries promtol"):
        binaries.main(["promtol"])
