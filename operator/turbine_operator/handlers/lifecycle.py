"""Operator start-up and shut-down: kopf settings, shared clients, the metrics server."""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any

import kopf

from turbine_operator.adapters.aws.aws_sessions import CONNECTIONS_PER_CLIENT, AwsSessions
from turbine_operator.adapters.aws.stack_summaries import live_stacks
from turbine_operator.adapters.kube.cluster import ClusterObjects, api_client
from turbine_operator.adapters.kube.reference_watches import ReferenceWatches
from turbine_operator.adapters.metrics import (
    LEADING,
    STACKS,
    MetricsServer,
    observe_client,
    observe_drift_backlog,
    observe_update_slots,
)
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.adapters.sources import load_turbine_sources
from turbine_operator.core.naming import API_GROUP, PLURAL
from turbine_operator.handlers.diffbase import ProgressAnnotations, StatusDiffBaseStorage
from turbine_operator.handlers.kube_session import connection_limit, pooled
from turbine_operator.handlers.references import request_reconciles
from turbine_operator.handlers.runtime import RUNTIME_KEY, ObjectLocks, Runtime, Wakes, runtime_of
from turbine_operator.operations.fleet.rate_limits import FairTurns, TokenBucket, UpdateSlots
from turbine_operator.operations.fleet.stack_listing import StackListing
from turbine_operator.operations.fleet.workers import WorkerWatcher
from turbine_operator.operations.stack.deletion import Deleter
from turbine_operator.operations.stack.drift import DriftDetector
from turbine_operator.operations.stack.reconcile import Reconciler

STORAGE_PREFIX = "turbine.dev"
FINALIZER = "turbine.dev/finalizer"
# How long kopf waits for a timer tick under way (AWS calls in a worker thread) when it stops the
# timer: at shutdown, or when the TurbineStack is deleted. kopf's default hardly waits, orphaning a
# tick that is slower than its few seconds of leftover-task grace, so a change set it started or a
# drift detection id it got is never written to status. All ticks are awaited together, so shutdown
# takes at most this long whatever the number of stacks; it stays below the Deployment's
# terminationGracePeriodSeconds. Events such a late tick posts are dropped: kopf's event poster stops first.
IN_FLIGHT_TICK_GRACE_SECONDS = 30.0


def configure_kopf(settings: kopf.OperatorSettings) -> None:
    # Names chosen once and for ever: changing them later would orphan finalizers and progress.
    settings.persistence.finalizer = FINALIZER
    settings.persistence.progress_storage = ProgressAnnotations(prefix=STORAGE_PREFIX, v1=False)
    settings.persistence.diffbase_storage = StatusDiffBaseStorage()
    settings.posting.level = logging.INFO
    # botocore's debug log prints request parameters, NoEcho secret values included: keep it at
    # INFO even when the operator runs with --verbose.
    for noisy in ("botocore", "boto3", "s3transfer", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.getLogger(noisy).level, logging.INFO))
    settings.networking.request_timeout = 60
    settings.networking.connect_timeout = 10
    # Handler threads: AWS calls block a thread for tens of milliseconds each, so a fleet resuming at once
    # needs more than kopf's default; the boto3 clients pool as many connections (aws_sessions.py).
    settings.execution.max_workers = CONNECTIONS_PER_CLIENT
    settings.background.instant_exit_timeout = IN_FLIGHT_TICK_GRACE_SECONDS
    # No cluster-wide watching of namespaces and CRDs: the operator works with exactly the RBAC in
    # manifests/ (namespaces are named exactly, without globs, and the CRD is installed with it).
    settings.scanning.disabled = True


@kopf.on.login()
async def login(**kwargs: Any) -> kopf.AiohttpSession | None:
    # kopf's own logins read KUBECONFIG when they run; the kubernetes client's default login reads
    # it once at import time, which ignores a kubeconfig chosen later in the same process. The session
    # is made here (in the event loop) so that its connection pool is bounded (kube_session.py).
    info = kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)
    return None if info is None else pooled(info, connection_limit())


@kopf.on.startup()
def start(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger, **_: Any) -> None:
    config = OperatorSettings.from_environment()
    configure_kopf(settings)
    if config.shard_selector:
        # Server-side: the API server sends this replica only its shard's TurbineStacks (list and watch).
        settings.watching.label_selectors[API_GROUP, PLURAL] = config.shard_selector
    sessions = AwsSessions(observer=observe_client)
    sources = load_turbine_sources()
    cluster = ClusterObjects(api_client())
    metrics = MetricsServer(config.metrics_address, config.metrics_port) if config.metrics_port else None
    LEADING.set(1)
    wakes = Wakes()
    workers = WorkerWatcher(sessions, STACKS, changed=lambda uid: wakes.wake(uid, "workers"))
    stop_event = threading.Event()
    worker_thread = threading.Thread(
        target=workers.run, args=(stop_event, config.workers_interval), name="turbine-workers", daemon=True
    )
    worker_thread.start()
    listing = StackListing(functools.partial(live_stacks, sessions), wakes.wake)
    listing_thread = threading.Thread(
        target=listing.run, args=(stop_event, config.listing_interval), name="turbine-listing", daemon=True
    )
    listing_thread.start()
    # Bursts of 5, then the configured rate: CloudFormation limits concurrent drift detections.
    limiter = TokenBucket(per_minute=config.drift_detections_per_minute, burst=5)
    # A stack that asked on none of its ticks for two poll intervals no longer waits.
    # A refused stack waits for its estimated turn: it is forgotten only if it has not asked again by then.
    turns = FairTurns(limiter, forget_after=2 * config.poll_interval + 60, observer=observe_drift_backlog)
    memo[RUNTIME_KEY] = Runtime(
        settings=config,
        reconciler=Reconciler(
            sessions,
            sources,
            config,
            cluster,
            slots=UpdateSlots(config.max_concurrent_updates, observer=observe_update_slots),
        ),
        cluster=cluster,
        deleter=Deleter(sessions, config, cluster),
        drift=DriftDetector(sessions, config, turns),
        workers=workers,
        locks=ObjectLocks(),
        metrics=metrics,
        stop=stop_event,
        worker_thread=worker_thread,
        executor=settings.execution.executor,
        wakes=wakes,
        listing=listing,
        listing_thread=listing_thread,
    )
    runtime: Runtime = memo[RUNTIME_KEY]
    # Its own client: each watch holds a connection for as long as it runs, apart from the reads' pool.
    runtime.reference_watches = ReferenceWatches(api_client(), functools.partial(request_reconciles, runtime))
    logger.info(
        "Turbine Operator started: default region %s, poll every %.0f s, list stacks every %.0f s, "
        "resync every %.0f s, metrics %s%s",
        config.default_region,
        config.poll_interval,
        config.listing_interval,
        config.resync_interval,
        f"on port {metrics.port}" if metrics else "off",
        f", serving the shard {config.shard_selector}" if config.shard_selector else "",
    )


@kopf.on.cleanup()
def stop(memo: kopf.Memo, **_: Any) -> None:
    runtime = runtime_of(memo)
    runtime.stop.set()
    runtime.worker_thread.join(timeout=10)
    if runtime.listing_thread is not None:
        runtime.listing_thread.join(timeout=10)
    if runtime.reference_watches is not None:
        runtime.reference_watches.stop()
    if runtime.metrics is not None:
        runtime.metrics.stop()
