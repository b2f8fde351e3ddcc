"""Which settled TurbineStacks need a look, from one listing of a region's stacks.

A settled stack changes outside the operator only through CloudFormation, and every such change
moves the stack's status or its last-updated time: an update from the console or the CLI, a
rollback, a deletion. One paginated ListStacks per region and role every listing interval sees
that for the whole fleet, where a DescribeStacks per stack per resync cost six calls an hour each
(https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ListStacks.html: a page
holds up to 1 MB of summaries, a few thousand stacks). What a listing cannot see (termination
protection, an s3Url template) waits for the stack's own resync, on a longer interval.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from turbine_operator.core.observed.observations import StackSummary

# Every status but DELETE_COMPLETE: deleted stacks stay listed for 90 days and would only fill pages.
LIVE_STATUSES = (
    "CREATE_IN_PROGRESS",
    "CREATE_FAILED",
    "CREATE_COMPLETE",
    "ROLLBACK_IN_PROGRESS",
    "ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE",
    "DELETE_IN_PROGRESS",
    "DELETE_FAILED",
    "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_COMPLETE",
    "UPDATE_FAILED",
    "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_COMPLETE",
    "REVIEW_IN_PROGRESS",
    "IMPORT_IN_PROGRESS",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_IN_PROGRESS",
    "IMPORT_ROLLBACK_FAILED",
    "IMPORT_ROLLBACK_COMPLETE",
)


@dataclasses.dataclass(frozen=True)
class ListedStack:
    """A settled TurbineStack's stack as its status last recorded it, and where to list it."""

    region: str
    role_arn: str | None
    stack_id: str
    status: str
    last_updated: str | None


def listed_stack(status: Mapping[str, object], role_arn: str | None) -> ListedStack | None:
    """What a listing compares for this TurbineStack; None while it has no stack to list."""
    stack_id, region = status.get("stackId"), status.get("region")
    stack_status = status.get("stackStatus")
    if not isinstance(stack_id, str) or not isinstance(region, str) or not isinstance(stack_status, str):
        return None
    updated = status.get("stackLastUpdatedTime")
    last_updated = updated if isinstance(updated, str) else None
    return ListedStack(region, role_arn, stack_id, stack_status, last_updated)


def moved(recorded: ListedStack, summary: StackSummary | None) -> bool:
    """Whether the stack changed since the TurbineStack's status recorded it (None: it is gone)."""
    if summary is None:
        return True
    if summary.status != recorded.status:
        return True
    # A status written before the operator recorded last-updated times has none: not a move by itself.
    return recorded.last_updated is not None and summary.last_updated != recorded.last_updated
