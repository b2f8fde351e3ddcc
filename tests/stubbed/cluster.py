"""ConfigMaps and Secrets held in memory, for operation tests that need referenced objects."""

from __future__ import annotations

import dataclasses

from turbine_operator.core.render.references import SourceKind, StoredObject


@dataclasses.dataclass
class ObjectsInMemory:
    """An ObjectReader over a dict; `reads` records what was asked for."""

    objects: dict[tuple[SourceKind, str, str], StoredObject] = dataclasses.field(default_factory=dict)
    reads: list[tuple[SourceKind, str, str]] = dataclasses.field(default_factory=list)
    turbine_stacks: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)

    def put(self, kind: SourceKind, namespace: str, name: str, version: str = "1", **data: bytes) -> None:
        self.objects[(kind, namespace, name)] = StoredObject(
            uid=f"uid-{name}", resource_version=version, data=data
        )

    def read(self, kind: SourceKind, namespace: str, name: str) -> StoredObject | None:
        self.reads.append((kind, namespace, name))
        return self.objects.get((kind, namespace, name))

    def turbine_stack_uid(self, namespace: str, name: str) -> str | None:
        return self.turbine_stacks.get((namespace, name))
