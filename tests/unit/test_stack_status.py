"""Every CloudFormation stack status lands in the phase the planner expects."""

from __future__ import annotations

import typing

import pytest
from mypy_boto3_cloudformation.literals import StackStatusType

from turbine_operator.core.observed.stack_status import StackPhase, phase_of

PHASES = {
    "CREATE_IN_PROGRESS": StackPhase.IN_PROGRESS,
    "CREATE_FAILED": StackPhase.CREATE_FAILED,
    "CREATE_COMPLETE": StackPhase.STABLE,
    "ROLLBACK_IN_PROGRESS": StackPhase.IN_PROGRESS,
    "ROLLBACK_FAILED": StackPhase.CREATE_FAILED,
    "ROLLBACK_COMPLETE": StackPhase.CREATE_FAILED,
    "DELETE_IN_PROGRESS": StackPhase.IN_PROGRESS,
    "DELETE_FAILED": StackPhase.DELETE_FAILED,
    "DELETE_COMPLETE": StackPhase.DELETED,
    "UPDATE_IN_PROGRESS": StackPhase.IN_PROGRESS,
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS": StackPhase.IN_PROGRESS,
    "UPDATE_COMPLETE": StackPhase.STABLE,
    # Only with DisableRollback, which the operator never sets; treated like a failed rollback.
    "UPDATE_FAILED": StackPhase.UPDATE_ROLLED_BACK,  # rollback disabled: the stack stays updatable
    "UPDATE_ROLLBACK_IN_PROGRESS": StackPhase.IN_PROGRESS,
    "UPDATE_ROLLBACK_FAILED": StackPhase.UPDATE_ROLLBACK_FAILED,
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS": StackPhase.IN_PROGRESS,
    "UPDATE_ROLLBACK_COMPLETE": StackPhase.UPDATE_ROLLED_BACK,
    "REVIEW_IN_PROGRESS": StackPhase.REVIEW,
    "IMPORT_IN_PROGRESS": StackPhase.IN_PROGRESS,
    "IMPORT_COMPLETE": StackPhase.STABLE,
    "IMPORT_ROLLBACK_IN_PROGRESS": StackPhase.IN_PROGRESS,
    "IMPORT_ROLLBACK_FAILED": StackPhase.UPDATE_ROLLBACK_FAILED,
    "IMPORT_ROLLBACK_COMPLETE": StackPhase.UPDATE_ROLLED_BACK,
}


def test_table_covers_every_status_cloudformation_documents() -> None:
    # The boto3 stubs list the StackStatus enum of the CloudFormation API model.
    assert set(PHASES) == set(typing.get_args(StackStatusType))


@pytest.mark.parametrize(("status", "phase"), PHASES.items())
def test_phase_of_every_stack_status(status: str, phase: StackPhase) -> None:
    assert phase_of(status) is phase


@pytest.mark.parametrize("status", ["SOMETHING_NEW_COMPLETE", "FUTURE_IN_PROGRESS", "", "create_complete"])
def test_unknown_status_means_wait_and_look_again(status: str) -> None:
    assert phase_of(status) is StackPhase.IN_PROGRESS
