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


@dataclasses.dataclass(frozen=True)
class StackMemory:
    """What the operator recorded in status about earlier reconciles."""

    applied_hash: str | None = None
    attempted_hash: str | None = None
    continued_rollback_hash: str | None = None
