"""TurbineStack handlers: thin wiring from kopf causes to the reconcile, drift and delete operations."""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any

import kopf

from turbine_operator.adapters.metrics import RECONCILE_DURATION, RECONCILES, STACKS
from turbine_operator.adapters.settings import poll_interval_from_environment, sharded_from_environment
from turbine_operator.core.api.conditions import is_reconciling
from turbine_operator.core.errors import SpecError
from turbine_operator.core.naming import API_GROUP, API_VERSION, PLURAL
from turbine_operator.core.plan.scheduling import (
    FIRST_FOLLOW_UP_SECONDS,
    follow_up_due,
    settled_wait,
    spread_offset,
)
from turbine_operator.core.plan.stack_listing import listed_stack
from turbine_operator.core.report.reporting import Announcement
from turbine_operator.core.report.status_writes import status_writes
from turbine_operator.handlers.references import watch_what_is_read
from turbine_operator.handlers.runtime import Runtime, in_worker_thread, runtime_of
from turbine_operator.operations.fleet import status_effects
from turbine_operator.operations.fleet.stack_listing import MOVED
from turbine_operator.operations.turbine_stack import Outcome, StackResource

RESOURCE = (API_GROUP, API_VERSION, PLURAL)
CHANGED = "changed"  # a wake reason: the change handlers ran
ECHO_POLL_SECONDS = 0.1
FOLLOW_UP_TICK_SECONDS = min(FIRST_FOLLOW_UP_SECONDS, poll_interval_from_environment())


def _resource(body: kopf.Body) -> StackResource:
    return StackResource(
        namespace=str(body.metadata.namespace),
        name=str(body.metadata.name),
        uid=str(body.metadata.uid),
        generation=int(body.metadata.get("generation", 0)),
        spec=dict(body.spec),
        status=dict(body.status),
        annotations=dict(body.metadata.annotations),
    )


def _post(body: kopf.Body, announcement: Announcement) -> None:
    post = kopf.warn if announcement.warning else kopf.info
    post(body, reason=announcement.reason, message=announcement.message)


def _write(runtime: Runtime, outcome: Outcome, body: kopf.Body, patch: kopf.Patch) -> None:
    if outcome.announcement is not None:
        _post(body, outcome.announcement)
    _write_status(runtime, body, patch, outcome.status)


def _write_status(runtime: Runtime, body: kopf.Body, patch: kopf.Patch, status: Mapping[str, Any]) -> None:
    written = status_writes(body.status, status)
    for key, value in written.items():
        patch.status[key] = value
    runtime.echoes.wrote(str(body.metadata.uid), written, time.monotonic())


async def _current(runtime: Runtime, body: kopf.Body, stopped: kopf.DaemonStopped) -> bool:
    """Waits until kopf's view of the object has this operator's last status write (core.report.status_writes
    PendingEchoes); False when the timer was stopped meanwhile, or its view is of a TurbineStack that left
    this shard."""
    uid = str(body.metadata.uid)
    if runtime.departures.is_departed(uid, str(body.metadata.get("resourceVersion", ""))):
        # The TurbineStack left this shard (Departures): kopf forgot it but not this timer. Parked until the
        # operator exits, since kopf would otherwise call it again every interval.
        await stopped.wait()
        return False
    while runtime.echoes.behind(uid, body.status, time.monotonic()):
        await stopped.wait(ECHO_POLL_SECONDS)
        if stopped:
            return False
    return True


def _apply(
    runtime: Runtime, resource: StackResource, outcome: Outcome, body: kopf.Body, patch: kopf.Patch
) -> None:
    """Writes the outcome (what of it changes the status), lets the metrics and the worker watcher learn from
    the new status, and publishes the outputs it holds (spec.outputsConfigMap)."""
    if outcome.announcement is not None:
        _post(body, outcome.announcement)
    written = dict(outcome.status)
    status = status_effects.merged_status(resource.status, outcome.status)
    status_effects.observe(resource, status, STACKS, runtime.workers, runtime.settings.default_region)
    published = runtime.outputs.publish(resource, status, runtime.cluster, runtime.settings.default_region)
    if published is not None:
        if published.conditions is not None:
            written["conditions"] = published.conditions
        for announcement in published.announcements:
            _post(body, announcement)
    _write_status(runtime, body, patch, written)


