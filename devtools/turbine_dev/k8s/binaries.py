"""Builds kube-apiserver and etcd (and the Go tools the tests use) from their Go modules into a cache keyed
by versions.

The Kubernetes module cannot be `go install`-ed directly (its go.mod replaces every staging module
with a local path), so a throw-away wrapper module requires it and points each staging module at
its published `v0.<minor>.<patch>` tag. etcd gets its own wrapper so that minimal version selection
cannot move kube-apiserver's shared dependencies. kube-controller-manager, which only the tests that need
Kubernetes' own controllers (garbage collection) start, is built from the same module the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from turbine_dev.tooling.caches import cache_dir

KUBERNETES_VERSION = "v1.36.3"
ETCD_VERSION = "v3.6.16"
# Prometheus publishes its Go module as v0.<minor>.<patch> for Prometheus 3.<minor>.<patch>.
PROMTOOL_MODULE_VERSION = "v0.316.0"
HELM_VERSION = "v4.3.1"

# The kstatus program's source (main package, go.mod, go.sum): its versions are the ones go.mod requires.
KSTATUS_SOURCE = Path(__file__).resolve().parents[2] / "kstatus"

_STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/", re.MULTILINE)


@dataclasses.dataclass(frozen=True)
class ControlPlaneBinaries:
    kube_apiserver: Path
    etcd: Path


def cache_root() -> Path:
    return cache_dir("control-plane")


def binaries_dir(go_version: str) -> Path:
    return cache_root() / f"k8s-{KUBERNETES_VERSION}-etcd-{ETCD_VERSION}-{go_version}"


def ensure_binaries(*, log: bool = True) -> ControlPlaneBinaries:
    """Returns cached binaries, building whichever is missing or reports the wrong version."""
    target = binaries_dir(_go_env("GOVERSION"))
    target.mkdir(parents=True, exist_ok=True)
    apiserver = target / "kube-apiserver"
    etcd = target / "etcd"
    if not _reports_version(apiserver, ["--version"], f"Kubernetes {KUBERNETES_VERSION}"):
        _timed(log, "kube-apiserver", lambda: _build_kubernetes_command("kube-apiserver", apiserver))
    if not _reports_version(etcd, ["--version"], f"etcd Version: {ETCD_VERSION.lstrip('v')}"):
        _timed(log, "etcd", lambda: _build_etcd(etcd))
    return ControlPlaneBinaries(kube_apiserver=apiserver, etcd=etcd)


def ensure_kube_controller_manager(*, log: bool = True) -> Path:
    """kube-controller-manager of the same Kubernetes version as kube-apiserver, cached beside it."""
    binary = binaries_dir(_go_env("GOVERSION")) / "kube-controller-manager"
    binary.parent.mkdir(parents=True, exist_ok=True)
    if not _reports_version(binary, ["--version"], f"Kubernetes {KUBERNETES_VERSION}"):
        _timed(
            log,
            "kube-controller-manager",
            lambda: _build_kubernetes_command("kube-controller-manager", binary),
        )
    return binary


def _timed(log: bool, name: str, build: object) -> None:
    started = time.monotonic()
    if log:
        print(f"building {name} (cached afterwards) ...", file=sys.stderr, flush=True)
    assert callable(build)
    build()
    if log:
        print(f"built {name} in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


def _reports_version(binary: Path, args: list[str], expected: str) -> bool:
    if not binary.exists():
        return False
    try:
        result = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return expected in result.stdout + result.stderr


def _go_env(name: str) -> str:
    return subprocess.run(["go", "env", name], capture_output=True, text=True, check=True).stdout.strip()


def _go(workdir: Path, *args: str) -> str:
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=mod"}
    result = subprocess.run(["go", *args], cwd=workdir, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"go {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return result.stdout


def _staging_modules(workdir: Path) -> list[str]:
    info = json.loads(_go(workdir, "mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"))
    go_mod = Path(info["GoMod"]).read_text()
    return sorted(set(_STAGING_REPLACE.findall(go_mod)))


def _install_atomically(workdir: Path, output: Path, build_args: list[str]) -> None:
    # A name of its own per build: two builds at once (a developer's and CI's) must not rename each
    # other's half-written file; the last complete one wins the atomic rename.
    partial = output.with_name(f"{output.name}.partial-{os.getpid()}")
    _go(workdir, "build", "-trimpath", "-o", str(partial), *build_args)
    partial.replace(output)


def _build_kubernetes_command(command: str, output: Path) -> None:
    """One k8s.io/kubernetes/cmd/<command>, built as the official release scripts build it."""
    minor = KUBERNETES_VERSION.split(".")[1]
    staging_tag = "v0." + KUBERNETES_VERSION.split(".", 1)[1]
    with tempfile.TemporaryDirectory(prefix="kbuild-") as tmp:
        workdir = Path(tmp)
        _go(workdir, "mod", "init", "local/kbuild")
        _go(workdir, "mod", "edit", "-go=1.26.0", "-godebug=default=go1.26")
        for module in _staging_modules(workdir):
            _go(workdir, "mod", "edit", f"-replace={module}={module}@{staging_tag}")
        _go(workdir, "get", f"k8s.io/kubernetes/cmd/{command}@{KUBERNETES_VERSION}")
        stamp = "k8s.io/component-base/version"
        ldflags = " ".join(
            [
                "-s -w",
                f"-X {stamp}.gitVersion={KUBERNETES_VERSION}",
                f"-X {stamp}.gitMajor=1",
                f"-X {stamp}.gitMinor={minor}",
                f"-X {stamp}.gitTreeState=clean",
                f"-X {stamp}.buildDate=1970-01-01T00:00:00Z",
            ]
        )
        _install_atomically(
            workdir,
            output,
            ["-tags", "selinux,notest", "-ldflags", ldflags, f"k8s.io/kubernetes/cmd/{command}"],
        )


def _build_etcd(output: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="etcdbuild-") as tmp:
        workdir = Path(tmp)
        _go(workdir, "mod", "init", "local/etcdbuild")
        _go(workdir, "get", f"go.etcd.io/etcd/server/v3@{ETCD_VERSION}")
        _install_atomically(workdir, output, ["-ldflags", "-s -w", "go.etcd.io/etcd/server/v3"])


def ensure_promtool(*, log: bool = True) -> Path:
    """promtool, to check the operator's /metrics output the way Prometheus' own tooling does."""
    target = cache_root() / f"promtool-{PROMTOOL_MODULE_VERSION}-{_go_env('GOVERSION')}"
    target.mkdir(parents=True, exist_ok=True)
    promtool = target / "promtool"
    if not _reports_version(promtool, ["--version"], "promtool, version"):
        _timed(log, "promtool", lambda: _build_promtool(promtool))
    return promtool


def _build_promtool(output: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="promtoolbuild-") as tmp:
        workdir = Path(tmp)
        _go(workdir, "mod", "init", "local/promtoolbuild")
        _go(workdir, "get", f"github.com/prometheus/prometheus/cmd/promtool@{PROMTOOL_MODULE_VERSION}")
        _install_atomically(
            workdir, output, ["-ldflags", "-s -w", "github.com/prometheus/prometheus/cmd/promtool"]
        )


def ensure_kstatus(*, log: bool = True) -> Path:
    """devtools/kstatus built against the sigs.k8s.io/cli-utils its go.mod requires (the kstatus Flux reads
    health with); the cache key holds the module versions, the Go version and a digest of the source."""
    files = {name: (KSTATUS_SOURCE / name).read_bytes() for name in ("main.go", "go.mod", "go.sum")}
    versions = dict(
        re.findall(
            r"^\s*(sigs\.k8s\.io/cli-utils|k8s\.io/apimachinery) (v\S+)", files["go.mod"].decode(), re.M
        )
    )
    digest = hashlib.sha256(
        b"".join(name.encode() + b"\0" + data for name, data in files.items())
    ).hexdigest()
    key = "-".join(
        [
            "kstatus",
            f"cli-utils-{versions['sigs.k8s.io/cli-utils']}",
            f"apimachinery-{versions['k8s.io/apimachinery']}",
            _go_env("GOVERSION"),
            digest[:12],
        ]
    )
    target = cache_root() / key
    target.mkdir(parents=True, exist_ok=True)
    kstatus = target / "kstatus"
    if not kstatus.exists():
        _timed(log, "kstatus", lambda: _build_kstatus(files, kstatus))
    return kstatus


def _build_kstatus(files: dict[str, bytes], output: Path) -> None:
    # Built from a copy, so that no build output or go.sum rewrite ever lands in the repository.
    with tempfile.TemporaryDirectory(prefix="kstatusbuild-") as tmp:
        workdir = Path(tmp)
        for name, data in files.items():
            (workdir / name).write_bytes(data)
        _install_atomically(workdir, output, ["-ldflags", "-s -w", "."])


def ensure_helm(*, log: bool = True) -> Path:
    """helm, to lint and render the chart in charts/ the way its users will."""
    target = cache_root() / f"helm-{HELM_VERSION}-{_go_env('GOVERSION')}"
    target.mkdir(parents=True, exist_ok=True)
    helm = target / "helm"
    if not _reports_version(helm, ["version", "--short"], HELM_VERSION):
        _timed(log, "helm", lambda: _build_helm(helm))
    return helm


def _build_helm(output: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="helmbuild-") as tmp:
        workdir = Path(tmp)
        _go(workdir, "mod", "init", "local/helmbuild")
        _go(workdir, "get", f"helm.sh/helm/v4/cmd/helm@{HELM_VERSION}")
        # Helm's Makefile stamps the version at link time; without it `helm version` says "v4.3".
        stamp = f"-X helm.sh/helm/v4/internal/version.version={HELM_VERSION}"
        _install_atomically(workdir, output, ["-ldflags", f"-s -w {stamp}", "helm.sh/helm/v4/cmd/helm"])


# What `python -m turbine_dev.k8s.binaries NAME...` can build, by name: `make demo` asks only for what the
# demo runs (the control plane), `make test` for all (cold, promtool and helm alone take eight minutes here).
BUILDERS: dict[str, Callable[[], object]] = {
    "kube-apiserver": ensure_binaries,
    "etcd": ensure_binaries,
    "kube-controller-manager": ensure_kube_controller_manager,
    "promtool": ensure_promtool,
    "kstatus": ensure_kstatus,
    "helm": ensure_helm,
}


def chosen(argv: Sequence[str]) -> list[str]:
    """The builders to run for these command-line names, in BUILDERS' order, once each; none named is all."""
    unknown = sorted(set(argv) - set(BUILDERS))
    if unknown:
        raise SystemExit(f"unknown binaries {', '.join(unknown)}; known: {', '.join(BUILDERS)}")
    names = [name for name in BUILDERS if not argv or name in argv]
    # kube-apiserver and etcd are built by one call: run it once.
    return [name for name in names if not (name == "etcd" and "kube-apiserver" in names)]


def main(argv: Sequence[str] | None = None) -> None:
    for name in chosen(sys.argv[1:] if argv is None else argv):
        BUILDERS[name]()
    print(binaries_dir(_go_env("GOVERSION")))


if __name__ == "__main__":
    main()
