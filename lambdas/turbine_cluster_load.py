"""Publishes the Turbine cluster load every minute: task slots wanted over task slots in service.

    load = (queued + in flight) / (in-service workers x slots per worker), clamped to [0, 1]

- queued: the broker queue's ApproximateNumberOfMessages, tasks no worker has taken yet;
- in flight: its ApproximateNumberOfMessagesNotVisible, tasks a worker has taken and not finished
  (Airflow's Celery settings acknowledge a task only when it ends, so a running task stays in flight);
- in-service workers: the group's instances in the InService lifecycle state;
- slots per worker: Celery's worker_concurrency, the same constant the workers are started with.

Both counts are read from the SQS and Auto Scaling APIs at the moment of the invocation, so the
signal is at most one invocation (60 s) old. Upstream derived the load from CloudWatch's 5-minute
NumberOfEmptyReceives aggregate, which lags 10 to 15 minutes, and from a fitted poll rate
(0.098444 empty receives per second per idle worker) that kombu 5.7's long polling no longer matches;
and its load read a worker with free slots that still runs long tasks as idle.

With no worker in service, any queued or in-flight task makes the load 1.0, so the group grows from
zero; with no task either, the load is 0.0. The queued count is also published as QueuedTasks, for
people and for the operator's status. Only the standard library and boto3 (in the Lambda runtime)
are used.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)

Clock = Callable[[], datetime]


@dataclasses.dataclass(frozen=True)
class Settings:
    queue_name: str
    auto_scaling_group_name: str
    slots_per_worker: int
    metric_namespace: str
    metric_name: str
    queued_metric_name: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            queue_name=environ["QUEUE_NAME"],
            auto_scaling_group_name=environ["AUTO_SCALING_GROUP_NAME"],
            slots_per_worker=int(environ["SLOTS_PER_WORKER"]),
            metric_namespace=environ.get("METRIC_NAMESPACE", "Turbine"),
            metric_name=environ.get("METRIC_NAME", "ClusterLoad"),
            queued_metric_name=environ.get("QUEUED_METRIC_NAME", "QueuedTasks"),
        )


@dataclasses.dataclass(frozen=True)
class Measurement:
    """What SQS and Auto Scaling said at one moment."""

    queued: int
    in_flight: int
    in_service_workers: int


def cluster_load(measurement: Measurement, slots_per_worker: int) -> float:
    """Task slots wanted over task slots in service, in [0, 1]."""
    wanted = measurement.queued + measurement.in_flight
    slots = measurement.in_service_workers * slots_per_worker
    if slots <= 0:
        return 1.0 if wanted > 0 else 0.0
    return min(1.0, max(0.0, wanted / slots))


def utc_now() -> datetime:
    return datetime.now(UTC)


def measure(sqs: Any, autoscaling: Any, settings: Settings) -> Measurement | None:
    """Now's figures, or None when either service did not give them (nothing is published then: the
    alarms treat a missing datapoint as no reason to scale)."""
    queue_url = sqs.get_queue_url(QueueName=settings.queue_name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    ).get("Attributes", {})
    groups = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[settings.auto_scaling_group_name]
    ).get("AutoScalingGroups", [])
    queued = attributes.get("ApproximateNumberOfMessages")
    in_flight = attributes.get("ApproximateNumberOfMessagesNotVisible")
    if queued is None or in_flight is None or len(groups) != 1:
        return None
    return Measurement(
        queued=int(queued),
        in_flight=int(in_flight),
        in_service_workers=sum(
            1 for instance in groups[0].get("Instances", []) if instance.get("LifecycleState") == "InService"
        ),
    )


def publish(cloudwatch: Any, settings: Settings, now: datetime, load: float, queued: int) -> None:
    dimensions = [{"Name": "AutoScalingGroupName", "Value": settings.auto_scaling_group_name}]
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    cloudwatch.put_metric_data(
        Namespace=settings.metric_namespace,
        MetricData=[
            {"MetricName": settings.metric_name, "Dimensions": dimensions, "Timestamp": minute,
             "Value": load, "Unit": "None"},
            {"MetricName": settings.queued_metric_name, "Dimensions": dimensions, "Timestamp": minute,
             "Value": float(queued), "Unit": "Count"},
        ],
    )  # fmt: skip


def measure_and_publish(
    clients: Mapping[str, Any], settings: Settings, now: datetime
) -> tuple[Measurement, float] | None:
    """Measures now and publishes the load and the queued tasks stamped with this minute."""
    measurement = measure(clients["sqs"], clients["autoscaling"], settings)
    if measurement is None:
        LOGGER.info("Not publishing %s: the queue or the group gave no figures", settings.metric_name)
        return None
    load = cluster_load(measurement, settings.slots_per_worker)
    publish(clients["cloudwatch"], settings, now, load, measurement.queued)
    LOGGER.info("Published %s=%.4f from %s", settings.metric_name, load, measurement)
    return measurement, load


def handler(
    event: Mapping[str, Any],
    context: object,
    *,
    clock: Clock = utc_now,
    clients: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Lambda entry point; the keyword arguments exist so tests can pin time and clients."""
    del event, context  # the schedule carries no information beyond "now"
    settings = Settings.from_environment(os.environ if environ is None else environ)
    if clients is None:
        clients = {name: boto3.client(name) for name in ("sqs", "autoscaling", "cloudwatch")}
    measured = measure_and_publish(clients, settings, clock())
    if measured is None:
        return {"published": False, "load": None}
    measurement, load = measured
    return {"published": True, "load": load, **dataclasses.asdict(measurement)}