def _reconcile(trigger: str, runtime: Runtime, resource: StackResource) -> Outcome:
    started = time.monotonic()
    try:
        outcome = runtime.reconciler.reconcile(resource)
    except Exception:
        RECONCILES.labels(trigger, "error").inc()
        raise
    RECONCILE_DURATION.labels(trigger).observe(time.monotonic() - started)
    RECONCILES.labels(trigger, "requeued" if outcome.retry_after else "success").inc()
    return outcome


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
def reconcile(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, reason: str, **_: Any) -> None:
    runtime = runtime_of(memo)
    resource = _resource(body)
    _record_readers(runtime, resource)
    with runtime.locks.held(resource.uid):
        outcome = _reconcile(str(reason), runtime, resource)
        _apply(runtime, resource, outcome, body, patch)  # it writes the outputs ConfigMap: under the lock
    # This was a look: the follow-up timer takes the next one after the first gap, not at once. A stack
    # whose change set was just created is not visible yet (DescribeStacks is eventually consistent):
    # an immediate look found no stack and asked for the change set again, a retry that cost three calls.
    runtime.follow_ups.looked(resource.uid, resource.generation, time.monotonic())
    if resource.suspended and runtime.listing is not None:
        runtime.listing.forget(resource.uid)  # from now on, not even a share of a listing
    # A settled stack's timer waits: a changed annotation (a drift check asked for) must not wait with it.
    runtime.wakes.wake(resource.uid, CHANGED)


def _record_readers(runtime: Runtime, resource: StackResource) -> None:
    """Records which ConfigMaps and Secrets the spec reads, and watches them, before the reconcile reads them,
    so that a change made after that read reconciles again (handlers/references.py)."""
    try:
        spec = resource.parsed_spec(runtime.settings.default_region)
    except SpecError:
        spec = None  # it stalls until it is edited, which runs this handler again
    runtime.readers.record(resource.uid, resource.namespace, resource.name, spec)
    watch_what_is_read(runtime)


def _in_flight(status: kopf.Status, **_: Any) -> bool:
    return is_reconciling(status.get("conditions") or [])


def _settled(status: kopf.Status, **_: Any) -> bool:
    # Not before the first reconcile, which writes conditions: a new TurbineStack's change handler runs at
    # once, and a settled timer started and stopped again a moment later cost kopf two task changes each.
    return bool(status.get("conditions")) and not _in_flight(status)


