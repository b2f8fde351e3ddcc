"""The load-metric Lambda against moto's CloudWatch, seeded with SQS and Auto Scaling datapoints."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

import turbine_cluster_load as load_metric

QUEUE = "turbine-broker"
GROUP = "turbine-workers"
ENVIRONMENT = {"QUEUE_NAME": QUEUE, "AUTO_SCALING_GROUP_NAME": GROUP}
# 12:37:42 lies in the 12:35 bucket, so the measured bucket is the one that began at 12:25.
NOW = datetime(2025, 3, 14, 12, 37, 42, tzinfo=UTC)
BUCKET = datetime(2025, 3, 14, 12, 25, tzinfo=UTC)
IDLE_CAPACITY = load_metric.EMPTY_RECEIVES_PER_IDLE_WORKER_PER_SECOND * load_metric.SQS_PERIOD_SECONDS


@pytest.fixture
def cloudwatch(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def seed(
    cloudwatch: Any,
    *,
    visible: float | None = None,
    empty_receives: float | None = None,
    in_service: float | None = None,
    at: datetime = BUCKET,
) -> None:
    """Puts datapoints shaped like the ones SQS and Auto Scaling publish, stamped `at`."""

    def put(namespace: str, name: str, dimension: tuple[str, str], value: float, unit: str) -> None:
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": dimension[0], "Value": dimension[1]}],
                    "Timestamp": at,
                    "Value": value,
                    "Unit": unit,
                }
            ],
        )

    if visible is not None:
        put("AWS/SQS", "ApproximateNumberOfMessagesVisible", ("QueueName", QUEUE), visible, "Count")
    if empty_receives is not None:
        put("AWS/SQS", "NumberOfEmptyReceives", ("QueueName", QUEUE), empty_receives, "Count")
    if in_service is not None:
        put("AWS/AutoScaling", "GroupInServiceInstances", ("AutoScalingGroupName", GROUP), in_service, "None")


def invoke(cloudwatch: Any, now: datetime = NOW) -> dict[str, Any]:
    return load_metric.handler({}, None, clock=lambda: now, cloudwatch=cloudwatch, environ=ENVIRONMENT)


def published(cloudwatch: Any) -> list[tuple[datetime, float]]:
    reply = cloudwatch.get_metric_statistics(
        Namespace="Turbine",
        MetricName="ClusterLoad",
        Dimensions=[{"Name": "AutoScalingGroupName", "Value": GROUP}],
        StartTime=NOW - timedelta(hours=1),
        EndTime=NOW + timedelta(hours=1),
        Period=60,
        Statistics=["Average"],
    )
    return sorted((point["Timestamp"], point["Average"]) for point in reply["Datapoints"])


@pytest.mark.parametrize(
    ("now", "bucket"),
    [
        (datetime(2025, 3, 14, 12, 35, 0, tzinfo=UTC), datetime(2025, 3, 14, 12, 25, tzinfo=UTC)),
        (datetime(2025, 3, 14, 12, 39, 59, 999, tzinfo=UTC), datetime(2025, 3, 14, 12, 25, tzinfo=UTC)),
        (datetime(2025, 3, 14, 12, 40, 0, tzinfo=UTC), datetime(2025, 3, 14, 12, 30, tzinfo=UTC)),
        (datetime(2025, 3, 14, 0, 4, 0, tzinfo=UTC), datetime(2025, 3, 13, 23, 50, tzinfo=UTC)),
    ],
)
def test_the_measured_bucket_began_10_to_15_minutes_ago(now: datetime, bucket: datetime) -> None:
    assert load_metric.measured_bucket_start(now) == bucket
    assert timedelta(minutes=10) <= now - bucket < timedelta(minutes=15)


def test_normal_load_follows_the_upstream_formula(cloudwatch: Any) -> None:
    # Two workers, one of them idle for the whole bucket: half the cluster is busy.
    seed(cloudwatch, visible=3, empty_receives=IDLE_CAPACITY, in_service=2)

    reply = invoke(cloudwatch)

    assert reply["published"] is True
    assert reply["load"] == pytest.approx(0.5)
    [(stamp, value)] = published(cloudwatch)
    assert stamp == NOW.replace(second=0)
    assert value == pytest.approx(0.5)


def test_upstream_worked_example(cloudwatch: Any) -> None:
    seed(cloudwatch, visible=0, empty_receives=29, in_service=1)

    assert invoke(cloudwatch)["load"] == pytest.approx(1 - 29 / 29.5332, abs=1e-4)


def test_idle_workers_report_zero(cloudwatch: Any) -> None:
    seed(cloudwatch, visible=0, empty_receives=3 * IDLE_CAPACITY, in_service=3)

    assert invoke(cloudwatch)["load"] == pytest.approx(0.0)
    [(stamp, value)] = published(cloudwatch)
    assert stamp == NOW.replace(second=0)
    assert value == pytest.approx(0.0)


def test_more_empty_receives_than_modelled_are_clamped_to_zero(cloudwatch: Any) -> None:
    seed(cloudwatch, visible=0, empty_receives=5 * IDLE_CAPACITY, in_service=1)

    assert invoke(cloudwatch)["load"] == 0.0
    assert published(cloudwatch) == [(NOW.replace(second=0), 0.0)]


def test_busy_workers_report_one(cloudwatch: Any) -> None:
    seed(cloudwatch, visible=40, empty_receives=0, in_service=4)

    assert invoke(cloudwatch)["load"] == 1.0


def test_a_load_above_one_is_clamped(cloudwatch: Any) -> None:
    # No real queue reports negative empty receives, but a bad datapoint must not leave [0, 1].
    seed(cloudwatch, visible=5, empty_receives=-10, in_service=1)

    assert invoke(cloudwatch)["load"] == 1.0
    assert published(cloudwatch) == [(NOW.replace(second=0), 1.0)]


def test_no_workers_but_waiting_tasks_report_full_load(cloudwatch: Any) -> None:
    seed(cloudwatch, visible=7, empty_receives=0, in_service=0)

    reply = invoke(cloudwatch)

    assert reply == {"published": True, "load": 1.0}
    assert published(cloudwatch) == [(NOW.replace(second=0), 1.0)]


def test_no_workers_and_no_tasks_publish_nothing(cloudwatch: Any) -> None:
    seed(cloudwatch, visible=0, empty_receives=0, in_service=0)

    assert invoke(cloudwatch) == {"published": False, "load": None}
    assert published(cloudwatch) == []


@pytest.mark.parametrize(
    "missing",
    [
        {"visible": 2.0, "empty_receives": 10.0},  # no GroupInServiceInstances
        {"visible": 2.0, "in_service": 2.0},  # no NumberOfEmptyReceives while workers run
        {"empty_receives": 0.0, "in_service": 0.0},  # no queue depth while the group is empty
        {},  # nothing at all
    ],
)
def test_missing_data_skips_publishing(cloudwatch: Any, missing: dict[str, Any]) -> None:
    seed(cloudwatch, **missing)

    assert invoke(cloudwatch) == {"published": False, "load": None}
    assert published(cloudwatch) == []


def test_datapoints_outside_the_measured_bucket_are_ignored(cloudwatch: Any) -> None:
    # The still-filling bucket right after the measured one must not be mistaken for it.
    seed(cloudwatch, visible=9, empty_receives=0, in_service=3, at=BUCKET + timedelta(minutes=5))

    assert invoke(cloudwatch) == {"published": False, "load": None}


def test_settings_come_from_the_environment() -> None:
    settings = load_metric.Settings.from_environment(
        {**ENVIRONMENT, "METRIC_NAMESPACE": "Custom", "METRIC_NAME": "Load"}
    )

    assert settings == load_metric.Settings(QUEUE, GROUP, "Custom", "Load")
    assert load_metric.Settings.from_environment(ENVIRONMENT).metric_namespace == "Turbine"
