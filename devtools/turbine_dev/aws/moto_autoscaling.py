"""Where moto's Auto Scaling differs from AWS in ways the worker set relies on, make it behave like AWS.

Dev and test only: loaded by `turbine_dev.aws.moto_server` (and by in-process tests through `install()`),
never by the product. Each patch names the AWS page it follows:

- A target tracking policy creates the CloudWatch alarms that invoke it; Auto Scaling owns them
  ("Target tracking scaling policies for Amazon EC2 Auto Scaling",
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-scaling-target-tracking.html). moto creates
  none, so nothing would ever scale. AWS names them TargetTracking-<group>-AlarmHigh-<id> and
  -AlarmLow-<id> and does not document their evaluation on the pages found; the alarms the console
  shows for a one-minute metric are 3 of 3 minutes above the target (scale out) and 15 of 15 below 90 %
  of it (scale in), and the harsher (slower) reading is taken: 3 minutes, not 1. With DisableScaleIn
  only the scale-out alarm is made. `turbine_dev.aws.metric_time` evaluates them and performs the policy.
- PutScalingPolicy answers the policy's ARN and the alarms it created, DescribePolicies lists them
  ("PutScalingPolicy", https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutScalingPolicy.html);
  moto answers neither.
- SetDesiredCapacity outside the group's MinSize..MaxSize is refused with a ValidationError worded as
  AWS words it ("Set scaling limits for your Auto Scaling group",
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-capacity-limits.html); moto sets any value.
- A scaling policy's change of capacity stays within MinSize..MaxSize (same page: "the group ... does
  not scale beyond" its limits); moto's ExecutePolicy sets desired capacity below MinSize or above
  MaxSize. As on AWS, a scale-in lowers the desired capacity even when every instance is protected
  from scale-in and then terminates none (moto already does; "Use instance scale-in protection",
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-instance-protection.html).
- A group's termination lifecycle hook holds an instance a scale-in chose in Terminating:Wait, still in
  the group and no longer counted as its capacity, until CompleteLifecycleAction (or the heartbeat
  timeout) lets it go ("Amazon EC2 Auto Scaling lifecycle hooks",
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks-overview.html); moto terminates
  it at once, so a worker could never drain, and its CompleteLifecycleAction would find no action. The
  hooks of a template's LifecycleHookSpecificationList are the group's hooks
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-autoscaling-autoscalinggroup-lifecyclehookspecification.html);
  moto's CloudFormation drops them. `complete_termination` is what CompleteLifecycleAction then does
  (the embedded AWS's handler calls it, turbine_dev.rehearsal.services.aws_server).
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.autoscaling import models, responses
from moto.autoscaling.exceptions import ValidationError
from moto.cloudwatch.models import cloudwatch_backends
from moto.core.responses import ActionResult

HIGH_DATAPOINTS = 3
LOW_DATAPOINTS = 15
LOW_FRACTION = 0.9


def install() -> None:
    """Idempotent."""
    backend: Any = models.AutoScalingBackend
    if getattr(backend, "_turbine_autoscaling", False):
        return
    backend._turbine_autoscaling = True
    _target_tracking_creates_its_alarms(backend)
    _capacity_within_the_limits(backend)
    _termination_waits_for_the_lifecycle_hook()


def _target_tracking_creates_its_alarms(backend: Any) -> None:
    original = backend.put_scaling_policy

    def put_scaling_policy(self: Any, *args: Any, **kwargs: Any) -> Any:
        policy = original(self, *args, **kwargs)
        policy.alarms = _put_alarms(self, policy) if policy.policy_type == "TargetTrackingScaling" else []
        return policy

    def put_scaling_policy_response(self: Any) -> ActionResult:
        original_response(self)
        policy = self.autoscaling_backend.policies[self._get_param("PolicyName")]
        return ActionResult({"PolicyARN": policy.arn, "Alarms": policy.alarms})

    backend.put_scaling_policy = put_scaling_policy
    response_class: Any = responses.AutoScalingResponse
    original_response = response_class.put_scaling_policy
    response_class.put_scaling_policy = put_scaling_policy_response


def _put_alarms(backend: Any, policy: Any) -> list[dict[str, str]]:
    """The alarms AWS creates for a target tracking policy, as PutScalingPolicy lists them."""
    configuration = policy.target_tracking_configuration.__dict__
    metric = configuration.get("CustomizedMetricSpecification")
    if not metric or "MetricName" not in metric:
        return []  # predefined and metric math specifications are not modelled here
    target = float(configuration["TargetValue"])
    group = policy.auto_scaling_group_name
    cloudwatch = cloudwatch_backends[backend.account_id][backend.region_name]
    alarms = [("AlarmHigh", "GreaterThanThreshold", target, HIGH_DATAPOINTS)]
    if str(configuration.get("DisableScaleIn", "false")).lower() != "true":
        alarms.append(("AlarmLow", "LessThanThreshold", target * LOW_FRACTION, LOW_DATAPOINTS))
    created = []
    for kind, comparison, threshold, datapoints in alarms:
        alarm = cloudwatch.put_metric_alarm(
            name=f"TargetTracking-{group}-{kind}-{uuid.uuid4()}",
            namespace=metric["Namespace"],
            metric_name=metric["MetricName"],
            comparison_operator=comparison,
            evaluation_periods=datapoints,
            period=60,
            threshold=threshold,
            statistic=metric.get("Statistic", "Average"),
            description=f"DO NOT EDIT OR DELETE. For TargetTrackingScaling policy {policy.arn}.",
            dimensions=metric.get("Dimensions", []),
            alarm_actions=[policy.arn],
            datapoints_to_alarm=datapoints,
        )
        created.append({"AlarmName": alarm.name, "AlarmARN": alarm.alarm_arn})
    return created


def _capacity_within_the_limits(backend: Any) -> None:
    original_set = backend.set_desired_capacity
    original_execute = backend.execute_policy

    def set_desired_capacity(self: Any, group_name: str, desired_capacity: int | None) -> None:
        group = self.autoscaling_groups[group_name]
        if desired_capacity is not None and desired_capacity > group.max_size:
            raise ValidationError(
                f"New SetDesiredCapacity value {desired_capacity} is above max value {group.max_size} "
                "for the AutoScalingGroup."
            )
        if desired_capacity is not None and desired_capacity < group.min_size:
            raise ValidationError(
                f"New SetDesiredCapacity value {desired_capacity} is below min value {group.min_size} "
                "for the AutoScalingGroup."
            )
        original_set(self, group_name, desired_capacity)

    def execute_policy(self: Any, group_name: str) -> None:
        policy = self.policies[group_name]
        group = self.autoscaling_groups[policy.auto_scaling_group_name]
        if policy.adjustment_type == "ChangeInCapacity":
            wanted = group.desired_capacity + int(policy.scaling_adjustment)
        elif policy.adjustment_type == "ExactCapacity":
            wanted = int(policy.scaling_adjustment)
        else:
            original_execute(self, group_name)
            return
        original_set(self, group.name, min(group.max_size, max(group.min_size, wanted)))

    backend.set_desired_capacity = set_desired_capacity
    backend.execute_policy = execute_policy


TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
TERMINATING_WAIT = "Terminating:Wait"


def _has_termination_hook(group: Any) -> bool:
    return any(
        hook.auto_scaling_group_name == group.name and hook.lifecycle_transition == TERMINATING
        for hook in group.autoscaling_backend.lifecycle_hooks.values()
    )


def _termination_waits_for_the_lifecycle_hook() -> None:
    group_class: Any = models.FakeAutoScalingGroup
    original_set = group_class.set_desired_capacity
    original_create = group_class.create_from_cloudformation_json.__func__

    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        wanted = self.min_size if new_capacity is None else int(new_capacity)
        active = self.active_instances()
        if wanted < len(active) and _has_termination_hook(self):
            # The instances moto would choose (unprotected, in its order), held instead of terminated;
            # moto then counts the rest, which is the new desired capacity, and changes nothing more.
            for state in [s for s in active if not s.protected_from_scale_in][: len(active) - wanted]:
                state.lifecycle_state = TERMINATING_WAIT
        original_set(self, new_capacity)

    def create_from_cloudformation_json(
        cls: Any, /, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> Any:  # fmt: skip
        group = original_create(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        for hook in cloudformation_json["Properties"].get("LifecycleHookSpecificationList", []):
            group.autoscaling_backend.create_lifecycle_hook(
                hook["LifecycleHookName"], group.name, hook["LifecycleTransition"],
                int(hook["HeartbeatTimeout"]) if "HeartbeatTimeout" in hook else None,
                hook.get("DefaultResult"),
            )  # fmt: skip
        return group

    group_class.set_desired_capacity = set_desired_capacity
    group_class.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def complete_termination(backend: Any, group_name: str, instance_id: str) -> bool:
    """CompleteLifecycleAction for an instance in Terminating:Wait: it leaves the group and EC2
    terminates it. False (nothing done) for an instance not waiting to terminate."""
    group = backend.autoscaling_groups[group_name]
    waiting = [s for s in group.instance_states
               if s.instance.id == instance_id and s.lifecycle_state == TERMINATING_WAIT]  # fmt: skip
    if not waiting:
        return False
    group.instance_states = [s for s in group.instance_states if s not in waiting]
    backend.ec2_backend.terminate_instances([instance_id])
    return True