# Two timers with exclusive filters, so kopf runs at most one per TurbineStack: a close one while an
# operation is in flight, a slow one once it settled (none before the first reconcile). kopf starts and
# stops them as the status changes (a stop cancels a wait under way).
@kopf.timer(*RESOURCE, interval=FOLLOW_UP_TICK_SECONDS, when=_in_flight)
async def follow_operation(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    """Follows an operation in flight as closely as its age warrants (core/plan/scheduling.py).

    The handler waits out the time until its next look itself: a kopf tick costs about a millisecond
    of CPU, which a fleet of stacks in flight would otherwise spend many times over between looks.
    The wait ends early when kopf stops the timer (the stack settled, the TurbineStack is being
    deleted, the operator exits): kopf waits for a timer's handler before it deletes or settles.
    """
    runtime = runtime_of(memo)
    stopped: kopf.DaemonStopped = kwargs["stopped"]  # kopf passes it to timers, though TimerFn omits it
    uid, follow_ups = str(body.metadata.uid), runtime.follow_ups
    remaining = follow_ups.until_due(uid, _generation(body), time.monotonic(), runtime.settings.poll_interval)
    if remaining:
        await stopped.wait(remaining)  # body is kopf's live view: it is current when the wait ends
        if stopped:
            return
    if not await _current(runtime, body, stopped):
        return
    follow_ups.looked(uid, _generation(body), time.monotonic())
    if runtime.listing is not None:
        runtime.listing.forget(uid)  # in flight, the stack moves by itself: the listing is for settled ones
    resource = _resource(body)
    await in_worker_thread(runtime, lambda: _follow(runtime, resource, body, patch, stopped, settled=False))


def _generation(body: kopf.Body) -> int:
    return int(body.metadata.get("generation", 0))


def _spread(body: kopf.Body, **_: Any) -> float:
    """Each TurbineStack's first settled look at its own offset within the interval, so the timers of a
    fleet that started together do not all fire in the same second."""
    return spread_offset(str(body.metadata.uid), poll_interval_from_environment())


# The settled timer's interval is only the shortest gap between two looks: each look first waits, at no
# cost, until something of this stack's is due (core/plan/scheduling.py settled_wait) or it is woken (Wakes).
@kopf.timer(*RESOURCE, interval=poll_interval_from_environment(), initial_delay=_spread, when=_settled)
async def follow(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, **kwargs: Any) -> None:
    """Re-checks settled stacks when due or woken: resync, drift detection, worker figures."""
    runtime = runtime_of(memo)
    stopped: kopf.DaemonStopped = kwargs["stopped"]
    uid = str(body.metadata.uid)
    runtime.follow_ups.forget(uid)
    if not await _current(runtime, body, stopped):
        return
    resource = _resource(body)
    if runtime.listing is not None:  # a suspended stack costs no AWS call, not even a share of a listing
        listed = None if resource.suspended else listed_stack(resource.status, resource.spec.get("roleArn"))
        runtime.listing.watch(uid, listed)
    wait = settled_wait(
        resource.status,
        datetime.datetime.now(datetime.UTC),
        runtime.settings.resync_interval,
        runtime.drift.wait(resource),
    )
    reasons = await runtime.wakes.wait(uid, stopped, wait)
    if stopped or not await _current(runtime, body, stopped):
        return
    resource = _resource(body)  # body is kopf's live view: it is current when the wait ends
    moved = MOVED in reasons
    await in_worker_thread(
        runtime, lambda: _follow(runtime, resource, body, patch, stopped, settled=True, moved=moved)
    )


def _follow(
    runtime: Runtime,
    resource: StackResource,
    body: kopf.Body,
    patch: kopf.Patch,
    stopped: kopf.DaemonStopped,
    *,
    settled: bool,
    moved: bool = False,
) -> None:
    if resource.suspended:
        return  # the change handlers record the suspension; nothing to follow meanwhile
    with runtime.locks.held(resource.uid, wait=False) as acquired:
        if not acquired:
            return  # a change handler is working on this stack right now; the next tick looks again
        if stopped:
            # kopf stops the timers before it calls the delete handler, which works under this lock. A tick
            # that takes the lock between two of its attempts, or after its last one forgot this stack,
            # would reconcile the deleted TurbineStack as if it lived (its snapshot has no deletion time) and
            # publish its metrics again after they were forgotten.
            return
        now = datetime.datetime.now(datetime.UTC)
        # In flight: every due look reconciles. Settled: when the stack moved or the resync is due, drift
        # checks between.
        if not settled or moved or follow_up_due(resource.status, now, runtime.settings.resync_interval):
            outcome: Outcome | None = _reconcile("timer", runtime, resource)
        else:
            # Drift writes conditions too, so it runs only on ticks without a reconcile.
            outcome = runtime.drift.check(resource)
        if outcome is not None:
            _apply(runtime, resource, outcome, body, patch)
    figures = runtime.workers.figures(resource.uid)
    if figures is not None and _changed(figures, resource.status.get("workers") or {}):
        patch.status["workers"] = figures


def _changed(figures: dict[str, Any], written: dict[str, Any]) -> bool:
    # The refresh time alone is no reason to write status: that would patch every stack every interval.
    return {k: v for k, v in figures.items() if k != "lastUpdateTime"} != {
        k: v for k, v in written.items() if k != "lastUpdateTime"
    }


@kopf.on.delete(*RESOURCE, errors=kopf.ErrorsMode.TEMPORARY)
def delete(body: kopf.Body, patch: kopf.Patch, memo: kopf.Memo, retry: int, **_: Any) -> None:
    runtime = runtime_of(memo)
    resource = _resource(body)
    with runtime.locks.held(resource.uid):
        outcome = runtime.deleter.delete(resource, retry)
    _write(runtime, outcome, body, patch)
    if not outcome.finished:
        # Only ever temporary: a delete handler that gives up releases the finalizer and orphans the stack.
        message = next(
            (c["message"] for c in outcome.status.get("conditions", []) if c["type"] == "Ready"), ""
        )
        raise kopf.TemporaryError(message or "deleting", delay=outcome.retry_after or 15)
    _forget(runtime, resource.uid)


def _forget(runtime: Runtime, uid: str) -> None:
    runtime.locks.forget(uid)
    runtime.follow_ups.forget(uid)
    runtime.reconciler.forget(uid)
    runtime.outputs.forget(uid)
    runtime.drift.forget(uid)
    runtime.wakes.forget(uid)
    runtime.echoes.forget(uid)
    runtime.readers.forget(uid)
    watch_what_is_read(runtime)
    if runtime.listing is not None:
        runtime.listing.forget(uid)
    status_effects.forget(uid, STACKS, runtime.workers)


def _gone(event: kopf.RawEvent, **_: Any) -> bool:
    return event.get("type") == "DELETED"


def left_the_shard(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A TurbineStack this replica no longer serves: its timers stand still (Departures), and this replica
    forgets it, its metrics included. (A deletion ends the same way, after the delete handler.)"""
    runtime = runtime_of(memo)
    uid = str(body.metadata.uid)
    runtime.departures.departed(uid, str(body.metadata.get("resourceVersion", "")))
    _forget(runtime, uid)


# Only a shard sees TurbineStacks leave without a deletion. kopf checks an event handler's filter on every
# watch event, most of them status writes, so a replica that serves every TurbineStack does without it; the
# filter keeps kopf from running (and logging) the handler for the other events.
if sharded_from_environment():
    kopf.on.event(*RESOURCE, when=_gone)(left_the_shard)
