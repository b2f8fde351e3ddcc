"""A TurbineStack as the operations see it (independent of kopf's body types), and what an operation
wants written back to it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from turbine_operator.core.api.spec import TurbineStackSpec, field_of, parse_spec
from turbine_operator.core.errors import SpecError
from turbine_operator.core.naming import default_stack_name
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

    @property
    def recorded_stack_name(self) -> str | None:
        """The stack name status.stackName records: the one in use, whatever default made it."""
        recorded = self.status.get("stackName")
        return recorded if isinstance(recorded, str) and recorded else None

    @property
    def names_its_stack(self) -> bool:
        """Whether the stack name is settled: set in spec.stackName or recorded in status.stackName. Otherwise
        it is the default, which depends on the tenant's prefix, and an earlier operator's stack may still go
        by the legacy default (operations/stack/stack_names.py)."""
        return self.spec.get("stackName") is not None or self.recorded_stack_name is not None

    def parsed_spec(self, default_region: str, stack_name_prefix: str = "") -> TurbineStackSpec:
        """The spec as typed models; raises SpecError naming the field at fault.

        A spec without a region keeps the region its stack was created in (status.region): a
        change of the operator's default region must not re-target existing stacks. Likewise a spec without
        a stack name keeps the name in use (status.stackName), so that an operator whose default changed
        (default_stack_name) renames nothing; only a TurbineStack that recorded none takes the default, with
        its tenant's prefix.
        """
        pinned = self.status.get("region")
        region = pinned if isinstance(pinned, str) and pinned else default_region
        stack_name = self.recorded_stack_name or default_stack_name(
            self.namespace, self.name, stack_name_prefix
        )
        return parse_spec(
            self.spec, namespace=self.namespace, name=self.name, default_region=region, stack_name=stack_name
        )


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What an operation wants written back: status fields, an event, and whether it is finished."""

    status: Mapping[str, Any]
    announcement: Announcement | None = None
    finished: bool = True
    retry_after: float | None = None
