"""What the handlers share for the operator's lifetime, created by the startup handler."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import dataclasses
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import kopf

from turbine_operator.adapters.kube.cluster import ClusterObjects
from turbine_operator.adapters.kube.reference_watches import ReferenceWatches
from turbine_operator.adapters.metrics import MetricsServer
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.plan.scheduling import FollowUps
from turbine_operator.core.render.references import ReaderIndex
from turbine_operator.core.report.status_writes import PendingEchoes
from turbine_operator.operations.fleet.stack_listing import StackListing
from turbine_operator.operations.fleet.workers import WorkerWatcher
from turbine_operator.operations.stack.deletion import Deleter
from turbine_operator.operations.stack.drift import DriftDetector
from turbine_operator.operations.stack.outputs_config_map import OutputsPublisher
from turbine_operator.operations.stack.reconcile import Reconciler

RUNTIME_KEY = "turbine_runtime"


class ObjectLocks:
    """One lock per TurbineStack, so the timer and a change handler never act on a stack at once."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def _lock(self, uid: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(uid, threading.Lock())

    @contextlib.contextmanager
    def held(self, uid: str, *, wait: bool = True) -> Iterator[bool]:
        lock = self._lock(uid)
        acquired = lock.acquire(blocking=wait)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()

    def forget(self, uid: str) -> None:
        with self._guard:
            self._locks.pop(uid, None)


class Wakes:
    """Wakes a settled TurbineStack's waiting timer from any thread, with the reasons why.

    Settled stacks do not tick: each waits until something of its own is due or it is woken (its
    stack moved in the fleet listing, its worker figures changed, its spec or annotations changed).
    A wake for a stack that is not waiting right now is kept for its next wait.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: dict[str, asyncio.Event] = {}  # touched in the event loop only
        self._reasons: dict[str, set[str]] = {}

    def wake(self, uid: str, reason: str) -> None:
        with self._lock:
            self._reasons.setdefault(uid, set()).add(reason)
            loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._set, uid)

    def _set(self, uid: str) -> None:
        event = self._events.get(uid)
        if event is not None:
            event.set()

    async def wait(self, uid: str, stopped: kopf.DaemonStopped, seconds: float) -> frozenset[str]:
        """Waits until woken, stopped or `seconds` passed; returns the wake reasons (if any)."""
        with self._lock:
            self._loop = asyncio.get_running_loop()
            pending = bool(self._reasons.get(uid))
        event = self._events.setdefault(uid, asyncio.Event())
        if not pending and seconds > 0:
            woken = asyncio.ensure_future(event.wait())
            stopping = asyncio.ensure_future(_stopping(stopped))
            try:
                await asyncio.wait({woken, stopping}, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
                stopping.cancel()
        event.clear()
        with self._lock:
            return frozenset(self._reasons.pop(uid, ()))

    def forget(self, uid: str) -> None:
        self._events.pop(uid, None)
        with self._lock:
            self._reasons.pop(uid, None)


class Departures:
    """The views of TurbineStacks that left this replica's shard, by their label.

    The API server tells a shard that a TurbineStack no longer matches its selector with a DELETED watch
    event, carrying the object as it was before the change. kopf then forgets the object but not its
    running timers: they keep that last view, which never changes again, and would go on acting on it
    (a resync would apply the spec they saw last over the other shard's work). That view is known by its
    resourceVersion, the DELETED event's; a view of a TurbineStack that came back is a newer one.
    """

    def __init__(self) -> None:
        self._versions: dict[str, set[str]] = {}

    def departed(self, uid: str, resource_version: str) -> None:
        self._versions.setdefault(uid, set()).add(resource_version)

    def is_departed(self, uid: str, resource_version: str) -> bool:
        return resource_version in self._versions.get(uid, ())


async def _stopping(stopped: kopf.DaemonStopped) -> None:
    await stopped.wait()


@dataclasses.dataclass
class Runtime:
    settings: OperatorSettings
    reconciler: Reconciler
    cluster: ClusterObjects
    deleter: Deleter
    drift: DriftDetector
    workers: WorkerWatcher
    locks: ObjectLocks
    metrics: MetricsServer | None
    stop: threading.Event
    worker_thread: threading.Thread
    executor: concurrent.futures.Executor | None = None  # kopf's, shared with the synchronous handlers
    follow_ups: FollowUps = dataclasses.field(default_factory=FollowUps)
    wakes: Wakes = dataclasses.field(default_factory=Wakes)
    echoes: PendingEchoes = dataclasses.field(default_factory=PendingEchoes)
    departures: Departures = dataclasses.field(default_factory=Departures)
    listing: StackListing | None = None  # set at start-up, with the thread that runs it
    listing_thread: threading.Thread | None = None
    outputs: OutputsPublisher = dataclasses.field(default_factory=OutputsPublisher)
    readers: ReaderIndex = dataclasses.field(default_factory=ReaderIndex)
    # One watch per ConfigMap and Secret that `readers` holds (handlers/references.py); set at start-up.
    reference_watches: ReferenceWatches | None = None


def runtime_of(memo: kopf.Memo) -> Runtime:
    runtime: Any = memo.get(RUNTIME_KEY)
    if not isinstance(runtime, Runtime):
        raise kopf.TemporaryError("the operator is still starting up", delay=5)
    return runtime


async def in_worker_thread(runtime: Runtime, work: Callable[[], None]) -> None:
    """Runs blocking work (AWS calls) from an async handler on kopf's executor, as kopf runs sync handlers.

    Like kopf, it waits for the thread even when the handler is cancelled (at shutdown, or when the
    timer stops): an abandoned tick would lose what it started, such as a change set.
    """
    future = asyncio.get_running_loop().run_in_executor(
        runtime.executor, functools.partial(contextvars.copy_context().run, work)
    )
    cancelled: asyncio.CancelledError | None = None
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError as error:
            cancelled = error
    if cancelled is not None:
        raise cancelled
    future.result()
