"""Builds the repository's Dockerfile into a real image and runs commands in it; no registry, no daemon.

buildah (Debian's package) builds and runs; its storage is a folder of the cache (vfs: no overlay mount
needed), and `--isolation chroot` needs no OCI runtime. The Dockerfile's PYTHON_IMAGE is a Debian base made
by mmdebstrap, standing in for python:3.12-slim-bookworm: Debian's python3 with venv and pip, not marked
externally managed (as the official image is not), trusting this machine's CA bundle (pip reaches PyPI
through whatever TLS this machine's network needs).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from turbine_dev.tooling.caches import cache_dir

SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
TOOLS = {"buildah": "buildah", "mmdebstrap": "mmdebstrap"}  # command: Debian package


def ensure_tools() -> None:
    """buildah and mmdebstrap from Debian's packages, installed when missing (as root, like the rehearsal)."""
    missing = [package for command, package in TOOLS.items() if shutil.which(command) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"the image build needs {', '.join(missing)}: apt-get install {' '.join(missing)}")
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=environment)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=environment
    )


def buildah(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    root = cache_dir("containers")
    command = ["buildah", "--storage-driver", "vfs", "--root", str(root / "storage")]
    command += ["--runroot", str(root / "run"), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def base_image() -> str:
    """The Debian base, built once per package list and CA bundle and kept in buildah's storage."""
    ca_bundle = HOST_CA_BUNDLE.read_bytes() if HOST_CA_BUNDLE.exists() else b""
    key = hashlib.sha256("\0".join([SUITE, *BASE_PACKAGES]).encode() + ca_bundle).hexdigest()[:12]
    name = f"localhost/turbine-test-base:{SUITE}-{key}"
    if buildah("inspect", "--type", "image", name, check=False).returncode == 0:
        return name
    folder = cache_dir("image-base")
    folder.mkdir(parents=True, exist_ok=True)
    tarball = folder / f"{SUITE}-{key}.tar"
    if not tarball.exists():
        partial = tarball.with_name(f"{tarball.name}.partial-{os.getpid()}")
        subprocess.run(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                f"--include={','.join(BASE_PACKAGES)}",
                # python:3.12-slim's Python is not Debian's system Python: pip may install into it.
                '--customize-hook=rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
                SUITE,
                str(partial),
            ],
            check=True,
        )
        partial.replace(tarball)
    container = buildah("from", "scratch").stdout.strip()
    try:
        buildah("add", container, str(tarball), "/")
        if ca_bundle:
            buildah("copy", container, str(HOST_CA_BUNDLE), "/etc/ssl/certs/ca-certificates.crt")
            pip_conf = folder / "pip.conf"
            pip_conf.write_text("[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n")
            buildah("copy", container, str(pip_conf), "/etc/pip.conf")
        buildah("commit", "--quiet", container, name)
    finally:
        buildah("rm", container, check=False)
    return name


def build(context: Path, tag: str, build_args: Mapping[str, str]) -> str:
    """`docker build` of `context` (its Dockerfile and .dockerignore), as buildah does it."""
    arguments = [f"--build-arg={key}={value}" for key, value in build_args.items()]
    buildah("build", "--isolation", "chroot", "--pull=never", *arguments, "--tag", tag, str(context))
    return tag


def run(
    image: str, argv: Sequence[str], files: Mapping[str, Path] | None = None
) -> subprocess.CompletedProcess[str]:
    """`argv` in a container of `image` as the image's USER, with `files` copied in first (path: source)."""
    container = buildah("from", "--pull=never", image).stdout.strip()
    try:
        for target, source in (files or {}).items():
            buildah("copy", "--chown", "10001:10001", container, str(source), target)
        return buildah("run", "--isolation", "chroot", container, "--", *argv, check=False)
    finally:
        buildah("rm", container, check=False)
