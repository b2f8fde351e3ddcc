"""The LeaderElector against an in-memory Lease with the API server's optimistic concurrency."""

from __future__ import annotations

import threading
from typing import Any

from turbine_operator.adapters.kube.leases import LeaseTaken
from turbine_operator.core.errors import ClusterError
from turbine_operator.core.plan.leadership import LEASE_SECONDS, RENEW_DEADLINE_SECONDS, LeaseRecord
from turbine_operator.operations.fleet.leadership import LeaderElector


class MemoryLease:
    """One Lease: a write based on an outdated version is refused, as the API server refuses it (409)."""

    def __init__(self) -> None:
        self.record: LeaseRecord | None = None
        self.fail = False
        self._versions = iter(range(1, 10_000))

    def read(self) -> LeaseRecord | None:
        if self.fail:
            raise ClusterError("reading Lease: HTTP 503", transient=True)
        return self.record

    def write(
        self, based_on: LeaseRecord | None, holder: str, duration: float, transitions: int
    ) -> LeaseRecord:
        if self.fail:
            raise ClusterError("writing Lease: HTTP 503", transient=True)
        if (based_on.version if based_on else None) != (self.record.version if self.record else None):
            raise LeaseTaken(holder)
        self.record = LeaseRecord(holder, duration, str(next(self._versions)), transitions)
        return self.record


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _leads(elector: LeaderElector) -> bool:
    return elector.leading  # a call: mypy would keep a narrowed property across the calls between


def _elector(lease: MemoryLease, identity: str, clock: Clock) -> LeaderElector:
    leases: Any = lease
    return LeaderElector(leases, identity, clock=clock)


def test_the_first_replica_leads_and_the_second_waits_for_a_lease_duration() -> None:
    lease, clock = MemoryLease(), Clock()
    first, second = _elector(lease, "a", clock), _elector(lease, "b", clock)
    assert first.try_acquire(None) is None
    assert _leads(first)
    seen = second.try_acquire(None)
    assert not _leads(second)
    clock.now = LEASE_SECONDS - 1
    seen = second.try_acquire(seen)
    assert not _leads(second)
    clock.now = LEASE_SECONDS
    second.try_acquire(seen)
    assert _leads(second)
    assert lease.record is not None
    assert (lease.record.holder, lease.record.transitions) == ("b", 1)


def test_renewals_keep_the_standby_out() -> None:
    lease, clock = MemoryLease(), Clock()
    first, second = _elector(lease, "a", clock), _elector(lease, "b", clock)
    first.try_acquire(None)
    seen = None
    for second_of_run in range(0, 60, 4):
        clock.now = float(second_of_run)
        assert first.renew()
        seen = second.try_acquire(seen)
        assert not _leads(second)


def test_a_leader_that_cannot_renew_gives_up_before_the_deadline_passes() -> None:
    lease, clock = MemoryLease(), Clock()
    leader = _elector(lease, "a", clock)
    leader.try_acquire(None)
    lease.fail = True
    clock.now = RENEW_DEADLINE_SECONDS - 1
    assert leader.renew()  # a failed renewal within the deadline is retried
    clock.now = RENEW_DEADLINE_SECONDS
    assert not leader.renew()


def test_a_leader_whose_lease_was_taken_stops() -> None:
    lease, clock = MemoryLease(), Clock()
    leader = _elector(lease, "a", clock)
    leader.try_acquire(None)
    assert lease.record is not None
    lease.record = LeaseRecord("b", LEASE_SECONDS, "999")  # taken over while this one was stalled
    assert not leader.renew()
    assert not _leads(leader)


def test_keep_calls_on_lost_and_release_frees_the_lease() -> None:
    lease, clock = MemoryLease(), Clock()
    leader = _elector(lease, "a", clock)
    leader.try_acquire(None)
    leader.release()
    assert lease.record is not None
    assert lease.record.holder == ""
    assert _elector(lease, "b", clock).try_acquire(None) is None  # taken at once

    other = _elector(lease, "c", clock)
    lost = threading.Event()
    stop = threading.Event()
    lease.record = None
    other.try_acquire(None)
    assert _leads(other)
    lease.record = LeaseRecord("d", LEASE_SECONDS, "1000")
    other._renewed_at = -10.0  # renew at the next retry, not after RENEW_SECONDS
    thread = other.keep(stop, on_lost=lost.set)
    assert lost.wait(10)
    stop.set()
    thread.join(5)
