"""Worker figures for many stacks at once: batched Auto Scaling and CloudWatch reads."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Sequence

from turbine_operator.adapters.aws.aws_errors import aws_call
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.core.observed.observations import WorkerGroup

# DescribeAutoScalingGroups takes 50 names per call, or up to 100 with MaxRecords 100
# (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeAutoScalingGroups.html).
GROUPS_PER_CALL = 100
QUERIES_PER_CALL = 500  # GetMetricData takes at most 500 queries per call
LOAD_WINDOW = datetime.timedelta(minutes=20)


@dataclasses.dataclass(frozen=True)
class LoadQuery:
    query_id: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]


def _chunks(items: Sequence[object], size: int) -> Iterable[Sequence[object]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class WorkersGateway:
    def __init__(self, sessions: AwsSessions, region: str, role_arn: str | None) -> None:
        self._autoscaling = sessions.client("autoscaling", region, role_arn)
        self._cloudwatch = sessions.client("cloudwatch", region, role_arn)

    def groups(self, names: Sequence[str]) -> dict[str, WorkerGroup]:
        found: dict[str, WorkerGroup] = {}
        for chunk in _chunks(sorted(set(names)), GROUPS_PER_CALL):
            with aws_call("DescribeAutoScalingGroups"):
                pages = self._autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
                    AutoScalingGroupNames=list(chunk), PaginationConfig={"PageSize": GROUPS_PER_CALL}
                )
                for page in pages:
                    for group in page.get("AutoScalingGroups", []):
                        in_service = [
                            item
                            for item in group.get("Instances", [])
                            if item.get("LifecycleState") == "InService"
                        ]
                        found[group["AutoScalingGroupName"]] = WorkerGroup(
                            name=group["AutoScalingGroupName"],
                            desired=int(group["DesiredCapacity"]),
                            in_service=len(in_service),
                            min_size=int(group["MinSize"]),
                            max_size=int(group["MaxSize"]),
                            busy=sum(1 for item in in_service if item.get("ProtectedFromScaleIn")),
                        )
        return found

    def latest_values(self, queries: Sequence[LoadQuery], now: datetime.datetime) -> dict[str, float]:
        latest: dict[str, float] = {}
        for chunk in _chunks(list(queries), QUERIES_PER_CALL):
            request = [
                {
                    "Id": query.query_id,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": query.namespace,
                            "MetricName": query.metric,
                            "Dimensions": [{"Name": key, "Value": value} for key, value in query.dimensions],
                        },
                        "Period": 60,
                        "Stat": "Average",
                    },
                    "ReturnData": True,
                }
                for query in chunk
                if isinstance(query, LoadQuery)
            ]
            with aws_call("GetMetricData"):
                reply = self._cloudwatch.get_metric_data(
                    MetricDataQueries=request,
                    StartTime=now - LOAD_WINDOW,
                    EndTime=now,
                    ScanBy="TimestampDescending",
                )
            for result in reply.get("MetricDataResults", []):
                if result.get("Values"):
                    latest[result["Id"]] = float(result["Values"][0])
        return latest
