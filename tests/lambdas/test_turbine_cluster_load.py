"""The load-metric Lambda against moto's SQS, Auto Scaling and CloudWatch: real queue counts (messages
sent, and messages received but not deleted, as a Celery worker holds a running task) and a real group."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

import turbine_cluster_load as load_metric

QUEUE = "turbine-broker"
GROUP = "turbine-workers"
SLOTS = 16
ENVIRONMENT = {"QUEUE_NAME": QUEUE, "AUTO_SCALING_GROUP_NAME": GROUP, "SLOTS_PER_WORKER": str(SLOTS)}
NOW = datetime(2026, 3, 14, 12, 37, 42, tzinfo=UTC)
REGION = "us-east-1"


class Cluster:
    """A broker queue and a worker group in moto, shaped the way the tests need them."""

    def __init__(self) -> None:
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.autoscaling = boto3.client("autoscaling", region_name=REGION)
        self.cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        self.queue_url = self.sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        ec2 = boto3.client("ec2", region_name=REGION)
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        ec2.create_launch_template(
            LaunchTemplateName="workers", LaunchTemplateData={"ImageId": image, "InstanceType": "t3.large"}
        )
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=GROUP,
            LaunchTemplate={"LaunchTemplateName": "workers"},
            MinSize=0,
            MaxSize=10,
            DesiredCapacity=0,
            AvailabilityZones=[f"{REGION}a"],
        )

    def workers(self, count: int) -> None:
        self.autoscaling.set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=count)

    def queue(self, tasks: int) -> None:
        for index in range(tasks):
            self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=f"task-{index}")

    def take(self, tasks: int, busy_workers: int = 1) -> None:
        """Workers receive `tasks` and keep them (Airflow's Celery acknowledges a task when it ends), and
        `busy_workers` of them protect themselves from scale-in while they run (turbine-worker-drain.sh).
        With 0, the tasks' workers died: their messages stay in flight with no worker to run them."""
        taken = 0
        while taken < tasks:
            reply = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=min(10, tasks - taken), VisibilityTimeout=3600
            )
            taken += len(reply.get("Messages", []))
        self.protect(busy_workers)

    def protect(self, count: int) -> None:
        [group] = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
            "AutoScalingGroups"
        ]
        instances = [i["InstanceId"] for i in group["Instances"] if i["LifecycleState"] == "InService"]
        if count:
            self.autoscaling.set_instance_protection(
                AutoScalingGroupName=GROUP, InstanceIds=instances[:count], ProtectedFromScaleIn=True
            )

    def invoke(self, now: datetime = NOW) -> dict[str, Any]:
        clients = {"sqs": self.sqs, "autoscaling": self.autoscaling, "cloudwatch": self.cloudwatch}
        return load_metric.handler({}, None, clock=lambda: now, clients=clients, environ=ENVIRONMENT)

    def published(self, metric: str = "ClusterLoad") -> list[tuple[datetime, float]]:
        reply = self.cloudwatch.get_metric_statistics(
            Namespace="Turbine",
            MetricName=metric,
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": GROUP}],
            StartTime=NOW - timedelta(hours=1),
            EndTime=NOW + timedelta(hours=1),
            Period=60,
            Statistics=["Average"],
        )
        return sorted((point["Timestamp"], point["Average"]) for point in reply["Datapoints"])


@pytest.fixture
def cluster(moto_in_process: None) -> Cluster:
    return Cluster()


def test_idle_workers_report_zero(cluster: Cluster) -> None:
    cluster.workers(3)

    assert cluster.invoke()["load"] == 0.0
    assert cluster.published() == [(NOW.replace(second=0), 0.0)]


def test_a_busy_worker_with_free_slots_reports_its_share_of_slots(cluster: Cluster) -> None:
    # Two long tasks on one 16-slot worker: upstream's empty-receive formula read this worker as idle
    # (it keeps polling with free slots); the load says 2 of 16 slots, and scale-in protection, not the
    # load, keeps the worker from being chosen (see cfn/README.md).
    cluster.workers(1)
    cluster.queue(2)
    cluster.take(2)

    reply = cluster.invoke()

    assert (reply["queued"], reply["in_flight"], reply["in_service_workers"]) == (0, 2, 1)
    assert reply["load"] == pytest.approx(2 / 16)


def test_queued_and_running_tasks_both_want_slots(cluster: Cluster) -> None:
    cluster.workers(2)
    cluster.queue(24)
    cluster.take(8, busy_workers=1)

    assert cluster.invoke()["load"] == pytest.approx((16 + 8) / 32)
    assert cluster.published("QueuedTasks") == [(NOW.replace(second=0), 16.0)]


def test_zero_workers_with_queued_tasks_report_full_load_so_the_group_grows_from_zero(
    cluster: Cluster,
) -> None:
    cluster.queue(1)

    reply = cluster.invoke()

    assert reply["load"] == 1.0
    assert cluster.published() == [(NOW.replace(second=0), 1.0)]
    assert cluster.published("QueuedTasks") == [(NOW.replace(second=0), 1.0)]


