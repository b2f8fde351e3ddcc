"""Reads Turbine's own templates, scripts and Lambda sources from disk."""

from __future__ import annotations

import os
from pathlib import Path

from turbine_operator.core.bundle import TurbineSources

TEMPLATES_DIR_ENV = "TURBINE_CFN_DIR"
LAMBDAS_DIR_ENV = "TURBINE_LAMBDAS_DIR"


def _default_root() -> Path:
    # operator/turbine_operator/adapters/sources.py -> the repository (or image) root.
    return Path(__file__).resolve().parents[3]


def cfn_dir() -> Path:
    return Path(os.environ.get(TEMPLATES_DIR_ENV) or _default_root() / "cfn")


def lambdas_dir() -> Path:
    return Path(os.environ.get(LAMBDAS_DIR_ENV) or _default_root() / "lambdas")


def load_turbine_sources(cfn: Path | None = None, lambdas: Path | None = None) -> TurbineSources:
    cfn = cfn or cfn_dir()
    lambdas = lambdas or lambdas_dir()
    return TurbineSources(
        templates=_read_files(cfn / "templates", "*.yaml"),
        scripts=_read_files(cfn / "scripts", "*") if (cfn / "scripts").is_dir() else {},
        lambda_modules={path.stem: path.read_bytes() for path in sorted(lambdas.glob("*.py"))},
    )


def _read_files(folder: Path, pattern: str) -> dict[str, bytes]:
    if not folder.is_dir():
        raise FileNotFoundError(f"Turbine sources folder {folder} is missing")
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob(pattern))
        if path.is_file()
    }
