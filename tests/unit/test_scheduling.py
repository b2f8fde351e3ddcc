"""When the follow-up timer looks at a stack again: every tick while busy, else once per resync."""

from __future__ import annotations

import collections
import datetime
from typing import Any

import pytest

from turbine_operator.core.plan.drift import detection_read_wait, resource_drift_wait
from turbine_operator.core.plan.scheduling import (
    FollowUps,
    follow_up_delay,
    follow_up_due,
    parse_timestamp,
    settled_wait,
    spread_offset,
)

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


# Operations in flight: looked at closely while young, then less often, never less than the poll interval.


@pytest.mark.parametrize(
    ("age", "delay"),
    [(0.0, 0.5), (3.9, 0.5), (8.0, 1.0), (60.0, 7.5), (120.0, 15.0), (1200.0, 15.0)],
)
def test_an_operation_is_followed_closely_while_young(age: float, delay: float) -> None:
    assert follow_up_delay(age, 15.0) == delay


def test_a_short_poll_interval_caps_every_delay() -> None:
    assert follow_up_delay(3600.0, 0.5) == 0.5


def _looks(follow_ups: FollowUps, start: float, until: float, generation: int = 1) -> list[float]:
    """The times a follow-up timer looks, waiting out `until_due` before each look as the handler does."""
    looks, now = [], start
    while now <= until:
        now += follow_ups.until_due("uid", generation, now, 15.0)
        follow_ups.looked("uid", generation, now)
        looks.append(now)
    return looks


def test_looks_at_an_operation_follow_its_age() -> None:
    looks = _looks(FollowUps(), 0.0, 1200.0)
    assert looks[:10] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]  # every 0.5 s while young
    assert looks[-1] - looks[-2] == 15.0  # then every poll interval
    # A 20-minute creation: about 30 more looks than the 80 of a fixed 15 s interval.
    assert 80 < len(looks) < 125


def test_a_spec_change_in_flight_or_a_settled_stack_starts_young_again() -> None:
    follow_ups = FollowUps()
    assert follow_ups.until_due("uid", 1, 0.0, 15.0) == 0.0  # never looked at: due at once
    _looks(follow_ups, 0.0, 600.0)
    assert follow_ups.until_due("uid", 1, 601.0, 15.0) > 10.0  # an old operation: a long wait
    assert follow_ups.until_due("uid", 2, 601.0, 15.0) == 0.0  # a new generation: due at once
    follow_ups.looked("uid", 2, 601.0)
    assert follow_ups.until_due("uid", 2, 601.1, 15.0) == pytest.approx(0.4)  # and young
    follow_ups.forget("uid")
    assert follow_ups.until_due("uid", 2, 601.2, 15.0) == 0.0


def test_a_fleets_settled_timers_are_spread_over_the_interval() -> None:
    offsets = [spread_offset(f"uid-{index}", 15.0) for index in range(1000)]
    assert all(7.5 <= offset < 22.5 for offset in offsets)
    assert spread_offset("uid-1", 15.0) == spread_offset("uid-1", 15.0)  # stable across restarts
    # Spread evenly enough: no second of the interval takes more than twice its share.
    per_second = collections.Counter(int(offset) for offset in offsets)
    assert max(per_second.values()) < 2 * 1000 / 15


# A settled stack's timer waits, at no cost, until the first of its own looks is due.


@pytest.mark.parametrize(
    ("status", "drift", "wait"),
    [
        ({"conditions": READY, "lastSyncTime": ago(100)}, None, RESYNC - 100),
        ({"conditions": READY, "lastSyncTime": ago(100)}, 30.0, 30.0),  # drift is due first
        ({"conditions": READY, "lastSyncTime": ago(100)}, 0.0, 0.0),  # a drift check asked for
        ({"conditions": READY, "lastSyncTime": ago(700)}, 30.0, 0.0),  # the resync is overdue
        ({"conditions": READY}, None, 0.0),  # never synced
        ({"conditions": RECONCILING, "lastSyncTime": ago(1)}, None, 0.0),
        # spec.airflow.dags: the report is read every DAGS_CHECK_SECONDS (120 s).
        ({"conditions": READY, "lastSyncTime": ago(100), "dags": {"checkedTime": ago(100)}}, None, 20.0),
        # Users published and not reported yet: every tick, for a while.
        (
            {
                "conditions": READY,
                "lastSyncTime": ago(100),
                "airflowUsers": {"version": "v2", "appliedVersion": "v1", "publishedTime": ago(5)},
            },
            None,
            0.0,
        ),
    ],
)
def test_settled_wait_is_the_first_due_look(status: dict[str, Any], drift: float | None, wait: float) -> None:
    assert settled_wait(status, NOW, RESYNC, drift) == pytest.approx(wait)


@pytest.mark.parametrize(
    ("drift", "requested", "wait"),
    [
        ({}, None, 0.0),  # never checked
        ({"lastCheckTime": ago(100)}, None, 3500.0),
        ({"lastCheckTime": ago(4000)}, None, 0.0),
        ({"lastCheckTime": ago(100), "lastRequest": "a"}, "a", 3500.0),  # that request was served
        ({"lastCheckTime": ago(100), "lastRequest": "a"}, "b", 0.0),  # a new one
    ],
)
def test_resource_drift_wait(drift: dict[str, Any], requested: str | None, wait: float) -> None:
    assert resource_drift_wait(drift, NOW, 3600.0, requested) == pytest.approx(wait)


def test_a_detection_in_flight_is_read_at_doubling_gaps() -> None:
    poll = 15.0  # the first read two poll intervals after the start, then the gap doubles
    assert detection_read_wait(started=0.0, last_read=None, now=10.0, poll_seconds=poll) == 20.0
    assert detection_read_wait(started=0.0, last_read=None, now=31.0, poll_seconds=poll) == 0.0
    assert detection_read_wait(started=0.0, last_read=30.0, now=30.0, poll_seconds=poll) == 30.0
    assert detection_read_wait(started=0.0, last_read=60.0, now=60.0, poll_seconds=poll) == 60.0
    assert detection_read_wait(started=0.0, last_read=120.0, now=150.0, poll_seconds=poll) == 90.0
