"""Which ConfigMaps and Secrets the operator watches, and what one watch's events mean.

The operator watches each referenced object by name (a `metadata.name` field selector in its namespace),
never a whole kind: what it costs follows the references, not the number of Secrets in the cluster, and
an unrelated Secret never reaches it. The edge (adapters/kube/reference_watches.py) runs the watches; these
decisions are pure so that they can be tested without a cluster.
"""

from __future__ import annotations

import dataclasses

from turbine_operator.core.render.references import SourceKind

WatchKey = tuple[str, SourceKind, str]  # (namespace, kind, object name), as ReaderIndex keys them


@dataclasses.dataclass(frozen=True)
class WatchPlan:
    start: frozenset[WatchKey]
    stop: frozenset[WatchKey]


def plan_watches(wanted: frozenset[WatchKey], running: frozenset[WatchKey]) -> WatchPlan:
    """The watches to start and to stop so that exactly the objects some TurbineStack reads are watched.

    One watch per object, however many TurbineStacks read it: its readers are looked up when it changes.
    """
    return WatchPlan(start=wanted - running, stop=running - wanted)


class ObjectVersion:
    """What one watch knows of its object: the version it last saw (`seen`, None: the object does not
    exist), the resourceVersion to resume watching from (None: from now), and whether it must read the
    object before it watches again (`must_read`: it may have missed events).

    `known` is False until a read or a watch event told the version: a watch whose first read failed
    treats its first answer as a change, since a TurbineStack may have read an older version meanwhile.
    A reconcile too many costs a look; a missed change would wait for the next resync.
    """

    def __init__(self, version: str | None, *, known: bool = True) -> None:
        self.seen = version
        self.resume_from = version
        self.known = known
        self.must_read = not known

    @classmethod
    def unknown(cls) -> ObjectVersion:
        """A watch whose first read failed: it reads the object before it watches."""
        return cls(None, known=False)

    def event(self, event_type: str, resource_version: str) -> bool:
        """Whether a watch event is a change the object's readers must reconcile for.

        Bookmarks only move where to resume. A watch started without a version (the object did not
        exist) opens with an ADDED event for an object that exists by then: a change only if it is new.
        """
        if resource_version:
            self.resume_from = resource_version
        if event_type == "BOOKMARK":
            return False
        return self._now(None if event_type == "DELETED" else resource_version)

    def read(self, version: str | None) -> bool:
        """The object read again (after a broken or expired watch): a change if its version moved.

        The watch resumes from the version read; an absent object is watched from now, and the ADDED
        event of one created since the read tells it apart (see `event`).
        """
        self.resume_from, self.must_read = version, False
        return self._now(version)

    def lost(self) -> None:
        """The watch broke where events may have been dropped (the version expired, the connection
        failed): read the object again before watching."""
        self.must_read = True

    def _now(self, version: str | None) -> bool:
        changed = not self.known or version != self.seen
        self.seen, self.known = version, True
        return changed
