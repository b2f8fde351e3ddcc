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

from turbine_operator.adapters.cluster import ClusterObjects
from turbine_operator.adapters.metrics import MetricsServer
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.references import SourceKind
from turbine_operator.core.scheduling import FollowUps
from turbine_operator.operations.deletion import Deleter
from turbine_operator.operations.drift import DriftDetector
from turbine_operator.operations.outputs_config_map import OutputsPublisher
from turbine_operator.operations.reconcile import Reconciler
from turbine_operator.operations.workers import WorkerWatcher

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
    outputs: OutputsPublisher = dataclasses.field(default_factory=OutputsPublisher)
    # Last seen resourceVersion of each referenced ConfigMap and Secret: (kind, namespace, name) -> version.
    reference_versions: dict[tuple[SourceKind, str, str], str] = dataclasses.field(default_factory=dict)


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
