"""Only what changes a TurbineStack's status is written; a stack in flight's sync time alone is not."""

from __future__ import annotations

from typing import Any

from turbine_operator.core.report.status_writes import (
    ECHO_WAIT_SECONDS,
    PendingEchoes,
    changes,
    status_writes,
)

RECONCILING = [{"type": "Reconciling", "status": "True", "reason": "StackOperationInProgress"}]
READY = [{"type": "Ready", "status": "True", "reason": "StackReady"}]


def _in_flight(**fields: Any) -> dict[str, Any]:
    return {"conditions": RECONCILING, "stackStatus": "CREATE_IN_PROGRESS", "lastSyncTime": "T1", **fields}


def test_a_look_that_finds_a_stack_in_flight_as_it_was_writes_nothing() -> None:
    look = {**_in_flight(), "lastSyncTime": "T2", "pendingChangeSet": None, "outputs": {}}

    assert status_writes(_in_flight(), look) == {}


def test_a_look_that_finds_the_stack_moved_writes_what_moved_and_the_sync_time() -> None:
    look = _in_flight(stackStatus="CREATE_COMPLETE", lastSyncTime="T2", conditions=READY)

    assert status_writes(_in_flight(), look) == {
        "stackStatus": "CREATE_COMPLETE",
        "lastSyncTime": "T2",
        "conditions": READY,
    }


def test_a_settled_stack_records_every_sync_time() -> None:
    """Its resync is scheduled from lastSyncTime (core/plan/scheduling.py)."""
    settled = {"conditions": READY, "lastSyncTime": "T1"}

    assert status_writes(settled, {**settled, "lastSyncTime": "T2"}) == {"lastSyncTime": "T2"}


def test_a_look_that_settles_the_stack_writes_its_sync_time() -> None:
    look = _in_flight(conditions=READY, lastSyncTime="T2")

    assert status_writes(_in_flight(), look) == {"conditions": READY, "lastSyncTime": "T2"}


def test_nested_maps_keep_only_their_changed_keys() -> None:
    previous = {"drift": {"inSync": True, "specInSync": True, "lastCheckTime": "T0"}}
    patch = {"drift": {"inSync": True, "specInSync": False}}

    assert changes(previous, patch) == {"drift": {"specInSync": False}}


def test_a_null_removes_only_what_is_there() -> None:
    previous = {"outputs": {"A": "1", "B": "2"}, "stackStatusReason": "why"}
    patch = {"outputs": {"A": "1", "B": None, "C": None}, "stackStatusReason": None, "pendingChangeSet": None}

    assert changes(previous, patch) == {"outputs": {"B": None}, "stackStatusReason": None}


def test_a_map_where_there_was_none_is_written_without_its_nulls() -> None:
    assert changes({"workers": None}, {"workers": {"desired": 2, "busy": None}}) == {
        "workers": {"desired": 2}
    }
    assert changes({}, {"outputs": {}}) == {}


def test_a_view_that_does_not_show_the_last_write_is_behind_until_it_does() -> None:
    echoes = PendingEchoes()
    echoes.wrote("u", {"conditions": READY, "lastSyncTime": "T2"}, now=100.0)

    assert echoes.behind("u", _in_flight(), now=100.5)  # the write's watch event has not arrived
    assert not echoes.behind("u", _in_flight(conditions=READY, lastSyncTime="T2"), now=101.0)
    assert not echoes.behind("u", _in_flight(), now=101.5)  # caught up once: the record is gone


def test_a_write_that_never_shows_holds_looks_back_only_for_a_while() -> None:
    echoes = PendingEchoes()
    echoes.wrote("u", {"stackStatus": "CREATE_COMPLETE"}, now=100.0)

    assert echoes.behind("u", _in_flight(), now=100.0 + ECHO_WAIT_SECONDS - 0.1)
    assert not echoes.behind("u", _in_flight(), now=100.0 + ECHO_WAIT_SECONDS)


def test_nothing_written_or_forgotten_is_never_behind() -> None:
    echoes = PendingEchoes()
    echoes.wrote("u", {}, now=100.0)
    assert not echoes.behind("u", _in_flight(), now=100.0)

    echoes.wrote("v", {"stackStatus": "CREATE_COMPLETE"}, now=100.0)
    echoes.forget("v")
    assert not echoes.behind("v", _in_flight(), now=100.0)
