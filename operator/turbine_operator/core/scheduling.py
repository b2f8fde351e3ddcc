"""When the follow-up timer should look at a stack again (so idle stacks cost no AWS calls)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from turbine_operator.core.conditions import is_reconciling


def parse_timestamp(value: object) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def follow_up_due(status: Mapping[str, Any], now: datetime.datetime, resync_seconds: float) -> bool:
    """In-flight work is followed on every tick; settled stacks only once per resync interval."""
    if is_reconciling(status.get("conditions") or []):
        return True
    last = parse_timestamp(status.get("lastSyncTime"))
    return last is None or (now - last).total_seconds() >= resync_seconds
