"""Prometheus metrics of the operator itself, and the HTTP server that exposes them."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from turbine_operator.adapters.aws.aws_errors import NOT_MODIFIED, THROTTLING_CODES
from turbine_operator.core.render.references import SourceKind

# No <counter>_created series beside each counter: a timestamp per label set that no panel or alert reads,
# and a second series per reconcile trigger, AWS operation and outcome for Prometheus to keep.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated

RECONCILES = Counter(
    "turbine_reconciles_total", "Reconciles of TurbineStacks, by trigger and result.", ["trigger", "result"]
)
RECONCILE_DURATION = Histogram(
    "turbine_reconcile_duration_seconds", "Time one reconcile takes, AWS calls included.", ["trigger"]
)
AWS_REQUESTS = Counter(
    "turbine_aws_requests_total",
    "AWS API requests, by service, operation and outcome.",
    ["service", "operation", "outcome"],
)
AWS_THROTTLED = Counter(
    "turbine_aws_throttled_requests_total",
    "AWS API requests refused by throttling.",
    ["service", "operation"],
)


# A hot standby serves its metrics too (at 0 here), so that Prometheus sees it up and TurbineOperatorDown
# means a replica that does not answer, not one that waits for the Lease.
LEADING = Gauge(
    "turbine_operator_leading",
    "1 while this replica runs the operator (it holds the Lease, or runs without leader election); 0 while "
    "it waits as a hot standby.",
)


REFERENCE_WATCHES = Gauge(
    "turbine_reference_watches", "Referenced ConfigMaps and Secrets watched by name, by kind.", ["kind"]
)
REFERENCE_WATCH_EVENTS = Counter(
    "turbine_reference_watch_events_total",
    "Watch events of referenced ConfigMaps and Secrets received (bookmarks aside), by kind.",
    ["kind"],
)
# Both kinds from the start: a rate over a counter that appears only with its first event misses that event,
# and a dashboard or alert finds the series before anything is referenced.
for _kind in (SourceKind.CONFIG_MAP, SourceKind.SECRET):
    REFERENCE_WATCHES.labels(_kind.value).set(0)
    REFERENCE_WATCH_EVENTS.labels(_kind.value)


UPDATES_IN_PROGRESS = Gauge(
    "turbine_stack_updates_in_progress", "Stack updates in flight (they hold the operator's update slots)."
)
UPDATES_WAITING = Gauge(
    "turbine_stack_updates_waiting",
    "Stacks whose update is ready but waits for a slot (--max-concurrent-updates).",
)


DRIFT_WAITING = Gauge(
    "turbine_drift_detections_waiting",
    "Stacks whose drift detection is due and waits for a turn (TURBINE_DRIFT_DETECTIONS_PER_MINUTE).",
)
DRIFT_BACKLOG = Gauge(
    "turbine_drift_detection_backlog_seconds",
    "How long the stalest waiting stack's drift detection has been due: how far detection is behind.",
)


def observe_drift_backlog(waiting: int, stalest_seconds: float) -> None:
    DRIFT_WAITING.set(waiting)
    DRIFT_BACKLOG.set(stalest_seconds)


def observe_update_slots(in_progress: int, waiting: int) -> None:
    UPDATES_IN_PROGRESS.set(in_progress)
    UPDATES_WAITING.set(waiting)


def observe_client(client: Any) -> None:
    """Counts every request a boto3 client makes (retries included), by outcome."""
    service = client.meta.service_model.service_name

    def after_call(model: Any, parsed: Any, **_: Any) -> None:
        error = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        # A conditional read of an unchanged S3 object is a success, though botocore parses it as an error.
        outcome = "error" if error and error != NOT_MODIFIED else "ok"
        if error in THROTTLING_CODES:
            outcome = "throttled"
            AWS_THROTTLED.labels(service, model.name).inc()
        AWS_REQUESTS.labels(service, model.name, outcome).inc()

    def after_error(event_name: str, exception: Exception | None = None, **_: Any) -> None:
        # botocore emits this event (with no operation model) when no HTTP response came back at all:
        # connection refused, DNS failure, a dropped or unreadable reply. Its name ends in the operation.
        unanswered = isinstance(exception, BotoConnectionError | HTTPClientError)
        outcome = "connection_error" if unanswered else "error"
        AWS_REQUESTS.labels(service, event_name.rsplit(".", 1)[-1], outcome).inc()

    client.meta.events.register("after-call", after_call)
    client.meta.events.register("after-call-error", after_error)


class MetricsServer:
    def __init__(self, address: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
        self._server, self._thread = start_http_server(port, addr=address, registry=registry)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@dataclasses.dataclass
class StackFigures:
    """The latest per-TurbineStack figures; the collector turns them into series at scrape time."""

    namespace: str
    name: str
    ready: bool = False
    stalled: bool = False
    stalled_reason: str = ""
    stack_status: str | None = None
    drifted: bool = False
    drifted_resources: int = 0
    last_drift_check: float | None = None
    workers_desired: int | None = None
    workers_in_service: int | None = None
    workers_min: int | None = None
    workers_max: int | None = None
    workers_busy: int | None = None
    cluster_load: float | None = None
    queued_tasks: float | None = None
    scaled_out: int = 0
    scaled_in: int = 0


class StackMetrics:
    """A collector over the TurbineStacks that exist now: a deleted one leaves no series behind."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stacks: dict[str, StackFigures] = {}

    def update(self, uid: str, namespace: str, name: str, **fields: Any) -> None:
        with self._lock:
            figures = self._stacks.setdefault(uid, StackFigures(namespace, name))
            for key, value in fields.items():
                setattr(figures, key, value)

    def count_scaling(self, uid: str, previous_desired: int | None, desired: int) -> None:
        with self._lock:
            figures = self._stacks.get(uid)
            if figures is None or previous_desired is None:
                return
            if desired > previous_desired:
                figures.scaled_out += desired - previous_desired
            elif desired < previous_desired:
                figures.scaled_in += previous_desired - desired

    def forget(self, uid: str) -> None:
        with self._lock:
            self._stacks.pop(uid, None)

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            stacks = [dataclasses.replace(figures) for figures in self._stacks.values()]
        labels = ["namespace", "name"]

        def gauge(
            metric: str, documentation: str, value_of: Callable[[StackFigures], float | None]
        ) -> Metric:
            family = GaugeMetricFamily(metric, documentation, labels=labels)
            for figures in stacks:
                value = value_of(figures)
                if value is not None:
                    family.add_metric([figures.namespace, figures.name], value)
            return family

        yield gauge("turbine_stack_ready", "1 when the stack matches the spec.", lambda f: float(f.ready))
        # The Stalled condition's reason, so that alerts route a tenant's input error apart from a fault in
        # AWS or of the operator (rules/turbine-operator.rules.yaml); "" while not Stalled. One series per
        # stack: the reason changes the series, never adds one.
        stalled = GaugeMetricFamily(
            "turbine_stack_stalled",
            "1 when the stack needs a person (Stalled); reason is the Stalled condition's.",
            labels=[*labels, "reason"],
        )
        for figures in stacks:
            labelled = [figures.namespace, figures.name, figures.stalled_reason]
            stalled.add_metric(labelled, float(figures.stalled))
        yield stalled
        status = GaugeMetricFamily(
            "turbine_stack_status",
            "The CloudFormation stack status (1 for the current one).",
            labels=[*labels, "status"],
        )
        for figures in stacks:
            if figures.stack_status:
                status.add_metric([figures.namespace, figures.name, figures.stack_status], 1.0)
        yield status
        yield gauge(
            "turbine_stack_drifted", "1 when the stack or its resources drifted.", lambda f: float(f.drifted)
        )
        yield gauge(
            "turbine_stack_drifted_resources",
            "Resources that drifted, nested stacks included.",
            lambda f: float(f.drifted_resources),
        )
        yield gauge(
            "turbine_stack_drift_last_check_timestamp_seconds",
            "When resource drift detection last completed.",
            lambda f: f.last_drift_check,
        )
        yield gauge(
            "turbine_workers_desired",
            "Desired capacity of the worker group.",
            lambda f: _number(f.workers_desired),
        )
        yield gauge(
            "turbine_workers_in_service", "Workers in service.", lambda f: _number(f.workers_in_service)
        )
        yield gauge(
            "turbine_workers_min", "Minimum size of the worker group.", lambda f: _number(f.workers_min)
        )
        yield gauge(
            "turbine_workers_max", "Maximum size of the worker group.", lambda f: _number(f.workers_max)
        )
        yield gauge(
            "turbine_workers_busy",
            "Workers running a task (protected from scale-in).",
            lambda f: _number(f.workers_busy),
        )
        yield gauge("turbine_cluster_load", "Latest Turbine cluster load (0 to 1).", lambda f: f.cluster_load)
        yield gauge(
            "turbine_queued_tasks",
            "Tasks in the broker queue that no worker has taken.",
            lambda f: f.queued_tasks,
        )
        scaling = CounterMetricFamily(
            "turbine_worker_scaling_activities",
            "Changes of the worker group's desired capacity, one per instance.",
            labels=[*labels, "direction"],
        )
        for figures in stacks:
            scaling.add_metric([figures.namespace, figures.name, "out"], float(figures.scaled_out))
            scaling.add_metric([figures.namespace, figures.name, "in"], float(figures.scaled_in))
        yield scaling


def _number(value: int | None) -> float | None:
    return None if value is None else float(value)


STACKS = StackMetrics()
REGISTRY.register(STACKS)
