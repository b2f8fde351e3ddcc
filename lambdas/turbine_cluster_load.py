"""Publishes the Turbine cluster load every minute: task slots wanted over task slots in service.

    load = (queued + running) / (in-service workers x slots per worker), clamped to [0, 1]

- queued: the broker queue's ApproximateNumberOfMessages, tasks no worker has taken yet;
- running: its ApproximateNumberOfMessagesNotVisible (in flight: received and not deleted), but no more
  than the busy workers can hold. Airflow's Celery settings acknowledge a task only when it ends
  (acks_late) and a worker reserves at most its slots (prefetch multiplier 1), so a busy worker holds
  at most `slots per worker` messages; a busy worker is one protected from scale-in, which
  turbine-worker-drain.sh sets while a task runs. A message whose worker died (drain timeout, crash)
  stays in flight for the queue's whole visibility timeout, 12 hours ("ChangeMessageVisibility",
  https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_ChangeMessageVisibility.html):
  no worker can be running it, so it is not counted;
- in-service workers: the group's instances in the InService lifecycle state;
- slots per worker: Celery's worker_concurrency, the same constant the workers are started with.

The load is for people (and the operator's status). The scaling policies read three figures made of
the same counts (cfn/README.md, "Cluster load and autoscaling"):

- SlotDemand, the customized metric of the target tracking policy: task slots wanted per task slot
  launched, (queued + running) / (launched workers x slots), not clamped, so that the policy can ask for
  as many workers as the backlog needs in one step ("Scaling policy based on Amazon SQS":
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-using-sqs-queue.html). Launched workers are
  the instances Pending or InService: a worker still booting already counts as capacity, as the policy
  counts it, so the policy does not ask again for the workers it has launched;
- UnservedTasks: the tasks wanted while no worker is launched at all, else 0. A target tracking policy
  scales the capacity it has in proportion to the metric; with none there is nothing to scale, so this
  alarm adds the first worker;
- RemovableWorkers: idle workers (in service, not protected) the others do without: as many as can go
  with the load of the rest still at or below SHRINK_THRESHOLD. Auto Scaling lowers the desired capacity
  on a scale-in even when every instance is protected and then cannot terminate one
  ("Use instance scale-in protection",
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-instance-protection.html), so
  the shrink alarm fires only while an unprotected worker exists, and the decrement has one to take.

Both counts are read from the SQS and Auto Scaling APIs at the moment of the invocation, so the
signal is at most one invocation (60 s) old. Upstream derived the load from CloudWatch's 5-minute
NumberOfEmptyReceives aggregate, which lags 10 to 15 minutes, and from a fitted poll rate
(0.098444 empty receives per second per idle worker) that kombu 5.7's long polling no longer matches;
and its load read a worker with free slots that still runs long tasks as idle.

With no worker in service, any queued task makes the load 1.0; with no task, 0.0. The queued count is
also published as QueuedTasks, for people and for the operator's status. Only the standard library and
boto3 (in the Lambda runtime) are used.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)

Clock = Callable[[], datetime]

# The figures the scaling policies read (turbine-workerset.yaml's ClusterLoadMetric mapping).
DEMAND_METRIC = "SlotDemand"
UNSERVED_METRIC = "UnservedTasks"
REMOVABLE_METRIC = "RemovableWorkers"

# Lifecycle states of an instance that is, or is about to be, the group's capacity
# (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html).
LAUNCHED_STATES = frozenset({"Pending", "Pending:Wait", "Pending:Proceed", "InService"})


@dataclasses.dataclass(frozen=True)
class Settings:
    queue_name: str
    auto_scaling_group_name: str
    slots_per_worker: int
    shrink_threshold: float
    metric_namespace: str
    metric_name: str
    queued_metric_name: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        return cls(
            queue_name=environ["QUEUE_NAME"],
            auto_scaling_group_name=environ["AUTO_SCALING_GROUP_NAME"],
            slots_per_worker=int(environ["SLOTS_PER_WORKER"]),
            shrink_threshold=float(environ.get("SHRINK_THRESHOLD", "0.5")),
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
    busy_workers: int = 0
    """In service and protected from scale-in: running a task (turbine-worker-drain.sh)."""
    launched_workers: int = -1
    """Pending or in service; -1 (not given) reads as the in-service workers."""

    @property
    def launched(self) -> int:
        return self.in_service_workers if self.launched_workers < 0 else self.launched_workers

    @property
    def idle_workers(self) -> int:
        return max(0, self.in_service_workers - self.busy_workers)


def running_tasks(measurement: Measurement, slots_per_worker: int) -> int:
    """The in-flight messages a busy worker can be running; the rest have no live worker."""
    return min(measurement.in_flight, measurement.busy_workers * slots_per_worker)


def slots_wanted(measurement: Measurement, slots_per_worker: int) -> int:
    return measurement.queued + running_tasks(measurement, slots_per_worker)


def cluster_load(measurement: Measurement, slots_per_worker: int) -> float:
    """Task slots wanted over task slots in service, in [0, 1]."""
    wanted = slots_wanted(measurement, slots_per_worker)
    slots = measurement.in_service_workers * slots_per_worker
    if slots <= 0:
        return 1.0 if wanted > 0 else 0.0
    return min(1.0, max(0.0, wanted / slots))


def slot_demand(measurement: Measurement, slots_per_worker: int) -> float:
    """Task slots wanted per task slot launched, not clamped; with nothing launched, as if one worker
    were (the policy has no capacity to scale then, UnservedTasks starts the group)."""
    return slots_wanted(measurement, slots_per_worker) / (max(1, measurement.launched) * slots_per_worker)


def unserved_tasks(measurement: Measurement, slots_per_worker: int) -> int:
    return slots_wanted(measurement, slots_per_worker) if measurement.launched == 0 else 0


def removable_workers(measurement: Measurement, slots_per_worker: int, shrink_threshold: float) -> int:
    """Idle workers that can go with the load of those left at or below `shrink_threshold`."""
    wanted = slots_wanted(measurement, slots_per_worker)
    if wanted == 0:
        kept = 0
    elif shrink_threshold <= 0:
        kept = measurement.in_service_workers
    else:
        kept = math.ceil(wanted / (slots_per_worker * shrink_threshold))
    return max(0, min(measurement.idle_workers, measurement.in_service_workers - kept))


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
    instances = groups[0].get("Instances", [])
    in_service = [i for i in instances if i.get("LifecycleState") == "InService"]
    return Measurement(
        queued=int(queued),
        in_flight=int(in_flight),
        in_service_workers=len(in_service),
        busy_workers=sum(1 for i in in_service if i.get("ProtectedFromScaleIn")),
        launched_workers=sum(1 for i in instances if i.get("LifecycleState") in LAUNCHED_STATES),
    )


@dataclasses.dataclass(frozen=True)
class Figures:
    """What one invocation publishes."""

    load: float
    queued: int
    slot_demand: float
    unserved_tasks: int
    removable_workers: int

    @classmethod
    def of(cls, measurement: Measurement, settings: Settings) -> Figures:
        slots = settings.slots_per_worker
        return cls(
            load=cluster_load(measurement, slots),
            queued=measurement.queued,
            slot_demand=slot_demand(measurement, slots),
            unserved_tasks=unserved_tasks(measurement, slots),
            removable_workers=removable_workers(measurement, slots, settings.shrink_threshold),
        )


def publish(cloudwatch: Any, settings: Settings, now: datetime, figures: Figures) -> None:
    dimensions = [{"Name": "AutoScalingGroupName", "Value": settings.auto_scaling_group_name}]
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    values = [
        (settings.metric_name, figures.load, "None"),
        (settings.queued_metric_name, float(figures.queued), "Count"),
        (DEMAND_METRIC, figures.slot_demand, "None"),
        (UNSERVED_METRIC, float(figures.unserved_tasks), "Count"),
        (REMOVABLE_METRIC, float(figures.removable_workers), "Count"),
    ]
    cloudwatch.put_metric_data(
        Namespace=settings.metric_namespace,
        MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Timestamp": minute, "Value": value, "Unit": unit}
            for name, value, unit in values
        ],
    )


def measure_and_publish(
    clients: Mapping[str, Any], settings: Settings, now: datetime
) -> tuple[Measurement, Figures] | None:
    """Measures now and publishes the figures stamped with this minute."""
    measurement = measure(clients["sqs"], clients["autoscaling"], settings)
    if measurement is None:
        LOGGER.info("Not publishing %s: the queue or the group gave no figures", settings.metric_name)
        return None
    figures = Figures.of(measurement, settings)
    publish(clients["cloudwatch"], settings, now, figures)
    LOGGER.info("Published %s from %s", figures, measurement)
    return measurement, figures


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
    measurement, figures = measured
    return {"published": True, **dataclasses.asdict(figures), **dataclasses.asdict(measurement)}
