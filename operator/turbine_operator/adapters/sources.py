"""Reads Turbine's own templates, scripts and Lambda sources from disk."""

from __future__ import annotations

import os
from pathlib import Path

from turbine_operator.core.render.bundle import TurbineSources

TEMPLATES_DIR_ENV = "TURBINE_CFN_DIR"
LAMBDAS_DIR_ENV = "TURBINE_LAMBDAS_DIR"


# An installed wheel carries cfn/ and lambdas/ as package data here (pyproject.toml's package-dir maps them).
_PACKAGED = Path(__file__).resolve().parents[1] / "bundled"
# A checkout (and its editable install) reads them where they are: operator/turbine_operator/adapters/ ->
# the repository root.
_CHECKOUT = Path(__file__).resolve().parents[3]


def _default(name: str) -> Path:
    packaged = _PACKAGED / name
    return packaged if packaged.is_dir() else _CHECKOUT / name


def cfn_dir() -> Path:
    return Path(os.environ.get(TEMPLATES_DIR_ENV) or _default("cfn"))


def lambdas_dir() -> Path:
    return Path(os.environ.get(LAMBDAS_DIR_ENV) or _default("lambdas"))


def load_turbine_sources(cfn: Path | None = None, lambdas: Path | None = None) -> TurbineSources:
    cfn = cfn or cfn_dir()
    lambdas = lambdas or lambdas_dir()
    return TurbineSources(
        templates=_read_files(cfn / "templates", "*.yaml"),
        scripts=_read_files(cfn / "scripts", "*") if (cfn / "scripts").is_dir() else {},
        lambda_modules={path.stem: path.read_bytes() for path in sorted(lambdas.glob("*.py"))},
        airflow_options=_read_files(cfn / "airflow", "*.options.json") if (cfn / "airflow").is_dir() else {},
    )


def _read_files(folder: Path, pattern: str) -> dict[str, bytes]:
    if not folder.is_dir():
        raise FileNotFoundError(f"Turbine sources folder {folder} is missing")
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob(pattern))
        if path.is_file()
    }
