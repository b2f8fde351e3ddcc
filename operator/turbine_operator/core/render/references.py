"""What a spec reads from outside its manifest: ConfigMap and Secret keys, and S3 objects.

The core lists the references (`references_of`); an edge fetches them into `Fetched` values
keyed by `Reference.source`; rendering then reads them back through `content_of`. Rendering
never sees a reference it was not given, so every missing object or key surfaces as a SpecError
that names the field which asked for it.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import threading
from collections.abc import Iterator, Mapping

from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.api.spec_additions import KeyRef
from turbine_operator.core.errors import SpecError


class SourceKind(enum.StrEnum):
    CONFIG_MAP = "ConfigMap"
    SECRET = "Secret"  # noqa: S105 - a kind of Kubernetes object, not a password
    S3_OBJECT = "S3Object"


Source = tuple[SourceKind, str, str]  # (kind, object name or bucket, key)


@dataclasses.dataclass(frozen=True)
class Reference:
    kind: SourceKind
    name: str
    key: str
    field: str  # the spec field that asked for it, for error messages

    @property
    def source(self) -> Source:
        return (self.kind, self.name, self.key)

    def describe(self) -> str:
        if self.kind is SourceKind.S3_OBJECT:
            return f"s3://{self.name}/{self.key}"
        return f"key {self.key} of {self.kind.value} {self.name}"


@dataclasses.dataclass(frozen=True)
class Fetched:
    """A referenced value and what the desired-state hash records of it.

    For a ConfigMap or an S3 object the fingerprint is a digest of the content. A Secret's is its
    object version instead: a digest of a short secret would let anyone who reads the status try
    candidate values against it.
    """

    content: bytes
    fingerprint: str

    def __repr__(self) -> str:
        return f"Fetched(<{len(self.content)} bytes>, fingerprint={self.fingerprint!r})"


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """A ConfigMap or Secret as read from the cluster: its keys with their bytes, and its version."""

    uid: str
    resource_version: str
    data: Mapping[str, bytes]

    def __repr__(self) -> str:
        return f"StoredObject(uid={self.uid!r}, keys={sorted(self.data)})"


def content_fingerprint(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


def version_fingerprint(stored: StoredObject) -> str:
    return hashlib.sha256(f"{stored.uid}/{stored.resource_version}".encode()).hexdigest()[:16]


def _key_ref(kind: SourceKind, ref: KeyRef | None, field: str) -> Iterator[Reference]:
    if ref is not None:
        yield Reference(kind, ref.name, ref.key, field)


def references_of(spec: TurbineStackSpec) -> tuple[Reference, ...]:
    """Everything rendering `spec` will read, in spec order."""
    found: list[Reference] = []
    for entry in spec.additional_templates:
        field = f"spec.additionalTemplates[{entry.name}]"
        source = entry.template
        found += _key_ref(
            SourceKind.CONFIG_MAP, source.config_map_key_ref, f"{field}.template.configMapKeyRef"
        )
        if source.s3_url is not None:
            # s3://bucket/key, as the model's pattern checked.
            bucket, _, key = source.s3_url.removeprefix("s3://").partition("/")
            found.append(Reference(SourceKind.S3_OBJECT, bucket, key, f"{field}.template.s3Url"))
        for file in entry.files:
            found += _key_ref(
                SourceKind.CONFIG_MAP, file.config_map_key_ref, f"{field}.files[{file.path}].configMapKeyRef"
            )
        for parameter in entry.parameters_from:
            where = f"{field}.parametersFrom[{parameter.name}]"
            found += _key_ref(SourceKind.CONFIG_MAP, parameter.config_map_key_ref, f"{where}.configMapKeyRef")
            found += _key_ref(SourceKind.SECRET, parameter.secret_key_ref, f"{where}.secretKeyRef")
    for policy in spec.additional_policies:
        found += _key_ref(
            SourceKind.CONFIG_MAP,
            policy.document.config_map_key_ref,
            f"spec.additionalPolicies[{policy.name}].document.configMapKeyRef",
        )
    git = spec.airflow.dags.git if spec.airflow.dags else None
    if git is not None and git.credentials is not None:
        where = "spec.airflow.dags.git.credentials"
        credentials = git.credentials
        found += _key_ref(
            SourceKind.SECRET, credentials.password_secret_key_ref, f"{where}.passwordSecretKeyRef"
        )
        found += _key_ref(
            SourceKind.SECRET,
            credentials.ssh_private_key_secret_key_ref,
            f"{where}.sshPrivateKeySecretKeyRef",
        )
    for user in spec.airflow.users or ():
        found += _key_ref(
            SourceKind.SECRET,
            user.password_secret_key_ref,
            f"spec.airflow.users[{user.username}].passwordSecretKeyRef",
        )
    return tuple(found)


def watched_objects(spec: TurbineStackSpec) -> frozenset[tuple[SourceKind, str]]:
    """The ConfigMaps and Secrets whose changes must start a reconcile."""
    return frozenset(
        (reference.kind, reference.name)
        for reference in references_of(spec)
        if reference.kind is not SourceKind.S3_OBJECT
    )


class ReaderIndex:
    """Which TurbineStacks read which ConfigMaps and Secrets: (namespace, kind, object name) -> the names
    of the TurbineStacks reading it.

    The change handlers record a TurbineStack's references once per spec, before its reconcile reads
    them, so a change made after that read is seen; the delete forgets them. (A kopf index did this
    for every watch event of every TurbineStack, most of them status writes: about 5 % of the
    operator's CPU per stack created.) Handler threads share it, under a lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_stack: dict[str, tuple[str, frozenset[tuple[str, SourceKind, str]]]] = {}
        self._readers: dict[tuple[str, SourceKind, str], frozenset[str]] = {}

    def record(self, uid: str, namespace: str, name: str, spec: TurbineStackSpec | None) -> None:
        """`spec` None (it does not parse) reads nothing: an invalid spec stalls until it is edited."""
        watched = frozenset() if spec is None else watched_objects(spec)
        objects = frozenset((namespace, kind, object_name) for kind, object_name in watched)
        with self._lock:
            if self._by_stack.get(uid) == (name, objects):
                return
            self._forget(uid)
            self._by_stack[uid] = (name, objects)
            for key in objects:
                self._readers[key] = self._readers.get(key, frozenset()) | {name}

    def readers(self, namespace: str, kind: SourceKind, object_name: str) -> list[str]:
        with self._lock:
            return sorted(self._readers.get((namespace, kind, object_name), ()))

    def watched(self) -> frozenset[tuple[str, SourceKind, str]]:
        """Every (namespace, kind, object name) that some TurbineStack reads: the objects to watch."""
        with self._lock:
            return frozenset(self._readers)

    def forget(self, uid: str) -> None:
        with self._lock:
            self._forget(uid)

    def _forget(self, uid: str) -> None:
        name, objects = self._by_stack.pop(uid, ("", frozenset()))
        for key in objects:
            remaining = self._readers.get(key, frozenset()) - {name}
            if remaining:
                self._readers[key] = remaining
            else:
                self._readers.pop(key, None)


def content_of(
    fetched: Mapping[Source, Fetched], kind: SourceKind, ref: KeyRef | None, field: str
) -> Fetched | None:
    if ref is None:
        return None
    value = fetched.get((kind, ref.name, ref.key))
    if value is None:
        # The edge fetches every reference before rendering; a gap is a programming error, but it
        # is still reported against the field rather than as a KeyError.
        raise SpecError(field, f"key {ref.key} of {kind.value} {ref.name} was not read")
    return value


def text_of(value: Fetched, field: str) -> str:
    try:
        return value.content.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(field, "is not UTF-8 text") from None


def change_needs_reconcile(event_type: str | None, previous_version: str | None, version: str) -> bool:
    """Whether a watch event of a referenced object should reconcile the TurbineStacks reading it.

    kopf lists objects (events without a type) at start-up, when every TurbineStack is resumed and
    re-read anyway, and again after a broken watch: only a version seen to change then matters.
    """
    if event_type is None:
        return previous_version not in (None, version)
    return True
