"""When the follow-up timer looks at a stack again: every tick while busy, else once per resync."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from turbine_operator.core.scheduling import follow_up_due, parse_timestamp

NOW = datetime.datetime(2024, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)
RESYNC = 600.0
RECONCILING = [{"type": "Ready", "status": "False"}, {"type": "Reconciling", "status": "True"}]
READY = [{"type": "Ready", "status": "True"}]


def ago(seconds: float) -> str:
    return (NOW - datetime.timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize(
    ("status", "due"),
    [
        ({"conditions": RECONCILING, "lastSyncTime": ago(1)}, True),
        ({"conditions": RECONCILING}, True),
        ({"conditions": READY, "lastSyncTime": ago(RESYNC + 1)}, True),
        ({"conditions": READY, "lastSyncTime": ago(RESYNC)}, True),
        ({"conditions": READY, "lastSyncTime": ago(RESYNC - 1)}, False),
        ({"conditions": READY, "lastSyncTime": ago(0)}, False),
        ({"lastSyncTime": ago(5)}, False),
        ({"conditions": READY}, True),
        ({}, True),
        ({"conditions": None, "lastSyncTime": None}, True),
        ({"conditions": READY, "lastSyncTime": "not a time"}, True),
        ({"conditions": READY, "lastSyncTime": 1714564800}, True),
        # Clock skew puts the last sync in the future: wait for the next interval.
        ({"conditions": READY, "lastSyncTime": ago(-60)}, False),
        ({"conditions": READY, "lastSyncTime": "2024-05-01T11:59:00+00:00"}, False),
    ],
    ids=[
        "reconciling-recent",
        "reconciling-never-synced",
        "older-than-resync",
        "exactly-resync",
        "just-under-resync",
        "just-synced",
        "no-conditions-recent",
        "never-synced",
        "empty-status",
        "nulls",
        "unparseable",
        "not-a-string",
        "future",
        "offset-notation",
    ],
)
def test_follow_up_due(status: dict[str, Any], due: bool) -> None:
    assert follow_up_due(status, NOW, RESYNC) is due


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T12:00:00Z", NOW),
        ("2024-05-01T12:00:00+00:00", NOW),
        ("2024-05-01T14:00:00+02:00", NOW),
        ("yesterday", None),
        ("", None),
        (None, None),
        (42, None),
    ],
)
def test_parse_timestamp(value: object, expected: datetime.datetime | None) -> None:
    assert parse_timestamp(value) == expected
