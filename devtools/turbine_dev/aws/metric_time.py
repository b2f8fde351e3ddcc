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

Auto Scaling's side, as AWS documents it: a simple scaling policy changes the capacity by its
adjustment and then waits its cooldown before it responds to its alarm again
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-simple-step.html). A target tracking
policy's scale-out alarm (created by the embedded AWS, turbine_dev.aws.moto_autoscaling) sets the capacity
in proportion to the metric, "as required to keep the metric at, or close to, the specified target
value" ("Target tracking scaling policies for Amazon EC2 Auto Scaling",
https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-target-tracking.html): the capacity it
asks for is read here as ceil(desired capacity x metric / target), never less than the desired
capacity, at most MaxSize. The current capacity it scales is read as the desired capacity, instances
still warming up included (so a policy does not ask twice for the same workers); with none, a target
tracking policy has nothing to scale in proportion, and it adds none (AWS is silent; the harsher
reading). Every change of capacity stays within MinSize..MaxSize
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-capacity-limits.html).

EventBridge's `rate(1 minute)` schedule invokes the load function once a minute; here at each whole
minute, and the alarms are evaluated at each whole minute too, after the invocation of that minute.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import math
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
    return _evaluated(cloudwatch, alarm, at)[0]


def _evaluated(cloudwatch: Any, alarm: Alarm, at: datetime.datetime) -> tuple[str, list[float]]:
    """The alarm's state at `at` and the values of the periods it evaluated, oldest first."""
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
        return "ALARM", values
    if not values and alarm.treat_missing_data == "missing":
        return "INSUFFICIENT_DATA", values
    return "OK", values


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


# (execution role ARN, function name) -> the sqs, autoscaling and cloudwatch clients the function calls with.
RoleClients = Callable[[str, str], Mapping[str, Any]]


@dataclasses.dataclass(frozen=True)
class DeployedLoadFunction:
    """The load function a stack deployed, with the environment the stack gave it, run in this process
    against `clients` (sqs, autoscaling and cloudwatch clients of the AWS the stack lives in)."""

    environ: Mapping[str, str]
    clients: Mapping[str, Any]

    @classmethod
    def of_group(
        cls, clients: Mapping[str, Any], group: str, as_role: RoleClients | None = None
    ) -> DeployedLoadFunction:
        """The function of the stack whose worker group is `group` (`clients` also needs lambda). With
        `as_role`, the function calls AWS with the clients it gives for the function's execution role (ARN)
        and name, as Lambda runs it with that role's credentials; else with `clients`."""
        [function] = [
            f
            for f in clients["lambda"].list_functions()["Functions"]
            if f["Handler"] == "turbine_cluster_load.handler"
            and f["Environment"]["Variables"]["AUTO_SCALING_GROUP_NAME"] == group
        ]
        own = clients if as_role is None else as_role(function["Role"], function["FunctionName"])
        return cls(function["Environment"]["Variables"], own)

    def __call__(self, now: datetime.datetime | None = None) -> Any:
        clock = (lambda: now) if now is not None else (lambda: datetime.datetime.now(datetime.UTC))
        return load_function().handler({}, None, clock=clock, clients=self.clients, environ=self.environ)


@dataclasses.dataclass(frozen=True)
class ScaleOut:
    decision: Decision
    alarm: str
    desired_capacity: int


@dataclasses.dataclass(frozen=True)
class Action:
    """A scaling policy that changed (or, at a limit, tried to change) the group's desired capacity."""

    at: datetime.datetime
    alarm: str
    policy_type: str
    desired_before: int
    desired_after: int


def target_tracking_capacity(current: int, metric: float, target: float, maximum: int) -> int:
    """The capacity a target tracking policy's scale-out asks for (see the module's docstring)."""
    if current <= 0 or metric <= target:
        return current
    return min(maximum, max(current, math.ceil(current * metric / target - 1e-9)))


def _group(autoscaling: Any, group: str) -> dict[str, Any]:
    [described] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])["AutoScalingGroups"]
    return dict(described)


