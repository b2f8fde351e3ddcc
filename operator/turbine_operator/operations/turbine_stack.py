"""A TurbineStack as the operations see it (independent of kopf's body types), and what an operation
wants written back to it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from turbine_operator.core.api.spec import TurbineStackSpec, field_of, parse_spec
from turbine_operator.core.errors import SpecError
from turbine_operator.core.report.reporting import Announcement


@dataclasses.dataclass(frozen=True)
class StackResource:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def suspended(self) -> bool:
        """spec.suspend, read without the full parse: a suspended stack is left alone even if invalid."""
        try:
            return field_of(self.spec, "suspend") is True
        except SpecError:
            return False  # not `true`: the full parse names the field

    def parsed_spec(self, default_region: str) -> TurbineStackSpec:
        """The spec as typed models; raises SpecError naming the field at fault.

        A spec without a region keeps the region its stack was created in (status.region): a
        change of the operator's default region must not re-target existing stacks.
        """
        pinned = self.status.get("region")
        region = pinned if isinstance(pinned, str) and pinned else default_region
        return parse_spec(self.spec, namespace=self.namespace, name=self.name, default_region=region)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What an operation wants written back: status fields, an event, and whether it is finished."""

    status: Mapping[str, Any]
    announcement: Announcement | None = None
    finished: bool = True
    retry_after: float | None = None
