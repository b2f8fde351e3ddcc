"""ConfigMaps and Secrets read from manifest files, so `turbine-operator render` works offline."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from turbine_operator.core.references import SourceKind, StoredObject

_KINDS = {"ConfigMap": SourceKind.CONFIG_MAP, "Secret": SourceKind.SECRET}


class ManifestError(Exception):
    """A manifest in the --resources folder cannot be read."""


# The namespace a manifest names, or None for one without: `kubectl apply -n` puts that one in the
# TurbineStack's namespace, so it is found from any.
ObjectKey = tuple[SourceKind, str | None, str]


class ManifestObjects:
    """An ObjectReader over ConfigMap and Secret manifests, keyed by kind, namespace and name."""

    def __init__(self, objects: Mapping[ObjectKey, StoredObject] | None = None) -> None:
        self._objects = dict(objects or {})

    @classmethod
    def from_folder(cls, folder: Path) -> ManifestObjects:
        if not folder.is_dir():
            raise ManifestError(f"--resources {folder}: not a folder")
        objects: dict[ObjectKey, StoredObject] = {}
        defined_in: dict[ObjectKey, str] = {}
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            for document in _documents(path):
                kind = _KINDS.get(str(document.get("kind")))
                metadata = document.get("metadata") or {}
                name, namespace = metadata.get("name"), metadata.get("namespace")
                if kind is None or not isinstance(name, str):
                    continue
                key = (kind, str(namespace) if namespace else None, name)
                where = f"{path.name}: {kind.value} {f'{namespace}/' if namespace else ''}{name}"
                if key in defined_in:
                    # Which of the two would win depends on file order: refuse rather than guess.
                    raise ManifestError(f"{where} is also defined in {defined_in[key]}")
                defined_in[key] = path.name
                objects[key] = _stored(kind, document, where)
        return cls(objects)

    def read(self, kind: SourceKind, namespace: str, name: str) -> StoredObject | None:
        return self._objects.get((kind, namespace, name)) or self._objects.get((kind, None, name))


def _documents(path: Path) -> Iterator[Mapping[str, Any]]:
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as error:
        raise ManifestError(f"{path}: not valid YAML ({type(error).__name__})") from None
    for document in documents:
        if isinstance(document, Mapping):
            yield document


def _stored(kind: SourceKind, document: Mapping[str, Any], where: str) -> StoredObject:
    data: dict[str, bytes] = {}
    encoded = "data" if kind is SourceKind.SECRET else "binaryData"
    for key, value in (document.get(encoded) or {}).items():
        try:
            data[str(key)] = base64.b64decode(str(value), validate=True)
        except binascii.Error:
            raise ManifestError(f"{where}: {encoded}.{key} is not base64") from None
    plain = "stringData" if kind is SourceKind.SECRET else "data"
    data.update({str(key): str(value).encode() for key, value in (document.get(plain) or {}).items()})
    # A fixed version: offline renders cannot see versions, and must be deterministic.
    return StoredObject(uid="manifest", resource_version="manifest", data=data)
