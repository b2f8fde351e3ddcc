"""What a written status changes besides the object: the per-stack metrics and the worker watcher's list.

(Not to be confused with core/observed/observations.py, which holds what AWS returned.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from turbine_operator.adapters.metrics import StackMetrics
from turbine_operator.core.api.conditions import READY, STALLED, condition_is, stalled_reason
from turbine_operator.core.api.spec import field_of
from turbine_operator.core.errors import SpecError
from turbine_operator.core.plan.drift import DRIFTED
from turbine_operator.core.plan.scheduling import parse_timestamp
from turbine_operator.operations.fleet.workers import WatchedStack, WorkerWatcher, load_query, queued_query
from turbine_operator.operations.turbine_stack import StackResource

WORKER_GROUP_OUTPUT = "WorkerAutoScalingGroupName"


def merged_status(before: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The status after a JSON merge patch (RFC 7386, None removes a field), as the API server applies it."""
    merged = dict(before)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merged_status(merged[key], value)
        else:
            merged[key] = value
    return merged


def _condition_true(status: Mapping[str, Any], kind: str) -> bool:
    return condition_is(status.get("conditions") or [], kind)


def observe(
    resource: StackResource,
    status: Mapping[str, Any],
    metrics: StackMetrics,
    workers: WorkerWatcher,
    region: str,
) -> None:
    drift = status.get("drift") or {}
    last_check = parse_timestamp(drift.get("lastCheckTime"))
    metrics.update(
        resource.uid,
        resource.namespace,
        resource.name,
        ready=_condition_true(status, READY),
        stalled=_condition_true(status, STALLED),
        stalled_reason=stalled_reason(status.get("conditions") or []),
        stack_status=status.get("stackStatus"),
        drifted=_condition_true(status, DRIFTED),
        drifted_resources=int(drift.get("driftedResourceCount") or 0),
        last_drift_check=last_check.timestamp() if last_check else None,
    )
    outputs = status.get("outputs") or {}
    group = outputs.get(WORKER_GROUP_OUTPUT)
    if resource.suspended:
        workers.forget(resource.uid)  # suspended means no AWS calls, the worker figures' included
    elif group:
        try:
            role_arn = field_of(resource.spec, "role_arn")
        except SpecError:
            # Not with the operator's own identity instead: the stack may live in another account.
            workers.forget(resource.uid)
            return
        workers.watch(
            WatchedStack(
                uid=resource.uid,
                namespace=resource.namespace,
                name=resource.name,
                region=status.get("region") or region,
                role_arn=role_arn,
                group=group,
                load=load_query(resource.uid, outputs),
                queued=queued_query(resource.uid, outputs),
            )
        )


def forget(uid: str, metrics: StackMetrics, workers: WorkerWatcher) -> None:
    metrics.forget(uid)
    workers.forget(uid)
