"""Scaling decisions in simulated metric time: the load function and CloudWatch's alarm evaluation,
minute by minute, without waiting for real minutes.

moto stores metric data and alarms but never evaluates an alarm, so the part of CloudWatch that turns
datapoints into a scaling action is reproduced here, as AWS documents it
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarm-evaluation):
an alarm is evaluated every minute over complete periods (aligned to multiples of the period's length),
each period's value being the alarm's statistic of the datapoints in it. CloudWatch retrieves more
periods than EvaluationPeriods, the "evaluation range": when at least EvaluationPeriods of them hold
data, the most recent ones with data are evaluated and TreatMissingData is ignored (a minute the load
function skipped reuses the minute before); only with fewer are the missing ones filled as
TreatMissingData says (notBreaching: they do not breach). The size of the evaluation range is not
documented: here EvaluationPeriods + EXTRA_PERIODS, an assumption. The alarm is in ALARM when at least
DatapointsToAlarm of the evaluated periods breach. An Auto Scaling action runs when the alarm enters
ALARM and again every minute while it stays there, once its policy's cooldown has passed
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-simple-step.html); `time_to_alarm`
measures the first.

EventBridge's `rate(1 minute)` schedule invokes the load function once a minute; here at each whole
minute, and the alarms are evaluated at each whole minute too, after the invocation of that minute.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import operator
import sys
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from turbine_operator.adapters.sources import lambdas_dir

_COMPARISONS: Mapping[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanOrEqualToThreshold": operator.le,
    "LessThanThreshold": operator.lt,
}


@dataclasses.dataclass(frozen=True)
class Alarm:
    """The parts of a CloudWatch metric alarm that decide its state (as DescribeAlarms returns them)."""

    name: str
    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing_data: str

    @classmethod
    def described(cls, alarm: Mapping[str, Any]) -> Alarm:
        return cls(
            name=alarm["AlarmName"],
            namespace=alarm["Namespace"],
            metric=alarm["MetricName"],
            dimensions=tuple((d["Name"], d["Value"]) for d in alarm.get("Dimensions", [])),
            statistic=alarm["Statistic"],
            period=int(alarm["Period"]),
            evaluation_periods=int(alarm["EvaluationPeriods"]),
            datapoints_to_alarm=int(alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"]),
            threshold=float(alarm["Threshold"]),
            comparison=alarm["ComparisonOperator"],
            treat_missing_data=alarm.get("TreatMissingData", "missing"),
        )


def whole_minute_after(moment: datetime.datetime) -> datetime.datetime:
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + datetime.timedelta(minutes=1)


EXTRA_PERIODS = 5


def alarm_state(cloudwatch: Any, alarm: Alarm, at: datetime.datetime) -> str:
    """ALARM, OK or INSUFFICIENT_DATA when CloudWatch evaluates `alarm` at `at`."""
    period = datetime.timedelta(seconds=alarm.period)
    # Periods are aligned to multiples of their length (a 300 s period starts at :00, :05, ...), and
    # only complete ones are evaluated: the newest ends at or before `at`.
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    end = at - (at - epoch) % period
    start = end - period * (alarm.evaluation_periods + EXTRA_PERIODS)
    reply = cloudwatch.get_metric_statistics(
        Namespace=alarm.namespace,
        MetricName=alarm.metric,
        Dimensions=[{"Name": name, "Value": value} for name, value in alarm.dimensions],
        StartTime=start,
        EndTime=end,
        Period=alarm.period,
        Statistics=[alarm.statistic],
    )
    points = sorted(
        (point["Timestamp"], point[alarm.statistic])
        for point in reply.get("Datapoints", [])
        if start <= point["Timestamp"] < end
    )
    values = [value for _, value in points[-alarm.evaluation_periods :]]
    breaching = sum(1 for value in values if _COMPARISONS[alarm.comparison](value, alarm.threshold))
    if alarm.treat_missing_data == "breaching":
        breaching += alarm.evaluation_periods - len(values)
    if breaching >= alarm.datapoints_to_alarm:
        return "ALARM"
    if not values and alarm.treat_missing_data == "missing":
        return "INSUFFICIENT_DATA"
    return "OK"


@dataclasses.dataclass(frozen=True)
class Decision:
    """When the alarm went to ALARM, counted from `since`; None if it did not within the horizon."""

    since: datetime.datetime
    decided_at: datetime.datetime | None
    invocations: int

    @property
    def seconds(self) -> float | None:
        return None if self.decided_at is None else (self.decided_at - self.since).total_seconds()


def time_to_alarm(
    invoke: Callable[[datetime.datetime], object],
    cloudwatch: Any,
    alarm: Alarm,
    since: datetime.datetime,
    horizon: datetime.timedelta = datetime.timedelta(minutes=30),
) -> Decision:
    """Runs the load function (`invoke(now)`) and evaluates `alarm` at every whole minute from `since`."""
    minute, invocations = whole_minute_after(since), 0
    while minute - since <= horizon:
        invoke(minute)
        invocations += 1
        if alarm_state(cloudwatch, alarm, minute) == "ALARM":
            return Decision(since, minute, invocations)
        minute += datetime.timedelta(minutes=1)
    return Decision(since, None, invocations)


@dataclasses.dataclass(frozen=True)
class ScaleOut:
    decision: Decision
    alarm: str
    desired_capacity: int


def load_function() -> ModuleType:
    """The product's load function, from the same sources the bundle zips (lambdas/), as its own module."""
    name = "turbine_cluster_load_as_deployed"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, lambdas_dir() / "turbine_cluster_load.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the module runs
        spec.loader.exec_module(module)
    return sys.modules[name]


