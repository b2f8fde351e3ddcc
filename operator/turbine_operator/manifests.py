"""ConfigMaps and Secrets read from manifest files, so `turbine-operator render` works offline."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from turbine_operator.core.render.references import SourceKind, StoredObject

_KINDS = {"ConfigMap": SourceKind.CONFIG_MAP, "Secret": SourceKind.SECRET}


class ManifestError(Exception):
    """A manifest in the --resources folder cannot be read."""


class ManifestObjects:
    """An ObjectReader over the ConfigMap and Secret manifests that a render may use."""

    def __init__(self, objects: Mapping[tuple[SourceKind, str], StoredObject] | None = None) -> None:
        self._objects = dict(objects or {})

    @classmethod
    def from_folder(cls, folder: Path, namespace: str | None) -> ManifestObjects:
        """The manifests in `folder` that `kubectl apply -n <namespace>` would put in that namespace.

        Those naming no namespace always count. With `namespace` None (a TurbineStack manifest that
        names none), those naming any namespace count too. Two that would count for the same kind
        and name are refused: which one wins would depend on file order.
        """
        if not folder.is_dir():
            raise ManifestError(f"--resources {folder}: not a folder")
        objects: dict[tuple[SourceKind, str], StoredObject] = {}
        defined_in: dict[tuple[SourceKind, str], str] = {}
        for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
            for document in _documents(path):
                kind = _KINDS.get(str(document.get("kind")))
                metadata = document.get("metadata") or {}
                name, placed_in = metadata.get("name"), metadata.get("namespace")
                if kind is None or not isinstance(name, str):
                    continue
                if namespace is not None and placed_in and placed_in != namespace:
                    continue
                where = f"{path.name}: {kind.value} {f'{placed_in}/' if placed_in else ''}{name}"
                if (kind, name) in defined_in:
                    raise ManifestError(f"{where} is also defined in {defined_in[(kind, name)]}")
                defined_in[(kind, name)] = where
                objects[(kind, name)] = _stored(kind, document, where)
        return cls(objects)

    def read(self, kind: SourceKind, namespace: str, name: str) -> StoredObject | None:
        return self._objects.get((kind, name))  # from_folder kept only those of the namespace


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
