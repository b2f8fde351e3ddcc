"""What the AWS adapter observed, as plain values the planner can reason about."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class ObservedStack:
    stack_id: str
    name: str
    status: str
    status_reason: str | None
    tags: Mapping[str, str]
    outputs: Mapping[str, str]
    termination_protection: bool
    parameters: Mapping[str, str] = dataclasses.field(default_factory=dict)
    last_updated: str | None = None
    updated: bool = False  # CloudFormation reports LastUpdatedTime only once a stack was ever updated
    # Whether its template is a Turbine master (core.render.templates is_turbine_master); read (GetTemplate)
    # only for a stack spec.adopt would take over, None when not read.
    turbine_master: bool | None = None


@dataclasses.dataclass(frozen=True)
class StackSummary:
    """One stack of a region's listing (ListStacks): enough to tell whether it moved since the last look."""

    stack_id: str
    status: str
    last_updated: str | None  # LastUpdatedTime, else CreationTime (as ObservedStack.last_updated)


@dataclasses.dataclass(frozen=True)
class ResourceChange:
    action: str
    logical_resource_id: str
    resource_type: str
    replacement: str | None = None


@dataclasses.dataclass(frozen=True)
class ObservedChangeSet:
    name: str
    status: str  # CREATE_PENDING, CREATE_IN_PROGRESS, CREATE_COMPLETE, FAILED, DELETE_*
    execution_status: (
        str  # UNAVAILABLE, AVAILABLE, EXECUTE_IN_PROGRESS, EXECUTE_COMPLETE, EXECUTE_FAILED, OBSOLETE
    )
    status_reason: str | None
    changes: tuple[ResourceChange, ...]
    created_at: str | None = None
    change_set_id: str | None = None  # unique to each creation, unlike the name
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class LatestOperation:
    """The stack's latest operation as its events tell it."""

    token: str | None  # the ClientRequestToken that started it
    first_failure: str | None  # `Logical (Type): reason` of the first resource that failed


@dataclasses.dataclass(frozen=True)
class StackMemory:
    """What the operator recorded in status about earlier reconciles."""

    applied_hash: str | None = None
    attempted_hash: str | None = None
    continued_rollback_hash: str | None = None
    change_set_requests: int = 0  # CreateChangeSet requests answered so far (status.changeSetRequests)


@dataclasses.dataclass(frozen=True)
class PropertyDifference:
    path: str
    expected: str | None
    actual: str | None
    kind: str  # ADD, REMOVE or NOT_EQUAL


@dataclasses.dataclass(frozen=True)
class ResourceDrift:
    stack_name: str
    logical_resource_id: str
    resource_type: str
    status: str  # MODIFIED or DELETED (IN_SYNC and NOT_CHECKED are not reported)
    differences: tuple[PropertyDifference, ...] = ()


@dataclasses.dataclass(frozen=True)
class DriftDetection:
    status: str  # DETECTION_IN_PROGRESS, DETECTION_COMPLETE or DETECTION_FAILED
    stack_drift_status: str | None  # DRIFTED, IN_SYNC, UNKNOWN, NOT_CHECKED
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class WorkerGroup:
    name: str
    desired: int
    in_service: int
    min_size: int
    max_size: int
    # In-service workers protected from scale-in: each protects itself while it runs a task.
    busy: int = 0
