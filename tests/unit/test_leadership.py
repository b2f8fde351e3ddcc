"""Leader election: a standby takes the Lease only after it went unrenewed for a lease duration by its own
clock, and a leader gives up before that: two replicas are never both active."""

from __future__ import annotations

import pytest

from turbine_operator.core.plan.leadership import (
    LEASE_SECONDS,
    RENEW_DEADLINE_SECONDS,
    LeaseRecord,
    lost,
    may_take,
    observe,
    transitions_after,
)

HELD = LeaseRecord(holder="replica-a", duration_seconds=15.0, version="100", transitions=2)


def test_a_free_or_released_or_own_lease_is_taken_at_once() -> None:
    assert may_take(None, "replica-b", 0.0)
    released = LeaseRecord(holder="", duration_seconds=1.0, version="7")
    assert may_take(observe(None, released, 0.0), "replica-b", 0.0)
    assert may_take(observe(None, HELD, 0.0), "replica-a", 0.0)


def test_a_held_lease_is_taken_only_after_a_lease_duration_without_renewal() -> None:
    seen = observe(None, HELD, 1000.0)
    assert not may_take(seen, "replica-b", 1014.9)
    assert may_take(seen, "replica-b", 1015.0)


def test_a_renewal_restarts_the_standbys_clock() -> None:
    seen = observe(None, HELD, 1000.0)
    renewed = LeaseRecord(holder="replica-a", duration_seconds=15.0, version="101", transitions=2)
    seen = observe(seen, renewed, 1010.0)
    assert not may_take(seen, "replica-b", 1020.0)
    assert may_take(seen, "replica-b", 1025.0)
    # The same version seen again keeps the first sighting.
    assert observe(seen, renewed, 1024.0).since == 1010.0


def test_the_leader_stops_before_a_standby_may_start() -> None:
    # Renewed last at t=0; by the standby's clock the lease runs until at least LEASE_SECONDS.
    assert RENEW_DEADLINE_SECONDS < LEASE_SECONDS
    assert not lost(0.0, RENEW_DEADLINE_SECONDS - 0.1)
    assert lost(0.0, RENEW_DEADLINE_SECONDS)


@pytest.mark.parametrize(
    ("record", "identity", "transitions"),
    [(None, "replica-b", 0), (HELD, "replica-a", 2), (HELD, "replica-b", 3)],
)
def test_transitions_count_changes_of_holder(
    record: LeaseRecord | None, identity: str, transitions: int
) -> None:
    assert transitions_after(record, identity) == transitions
