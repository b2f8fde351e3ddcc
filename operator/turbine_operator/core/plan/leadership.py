"""Leader election on a coordination.k8s.io Lease: which replica may act, decided from what it observed.

Hot standby, the way Kubernetes's own controllers do it (client-go's leaderelection): the active replica
renews a Lease every few seconds; a standby takes it over only when the Lease has not changed for a
whole lease duration *by the standby's own clock*, so clock skew between nodes cannot make it early.
The active replica stops acting (the process exits) when it could not renew within the renew deadline,
which is shorter than the lease duration: by the time a standby may take over, the old leader has
stopped. Two replicas are never active at once unless a process stalls longer than that margin.
"""

from __future__ import annotations

import dataclasses

DEFAULT_LEASE_NAME = "turbine-operator"
LEASE_SECONDS = 15.0  # how long a lease nobody renews keeps others out
RENEW_DEADLINE_SECONDS = 10.0  # the leader gives up when it could not renew for this long
RETRY_SECONDS = 2.0  # how often a standby looks, and a leader renews at the latest every this long...
RENEW_SECONDS = 4.0  # ...though it renews every this long when all is well


@dataclasses.dataclass(frozen=True)
class LeaseRecord:
    """What a Lease says (spec.holderIdentity, spec.leaseDurationSeconds, metadata.resourceVersion)."""

    holder: str
    duration_seconds: float
    version: str
    transitions: int = 0


@dataclasses.dataclass(frozen=True)
class Observation:
    """A record and when (monotonic, local) this replica first saw it unchanged."""

    record: LeaseRecord
    since: float


def observe(previous: Observation | None, record: LeaseRecord, now: float) -> Observation:
    """Keeps the first sighting of an unchanged record; a renewal (a new version) restarts the clock."""
    if previous is not None and previous.record.version == record.version:
        return previous
    return Observation(record, now)


def may_take(observation: Observation | None, identity: str, now: float) -> bool:
    """Whether this replica may write itself into the Lease as its holder.

    Free (no Lease, or released with an empty holder), already ours, or unchanged for a whole lease
    duration since we first saw it: its holder stopped renewing.
    """
    if observation is None:
        return True
    record = observation.record
    if not record.holder or record.holder == identity:
        return True
    return now - observation.since >= record.duration_seconds


def transitions_after(record: LeaseRecord | None, identity: str) -> int:
    """spec.leaseTransitions once `identity` holds the Lease: it counts changes of holder."""
    if record is None:
        return 0
    return record.transitions if record.holder == identity else record.transitions + 1


def lost(last_renewed: float, now: float) -> bool:
    """Whether the leader must stop: it could not renew within the renew deadline."""
    return now - last_renewed >= RENEW_DEADLINE_SECONDS
