"""When a stack left in DELETE_FAILED is sent DeleteStack again: at doubling gaps, capped.

A stack ends in DELETE_FAILED when some resource could not be deleted (a bucket that is not empty, a
resource another stack still uses); DeleteStack may be sent again, and only for a stack in DELETE_FAILED may
it retain the resources that failed (API_DeleteStack, RetainResources,
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteStack.html). Most causes need a
person, so retrying at every poll interval only repeats the failure; a doubling gap still notices a fix
within RETRY_CAP, and the status says when the next attempt is due. Each retry is a new request with its own
ClientRequestToken, numbered by `sent`, so a retry of the same request (after a lost reply) repeats it.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from turbine_operator.core.plan.scheduling import parse_timestamp

# Gaps from one DeleteStack to the next: 1, 2, 4, ... minutes, never more than 30. A deletion takes minutes
# itself, so the first few retries follow each failure at once.
FIRST_GAP = datetime.timedelta(minutes=1)
RETRY_CAP = datetime.timedelta(minutes=30)
RETRIES_FIELD = "deleteRetries"
NEXT_ATTEMPT_FIELD = "nextDeleteAttemptTime"


@dataclasses.dataclass(frozen=True)
class DeleteRetries:
    sent: int  # DeleteStack requests sent again after DELETE_FAILED
    next_attempt: datetime.datetime | None  # not before then


def remembered(status: Mapping[str, Any]) -> DeleteRetries:
    sent = status.get(RETRIES_FIELD)
    return DeleteRetries(
        sent=sent if isinstance(sent, int) and sent > 0 else 0,
        next_attempt=parse_timestamp(status.get(NEXT_ATTEMPT_FIELD)),
    )


def wait_before_retry(retries: DeleteRetries, now: datetime.datetime) -> datetime.timedelta | None:
    """How long until the next DeleteStack may go, or None when it is due now."""
    if retries.next_attempt is None or retries.next_attempt <= now:
        return None
    return retries.next_attempt - now


def after_retry(retries: DeleteRetries, now: datetime.datetime) -> DeleteRetries:
    """The memory once one more DeleteStack was sent: the gap to the next doubles each time."""
    sent = retries.sent + 1
    doublings = min(sent - 1, RETRY_CAP // FIRST_GAP)  # past the cap already; a bigger power overflows
    gap = min(FIRST_GAP * 2**doublings, RETRY_CAP)
    return DeleteRetries(sent=sent, next_attempt=now + gap)


def status_fields(retries: DeleteRetries, timestamp: str) -> dict[str, Any]:
    return {RETRIES_FIELD: retries.sent, NEXT_ATTEMPT_FIELD: timestamp}