def test_zero_workers_and_no_tasks_report_zero(cluster: Cluster) -> None:
    assert cluster.invoke()["load"] == 0.0


def test_more_tasks_than_slots_are_clamped_to_one(cluster: Cluster) -> None:
    cluster.workers(1)
    cluster.queue(40)

    assert cluster.invoke()["load"] == 1.0
    assert cluster.published() == [(NOW.replace(second=0), 1.0)]


def test_each_invocation_is_stamped_with_its_own_minute(cluster: Cluster) -> None:
    cluster.workers(1)
    cluster.invoke(NOW)
    cluster.queue(8)
    cluster.invoke(NOW + timedelta(seconds=60))

    assert cluster.published() == [
        (NOW.replace(second=0), 0.0),
        (NOW.replace(second=0) + timedelta(minutes=1), 0.5),
    ]


class _Answers:
    """A client that answers one call with a canned reply (for what moto cannot be made to say)."""

    def __init__(self, **replies: Any) -> None:
        self._replies = replies

    def __getattr__(self, name: str) -> Any:
        return lambda **_: self._replies[name]


@pytest.mark.parametrize(
    ("attributes", "groups"),
    [
        ({"ApproximateNumberOfMessagesNotVisible": "1"}, [{"Instances": []}]),  # no queue depth
        ({"ApproximateNumberOfMessages": "1"}, [{"Instances": []}]),  # no in-flight count
        ({"ApproximateNumberOfMessages": "1", "ApproximateNumberOfMessagesNotVisible": "0"}, []),  # no group
    ],
    ids=["no-queued", "no-in-flight", "no-group"],
)
def test_missing_data_publishes_nothing(attributes: dict[str, str], groups: list[Any]) -> None:
    published: list[Any] = []
    clients = {
        "sqs": _Answers(get_queue_url={"QueueUrl": "q"}, get_queue_attributes={"Attributes": attributes}),
        "autoscaling": _Answers(describe_auto_scaling_groups={"AutoScalingGroups": groups}),
        "cloudwatch": type("Recorder", (), {"put_metric_data": lambda _, **call: published.append(call)})(),
    }

    reply = load_metric.handler({}, None, clock=lambda: NOW, clients=clients, environ=ENVIRONMENT)

    assert reply == {"published": False, "load": None}
    assert published == []


@pytest.mark.parametrize(
    ("queued", "in_flight", "workers", "busy", "load"),
    [
        (0, 0, 0, 0, 0.0),
        (1, 0, 0, 0, 1.0),
        (0, 1, 0, 0, 0.0),  # a dead task, no worker
        (0, 0, 4, 0, 0.0),
        (8, 0, 1, 0, 0.5),
        (0, 15, 1, 1, 15 / 16),
        (0, 15, 1, 0, 0.0),  # its worker died and another took its place
        (0, 20, 2, 1, 1 / 2),  # 4 messages more than the one busy worker can hold
        (16, 16, 2, 1, 1.0),
        (100, 0, 1, 0, 1.0),
    ],
)
def test_the_load_is_slots_wanted_over_slots_in_service(
    queued: int, in_flight: int, workers: int, busy: int, load: float
) -> None:
    measurement = load_metric.Measurement(
        queued=queued, in_flight=in_flight, in_service_workers=workers, busy_workers=busy
    )
    assert load_metric.cluster_load(measurement, SLOTS) == pytest.approx(load)


def test_a_dead_task_on_an_empty_group_is_no_reason_to_add_a_worker(cluster: Cluster) -> None:
    """Issue 24: a task killed by the drain timeout or a crash leaves its message in flight for the
    queue's 12-hour visibility timeout. Counted as running, it made the load 1.0 with no worker at all:
    a worker was added, got nothing, was removed 15 minutes later, and again, for 12 hours."""
    cluster.queue(1)
    cluster.take(1, busy_workers=0)

    reply = cluster.invoke()

    assert (reply["queued"], reply["in_flight"], reply["in_service_workers"]) == (0, 1, 0)
    assert reply["load"] == 0.0
    assert cluster.published("UnservedTasks") == [(NOW.replace(second=0), 0.0)]


def test_a_dead_task_keeps_no_idle_worker(cluster: Cluster) -> None:
    """The dead task's worker was replaced; the new one is idle and may go."""
    cluster.workers(1)
    cluster.queue(1)
    cluster.take(1, busy_workers=0)

    reply = cluster.invoke()

    assert reply["load"] == 0.0
    assert cluster.published("RemovableWorkers") == [(NOW.replace(second=0), 1.0)]


def test_settings_come_from_the_environment() -> None:
    settings = load_metric.Settings.from_environment(
        {**ENVIRONMENT, "METRIC_NAMESPACE": "Custom", "METRIC_NAME": "Load"}
    )

    assert settings == load_metric.Settings(QUEUE, GROUP, SLOTS, 0.5, "Custom", "Load", "QueuedTasks")
    assert load_metric.Settings.from_environment(ENVIRONMENT).metric_namespace == "Turbine"
