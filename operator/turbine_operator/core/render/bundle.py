"""The Turbine bundle: every file a stack needs in S3, under one content-addressed prefix.

A stack in flight keeps reading the templates, scripts and Lambda code it was created with,
because a changed file changes the bundle digest and therefore every key. Layout below the
prefix (this is what the templates' QSS3KeyPrefix points at):

    templates/<name>.yaml                 Turbine's own templates
    templates/additional_templates/...    the user's additional templates
    scripts/<name>                        instance bootstrap scripts, synced to /opt/turbine
    lambdas/<module>.zip                  one zip per `lambdas/<module>.py`, the module at its root
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import zipfile
from collections.abc import Mapping

MASTER_TEMPLATE = "templates/turbine-master.yaml"

# Fixed zip metadata so that the same sources always give the same bytes (and the same digest).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_ZIP_FILE_MODE = 0o644 << 16


@dataclasses.dataclass(frozen=True)
class TurbineSources:
    """Turbine's own files, read from `cfn/` and `lambdas/` by the edge that loads them."""

    templates: Mapping[str, bytes]
    scripts: Mapping[str, bytes]
    lambda_modules: Mapping[str, bytes]
    # cfn/airflow/airflow-<version>.options.json by name: what spec.airflow.config is checked against. Not
    # uploaded: the instances never read it.
    airflow_options: Mapping[str, bytes] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Bundle:
    files: Mapping[str, bytes]
    digest: str

    def key_prefix(self, base_prefix: str) -> str:
        """The S3 key prefix this bundle lives under (ends with a slash)."""
        return f"{base_prefix}bundles/{self.digest}/"


# Every reconcile builds its stack's bundle; the archives are the same for all of them, and deflating them was
# a tenth of the CPU of a reconcile. A handful of modules, so a handful of entries.
@functools.lru_cache(maxsize=32)
def lambda_archive(module_name: str, source: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        entry = zipfile.ZipInfo(f"{module_name}.py", date_time=_ZIP_EPOCH)
        entry.external_attr = _ZIP_FILE_MODE
        entry.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(entry, source)
    return buffer.getvalue()


def build_bundle(sources: TurbineSources, extra_files: Mapping[str, bytes] | None = None) -> Bundle:
    files: dict[str, bytes] = {}
    files.update({f"templates/{name}": body for name, body in sources.templates.items()})
    files.update({f"scripts/{name}": body for name, body in sources.scripts.items()})
    files.update(
        {
            f"lambdas/{module}.zip": lambda_archive(module, body)
            for module, body in sources.lambda_modules.items()
        }
    )
    files.update(extra_files or {})
    return Bundle(files=dict(sorted(files.items())), digest=_digest(files))


def _digest(files: Mapping[str, bytes]) -> str:
    hasher = hashlib.sha256()
    for key in sorted(files):
        hasher.update(key.encode())
        hasher.update(b"\0")
        hasher.update(hashlib.sha256(files[key]).digest())
    return hasher.hexdigest()[:16]
