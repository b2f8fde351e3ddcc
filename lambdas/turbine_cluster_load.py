"""Publishes the Turbine cluster load: the share of workers busy with tasks, in [0, 1].

Idle Celery workers poll SQS continuously and every poll that finds nothing adds one to the
queue's NumberOfEmptyReceives (NOER). With W in-service workers, of which W_idle are idle,
NOER over an interval t is about W_idle * f_poll * t, so the busy share is

    load = 1 - NOER / (W * f_poll * t)

with f_poll = 0.098444 empty receives per second per idle instance (fitted by experiment
upstream; Celery concurrency does not change it). W is the worker group's
GroupInServiceInstances (GISI).

SQS only publishes 5-minute aggregates and stamps each with its start, so the newest bucket
that is complete is the one that began 10 to 15 minutes ago; that is the bucket measured.
The value is published with the invocation time as its timestamp, so that the scaling alarms
always find a current datapoint (upstream stamped it 10-15 minutes in the past and published
the same timestamp five times).

Fixes over upstream: the load is clamped to [0, 1]; a group with no in-service workers but
waiting messages reports 1.0 (so it can grow from zero); a missing datapoint skips the
publication instead of raising; nothing is published when there is nothing to measure.

Only the standard library and boto3 (present in the Lambda runtime) are used.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)

EMPTY_RECEIVES_PER_IDLE_WORKER_PER_SECOND = 0.098444
SQS_PERIOD_SECONDS = 300
# The newest complete 5-minute SQS bucket starts at least this long before the current minute.
SQS_SETTLING_DELAY = timedelta(minutes=10)

Clock = Callable[[], datetime]


@dataclasses.dataclass(frozen=True)
class Settings:
    queue_name: str
    auto_scaling_group_name: str
    metric_namespace: str
    metric_name: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            queue_name=environ["QUEUE_NAME"],
            auto_scaling_group_name=environ["AUTO_SCALING_GROUP_NAME"],
            metric_namespace=environ.get("METRIC_NAMESPACE", "Turbine"),
            metric_name=environ.get("METRIC_NAME", "ClusterLoad"),
        )


@dataclasses.dataclass(frozen=True)
class Measurement:
    """The three aggregates of one 5-minute bucket; None where CloudWatch had no datapoint."""

    bucket_start: datetime
    max_visible_messages: float | None
    sum_empty_receives: float | None
    avg_in_service_workers: float | None


def utc_now() -> datetime:
    return datetime.now(UTC)


def measured_bucket_start(now: datetime) -> datetime:
    """Start of the 5-minute bucket that began 10 to 15 minutes before `now`."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    return minute - timedelta(minutes=minute.minute % 5) - SQS_SETTLING_DELAY


def cluster_load(measurement: Measurement) -> float | None:
    """The load to publish, or None when the data cannot support one."""
    workers = measurement.avg_in_service_workers
    if workers is None:
        return None
    if workers > 0:
        if measurement.sum_empty_receives is None:
            return None
        idle_capacity = workers * EMPTY_RECEIVES_PER_IDLE_WORKER_PER_SECOND * SQS_PERIOD_SECONDS
        return min(1.0, max(0.0, 1.0 - measurement.sum_empty_receives / idle_capacity))
    # No worker is in service: the only thing worth reporting is work waiting for one.
    if measurement.max_visible_messages is not None and measurement.max_visible_messages > 0:
        return 1.0
    return None


def _metric_query(
    query_id: str, namespace: str, name: str, dimension: tuple[str, str], stat: str
) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": name,
                "Dimensions": [{"Name": dimension[0], "Value": dimension[1]}],
            },
            "Period": SQS_PERIOD_SECONDS,
            "Stat": stat,
        },
        "ReturnData": True,
    }


def _value_at(results: list[dict[str, Any]], query_id: str, timestamp: datetime) -> float | None:
    for result in results:
        if result.get("Id") != query_id:
            continue
        for stamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
            if stamp.astimezone(UTC) == timestamp:
                return float(value)
    return None


def measure(cloudwatch: Any, settings: Settings, bucket_start: datetime) -> Measurement:
    queue = ("QueueName", settings.queue_name)
    group = ("AutoScalingGroupName", settings.auto_scaling_group_name)
    reply = cloudwatch.get_metric_data(
        MetricDataQueries=[
            _metric_query("visible", "AWS/SQS", "ApproximateNumberOfMessagesVisible", queue, "Maximum"),
            _metric_query("empty", "AWS/SQS", "NumberOfEmptyReceives", queue, "Sum"),
            _metric_query("workers", "AWS/AutoScaling", "GroupInServiceInstances", group, "Average"),
        ],
        StartTime=bucket_start,
        EndTime=bucket_start + timedelta(seconds=SQS_PERIOD_SECONDS),
        ScanBy="TimestampAscending",
    )
    results: list[dict[str, Any]] = reply.get("MetricDataResults", [])
    return Measurement(
        bucket_start=bucket_start,
        max_visible_messages=_value_at(results, "visible", bucket_start),
        sum_empty_receives=_value_at(results, "empty", bucket_start),
        avg_in_service_workers=_value_at(results, "workers", bucket_start),
    )


def measure_and_publish(cloudwatch: Any, settings: Settings, now: datetime) -> float | None:
    """Measures the bucket that `now` selects and publishes the load; returns what was published."""
    measurement = measure(cloudwatch, settings, measured_bucket_start(now))
    load = cluster_load(measurement)
    if load is None:
        LOGGER.info("Not publishing %s: insufficient data in %s", settings.metric_name, measurement)
        return None
    cloudwatch.put_metric_data(
        Namespace=settings.metric_namespace,
        MetricData=[
            {
                "MetricName": settings.metric_name,
                "Dimensions": [{"Name": "AutoScalingGroupName", "Value": settings.auto_scaling_group_name}],
                "Timestamp": now.astimezone(UTC).replace(second=0, microsecond=0),
                "Value": load,
                "Unit": "None",
            }
        ],
    )
    LOGGER.info("Published %s=%.4f from %s", settings.metric_name, load, measurement)
    return load


def handler(
    event: Mapping[str, Any],
    context: object,
    *,
    clock: Clock = utc_now,
    cloudwatch: Any = None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Lambda entry point; the keyword arguments exist so tests can pin time and clients."""
    del event, context  # the schedule carries no information beyond "now"
    settings = Settings.from_environment(os.environ if environ is None else environ)
    client = cloudwatch if cloudwatch is not None else boto3.client("cloudwatch")
    load = measure_and_publish(client, settings, clock())
    return {"published": load is not None, "load": load}
