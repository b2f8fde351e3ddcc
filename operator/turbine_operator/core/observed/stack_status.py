"""CloudFormation stack statuses, grouped by what the operator has to do about them."""

from __future__ import annotations

import enum


class StackPhase(enum.Enum):
    IN_PROGRESS = "in progress"
    STABLE = "stable"  # a completed create or update: changes can be applied
    REVIEW = "review"  # created by a CREATE change set that was never executed
    CREATE_FAILED = "create failed"  # can only be deleted
    UPDATE_ROLLED_BACK = "update rolled back"  # live at the previous template, updatable
    UPDATE_ROLLBACK_FAILED = "update rollback failed"  # needs ContinueUpdateRollback
    DELETE_FAILED = "delete failed"
    DELETED = "deleted"


_PHASES = {
    "CREATE_COMPLETE": StackPhase.STABLE,
    "UPDATE_COMPLETE": StackPhase.STABLE,
    "IMPORT_COMPLETE": StackPhase.STABLE,
    "REVIEW_IN_PROGRESS": StackPhase.REVIEW,
    "CREATE_FAILED": StackPhase.CREATE_FAILED,
    "ROLLBACK_COMPLETE": StackPhase.CREATE_FAILED,
    "ROLLBACK_FAILED": StackPhase.CREATE_FAILED,
    "UPDATE_ROLLBACK_COMPLETE": StackPhase.UPDATE_ROLLED_BACK,
    "IMPORT_ROLLBACK_COMPLETE": StackPhase.UPDATE_ROLLED_BACK,
    "UPDATE_ROLLBACK_FAILED": StackPhase.UPDATE_ROLLBACK_FAILED,
    "IMPORT_ROLLBACK_FAILED": StackPhase.UPDATE_ROLLBACK_FAILED,
    # Only with rollback disabled: the stack stays updatable, so it is treated like a rolled-back update.
    "UPDATE_FAILED": StackPhase.UPDATE_ROLLED_BACK,
    "DELETE_FAILED": StackPhase.DELETE_FAILED,
    "DELETE_COMPLETE": StackPhase.DELETED,
}


def phase_of(status: str) -> StackPhase:
    if status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        return StackPhase.IN_PROGRESS
    try:
        return _PHASES[status]
    except KeyError:
        # An unknown future status is safest treated as "wait and look again".
        return StackPhase.IN_PROGRESS
