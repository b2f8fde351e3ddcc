"""Fetches what a spec references (ConfigMap and Secret keys, S3 objects) before it is rendered."""

from __future__ import annotations

from typing import Protocol

from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.errors import AwsAccessDenied, ReferenceMissing
from turbine_operator.core.render.references import (
    Fetched,
    Reference,
    Source,
    SourceKind,
    StoredObject,
    content_fingerprint,
    references_of,
    version_fingerprint,
)


class ObjectReader(Protocol):
    def read(self, kind: SourceKind, namespace: str, name: str) -> StoredObject | None: ...


class ClusterReader(ObjectReader, Protocol):
    def turbine_stack_uid(self, namespace: str, name: str) -> str | None:
        """The uid of the TurbineStack with that name, or None if there is none."""


class S3Reader(Protocol):
    def read_object(self, bucket: str, key: str) -> bytes | None: ...


def fetch_references(
    spec: TurbineStackSpec, namespace: str, objects: ObjectReader, s3: S3Reader | None
) -> dict[Source, Fetched]:
    """Reads every reference once; raises ReferenceMissing naming the field that asked for a gap."""
    fetched: dict[Source, Fetched] = {}
    read_objects: dict[tuple[SourceKind, str], StoredObject | None] = {}
    for reference in references_of(spec):
        if reference.source in fetched:
            continue
        if reference.kind is SourceKind.S3_OBJECT:
            fetched[reference.source] = _from_s3(reference, s3)
            continue
        identity = (reference.kind, reference.name)
        if identity not in read_objects:
            read_objects[identity] = objects.read(reference.kind, namespace, reference.name)
        stored = read_objects[identity]
        if stored is None:
            raise ReferenceMissing(
                reference.field,
                f"{reference.kind.value} {reference.name} does not exist in namespace {namespace}",
            )
        content = stored.data.get(reference.key)
        if content is None:
            raise ReferenceMissing(
                reference.field, f"{reference.kind.value} {reference.name} has no key {reference.key}"
            )
        fingerprint = (
            version_fingerprint(stored)
            if reference.kind is SourceKind.SECRET
            else content_fingerprint(content)
        )
        fetched[reference.source] = Fetched(content, fingerprint)
    return fetched


def _from_s3(reference: Reference, s3: S3Reader | None) -> Fetched:
    if s3 is None:
        raise ReferenceMissing(reference.field, f"{reference.describe()} cannot be read here (no AWS access)")
    try:
        content = s3.read_object(reference.name, reference.key)
    except AwsAccessDenied as error:
        raise ReferenceMissing(
            reference.field, f"{reference.describe()} cannot be read ({error.code}); grant s3:GetObject on it"
        ) from None
    if content is None:
        raise ReferenceMissing(reference.field, f"{reference.describe()} does not exist")
    return Fetched(content, content_fingerprint(content))