@dataclasses.dataclass(frozen=True)
class DeployedLoadFunction:
    """The load function a stack deployed, with the environment the stack gave it, run in this process
    against `clients` (sqs, autoscaling and cloudwatch clients of the AWS the stack lives in)."""

    environ: Mapping[str, str]
    clients: Mapping[str, Any]

    @classmethod
    def of_group(cls, clients: Mapping[str, Any], group: str) -> DeployedLoadFunction:
        """The function of the stack whose worker group is `group` (`clients` also needs lambda)."""
        [function] = [
            f
            for f in clients["lambda"].list_functions()["Functions"]
            if f["Handler"] == "turbine_cluster_load.handler"
            and f["Environment"]["Variables"]["AUTO_SCALING_GROUP_NAME"] == group
        ]
        return cls(function["Environment"]["Variables"], clients)

    def __call__(self, now: datetime.datetime | None = None) -> Any:
        clock = (lambda: now) if now is not None else (lambda: datetime.datetime.now(datetime.UTC))
        return load_function().handler({}, None, clock=clock, clients=self.clients, environ=self.environ)


def deployed_scale_out(clients: Mapping[str, Any], group: str, since: datetime.datetime) -> ScaleOut:
    """What the deployed worker set does about its queue from `since`: its load function and its grow
    alarm run in simulated metric time; when the alarm fires, its action, the simple scaling policy, is
    executed. `clients` holds lambda, cloudwatch, autoscaling and sqs clients of the stack's AWS."""
    function = DeployedLoadFunction.of_group(clients, group)
    [alarm] = [
        a
        for a in clients["cloudwatch"].describe_alarms()["MetricAlarms"]
        if a["MetricName"] == function.environ["METRIC_NAME"]
        and {"Name": "AutoScalingGroupName", "Value": group} in a["Dimensions"]
        and a["ComparisonOperator"].startswith("GreaterThan")
    ]
    decision = time_to_alarm(function, clients["cloudwatch"], Alarm.described(alarm), since)
    if decision.decided_at is not None:
        [action] = alarm["AlarmActions"]
        # AWS takes the policy's name or ARN; moto looks policies up by name only.
        policy = action.rsplit(":policyName/", 1)[-1]
        clients["autoscaling"].execute_policy(
            AutoScalingGroupName=group, PolicyName=policy, HonorCooldown=True
        )
    [described] = clients["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
        "AutoScalingGroups"
    ]
    return ScaleOut(decision, alarm["AlarmName"], int(described["DesiredCapacity"]))