@dataclasses.dataclass
class GroupScaling:
    """The alarms of `group` (dimension AutoScalingGroupName) and the policies they invoke, evaluated and
    performed at each whole minute after `invoke(minute)`, the load function."""

    clients: Mapping[str, Any]
    group: str
    invoke: Callable[[datetime.datetime], object]
    actions: list[Action] = dataclasses.field(default_factory=list)
    _last: dict[str, datetime.datetime] = dataclasses.field(default_factory=dict)

    def alarms(self) -> list[dict[str, Any]]:
        return [
            a
            for a in self.clients["cloudwatch"].describe_alarms()["MetricAlarms"]
            if {"Name": "AutoScalingGroupName", "Value": self.group} in a.get("Dimensions", [])
        ]

    def policies(self) -> dict[str, dict[str, Any]]:
        described = self.clients["autoscaling"].describe_policies(AutoScalingGroupName=self.group)
        return {p["PolicyARN"]: p for p in described["ScalingPolicies"]}

    def minute(self, at: datetime.datetime) -> list[Action]:
        """One minute: the load function, then every alarm; the actions taken."""
        self.invoke(at)
        taken = []
        policies = self.policies()
        for alarm in self.alarms():
            state, values = _evaluated(self.clients["cloudwatch"], Alarm.described(alarm), at)
            if state != "ALARM":
                continue
            for arn in alarm.get("AlarmActions", []):
                policy = policies.get(arn)
                if policy is not None:
                    action = self._perform(policy, alarm, values[-1] if values else None, at)
                    if action is not None:
                        taken.append(action)
        self.actions.extend(taken)
        return taken

    def _perform(
        self, policy: dict[str, Any], alarm: dict[str, Any], metric: float | None, at: datetime.datetime
    ) -> Action | None:
        autoscaling = self.clients["autoscaling"]
        before = _group(autoscaling, self.group)
        desired = int(before["DesiredCapacity"])
        if policy["PolicyType"] == "TargetTrackingScaling":
            if metric is None:
                return None
            target = float(policy["TargetTrackingConfiguration"]["TargetValue"])
            wanted = target_tracking_capacity(desired, metric, target, int(before["MaxSize"]))
            if wanted == desired:
                return None
            autoscaling.set_desired_capacity(AutoScalingGroupName=self.group, DesiredCapacity=wanted)
        else:
            last = self._last.get(policy["PolicyARN"])
            cooldown = datetime.timedelta(seconds=int(policy.get("Cooldown") or 300))
            if last is not None and at - last < cooldown:
                return None
            autoscaling.execute_policy(
                AutoScalingGroupName=self.group, PolicyName=policy["PolicyName"], HonorCooldown=True
            )
            self._last[policy["PolicyARN"]] = at
        after = int(_group(autoscaling, self.group)["DesiredCapacity"])
        return Action(at, alarm["AlarmName"], policy["PolicyType"], desired, after)

    def run(
        self,
        since: datetime.datetime,
        until: Callable[[list[Action]], bool],
        horizon: datetime.timedelta = datetime.timedelta(minutes=30),
    ) -> int:
        """Minutes from `since` until `until(actions of the minute)` holds or the horizon passes; the
        number of invocations made."""
        minute, invocations = whole_minute_after(since), 0
        while minute - since <= horizon:
            taken = self.minute(minute)
            invocations += 1
            if until(taken):
                break
            minute += datetime.timedelta(minutes=1)
        return invocations


def deployed_scale_out(
    clients: Mapping[str, Any], group: str, since: datetime.datetime, as_role: RoleClients | None = None
) -> ScaleOut:
    """What the deployed worker set does about its queue from `since`: its load function, alarms and
    policies in simulated metric time, up to the first scaling action. `clients` holds lambda,
    cloudwatch, autoscaling and sqs clients of the stack's AWS; `as_role`: see DeployedLoadFunction."""
    function = DeployedLoadFunction.of_group(clients, group, as_role)
    scaling = GroupScaling(clients, group, function)
    invocations = scaling.run(since, bool)
    if not scaling.actions:
        return ScaleOut(
            Decision(since, None, invocations),
            "",
            int(_group(clients["autoscaling"], group)["DesiredCapacity"]),
        )
    first = scaling.actions[0]
    return ScaleOut(Decision(since, first.at, invocations), first.alarm, first.desired_after)
