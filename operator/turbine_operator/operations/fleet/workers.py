"""Worker figures for every Ready stack, refreshed on one operator-wide interval.

One DescribeAutoScalingGroups per 100 groups and one GetMetricData per 250 stacks (per region
and role) serve all stacks, instead of calls per stack per scrape. The figures feed the
Prometheus collector and `status.workers` (written by the stack's timer).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.workers import LoadQuery, WorkersGateway
from turbine_operator.adapters.metrics import StackMetrics
from turbine_operator.core.errors import AwsError
from turbine_operator.operations.clock import Clock, timestamp, utc_now

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class WatchedStack:
    uid: str
    namespace: str
    name: str
    region: str
    role_arn: str | None
    group: str
    load: LoadQuery | None
    queued: LoadQuery | None = None


def load_query(uid: str, outputs: Mapping[str, str]) -> LoadQuery | None:
    """The cluster-load metric from the stack outputs (dimensions as `Name=Value[,Name=Value]`)."""
    return _query("q", uid, outputs, outputs.get("ClusterLoadMetricName"))


def queued_query(uid: str, outputs: Mapping[str, str]) -> LoadQuery | None:
    """The queued-tasks metric: the cluster-load metric's namespace and dimensions, its own name."""
    return _query("w", uid, outputs, outputs.get("QueuedTasksMetricName"))


def _query(prefix: str, uid: str, outputs: Mapping[str, str], metric: str | None) -> LoadQuery | None:
    namespace = outputs.get("ClusterLoadMetricNamespace")
    if not namespace or not metric:
        return None
    pairs = [
        part.split("=", 1)
        for part in outputs.get("ClusterLoadMetricDimensions", "").split(",")
        if "=" in part
    ]
    # GetMetricData ids start with a lowercase letter and hold letters, digits and underscores.
    query_id = prefix + uid.replace("-", "_")
    return LoadQuery(query_id, namespace, metric, tuple((key.strip(), value.strip()) for key, value in pairs))


class WorkerWatcher:
    def __init__(
        self,
        sessions: AwsSessions,
        metrics: StackMetrics,
        clock: Clock = utc_now,
        changed: Callable[[str], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._metrics = metrics
        self._clock = clock
        self._changed = changed  # told the uid of a stack whose figures changed (its status is rewritten)
        self._lock = threading.Lock()
        self._watched: dict[str, WatchedStack] = {}
        self._figures: dict[str, dict[str, Any]] = {}

    def watch(self, stack: WatchedStack) -> None:
        with self._lock:
            self._watched[stack.uid] = stack

    def forget(self, uid: str) -> None:
        with self._lock:
            self._watched.pop(uid, None)
            self._figures.pop(uid, None)

    def figures(self, uid: str) -> dict[str, Any] | None:
        """status.workers for the stack, as last read from AWS."""
        with self._lock:
            return self._figures.get(uid)

    def refresh(self) -> None:
        with self._lock:
            watched = list(self._watched.values())
        by_account: dict[tuple[str, str | None], list[WatchedStack]] = defaultdict(list)
        for stack in watched:
            by_account[(stack.region, stack.role_arn)].append(stack)
        for (region, role_arn), stacks in by_account.items():
            try:
                self._refresh(WorkersGateway(self._sessions, region, role_arn), stacks)
            except AwsError as error:
                logger.warning("Could not read worker figures in %s: %s", region, error)

    def _refresh(self, gateway: WorkersGateway, stacks: list[WatchedStack]) -> None:
        now = self._clock()
        groups = gateway.groups([stack.group for stack in stacks])
        queries = [query for stack in stacks for query in (stack.load, stack.queued) if query]
        latest = gateway.latest_values(queries, now)
        for stack in stacks:
            group = groups.get(stack.group)
            if group is None:
                continue
            load = latest.get(stack.load.query_id) if stack.load else None
            queued = latest.get(stack.queued.query_id) if stack.queued else None
            with self._lock:
                previous = self._figures.get(stack.uid)
                figures: dict[str, Any] = {
                    "desired": group.desired,
                    "inService": group.in_service,
                    "min": group.min_size,
                    "max": group.max_size,
                    "busy": group.busy,
                    "summary": f"{group.in_service}/{group.desired}",
                    "lastUpdateTime": timestamp(now),
                }
                if load is not None:  # no datapoint yet (a new stack, or the Lambda has not run)
                    figures["clusterLoad"] = f"{load:.3f}"
                if queued is not None:
                    figures["queuedTasks"] = int(queued)
                self._figures[stack.uid] = figures
            if self._changed is not None and _without_time(figures) != _without_time(previous or {}):
                self._changed(stack.uid)
            self._metrics.count_scaling(stack.uid, previous["desired"] if previous else None, group.desired)
            self._metrics.update(
                stack.uid,
                stack.namespace,
                stack.name,
                workers_desired=group.desired,
                workers_in_service=group.in_service,
                workers_min=group.min_size,
                workers_max=group.max_size,
                workers_busy=group.busy,
                cluster_load=load,
                queued_tasks=queued,
            )

    def run(self, stop: threading.Event, interval: float) -> None:
        """The refresh loop of the operator's worker thread; returns when `stop` is set."""
        while not stop.wait(interval):
            try:
                self.refresh()
            except Exception:
                logger.exception("Refreshing worker figures failed; trying again in %.0f s", interval)


def _without_time(figures: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in figures.items() if key != "lastUpdateTime"}
