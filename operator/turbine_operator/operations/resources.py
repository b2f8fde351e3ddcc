"""The custom resource as the operations see it, independent of kopf's body types."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable, Mapping
from typing import Any

from turbine_operator.core.reporting import Announcement
from turbine_operator.core.spec import TurbineStackSpec, parse_spec

Clock = Callable[[], datetime.datetime]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def timestamp(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclasses.dataclass(frozen=True)
class StackResource:
    namespace: str
    name: str
    uid: str
    generation: int
    spec: Mapping[str, Any]
    status: Mapping[str, Any]
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def parsed_spec(self, default_region: str) -> TurbineStackSpec:
        """The spec as typed models; raises SpecError naming the field at fault."""
        return parse_spec(self.spec, namespace=self.namespace, name=self.name, default_region=default_region)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What an operation wants written back: status fields, an event, and whether it is finished."""

    status: Mapping[str, Any]
    announcement: Announcement | None = None
    finished: bool = True
    retry_after: float | None = None
