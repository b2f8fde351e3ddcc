"""What Auto Scaling and CloudFormation refuse of the Auto Scaling groups: sizes, rolling updates, creation
signals and lifecycle hooks."""

from __future__ import annotations

import re
from collections.abc import Iterator

from turbine_dev.aws_rules.refusals import Refusal, out_of_range
from turbine_dev.aws_rules.rendered import RenderedStack, known, resources

CAPACITY_LIMITS = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-capacity-limits.html"
UPDATE_POLICY = (
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-updatepolicy.html"
)
CREATION_POLICY = (
    "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-creationpolicy.html"
)
LIFECYCLE_HOOKS = "https://docs.aws.amazon.com/autoscaling/ec2/userguide/adding-lifecycle-hooks.html"
DURATION = re.compile(r"PT(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?")


def seconds(duration: str) -> int:
    """An ISO 8601 duration of the form PT#H#M#S, as UpdatePolicy and CreationPolicy take them."""
    match = DURATION.fullmatch(duration)
    if match is None or duration == "PT":
        raise ValueError(f"{duration} is not of the form PT#H#M#S")
    return int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + int(match["s"] or 0)


def check_group_sizes(stack: RenderedStack) -> Iterator[Refusal]:
    """MinSize <= DesiredCapacity <= MaxSize ("Set scaling limits for your Auto Scaling group")."""
    for path, scope in stack.scopes():
        for logical_id, group in resources(scope, "AWS::AutoScaling::AutoScalingGroup"):
            properties = group["Properties"]
            low, high = known(scope, properties.get("MinSize")), known(scope, properties.get("MaxSize"))
            desired = known(scope, properties.get("DesiredCapacity"))
            where = f"{path} {logical_id}"
            if low is not None and high is not None and int(low) > int(high):
                yield Refusal(
                    "check_group_sizes",
                    where,
                    f"ValidationError: Max bound, {high}, must be greater than or equal to min bound, {low}",
                    CAPACITY_LIMITS,
                )
            if desired is not None and high is not None and int(desired) > int(high):
                yield Refusal(
                    "check_group_sizes",
                    where,
                    f"ValidationError: Desired capacity:{desired} must be between the specified min "
                    f"size:{low} "
                    f"and max size:{high}",
                    CAPACITY_LIMITS,
                )
            if desired is not None and low is not None and int(desired) < int(low):
                yield Refusal(
                    "check_group_sizes",
                    where,
                    f"ValidationError: Desired capacity:{desired} must be between the specified min "
                    f"size:{low} "
                    f"and max size:{high}",
                    CAPACITY_LIMITS,
                )


def check_rolling_updates(stack: RenderedStack) -> Iterator[Refusal]:
    """AutoScalingRollingUpdate: MinInstancesInService must be less than the group's MaxSize, MaxBatchSize at
    most 100, PauseTime at most PT1H (UpdatePolicy attribute)."""
    for path, scope in stack.scopes():
        for logical_id, group in resources(scope, "AWS::AutoScaling::AutoScalingGroup"):
            policy = known(scope, group.get("UpdatePolicy", {}).get("AutoScalingRollingUpdate"))
            if not policy:
                continue
            where = f"{path} {logical_id} UpdatePolicy"
            high = known(scope, group["Properties"].get("MaxSize"))
            least = int(policy.get("MinInstancesInService", 0))
            if high is not None and least >= int(high):
                yield Refusal(
                    "check_rolling_updates",
                    where,
                    f"MinInstancesInService ({least}) must be less than the MaxSize ({high}) of the "
                    "Auto Scaling "
                    "group",
                    UPDATE_POLICY,
                )
            batch = int(policy.get("MaxBatchSize", 1))
            if batch > 100:
                yield Refusal(
                    "check_rolling_updates", where, f"MaxBatchSize {batch}: Maximum: 100", UPDATE_POLICY
                )
            pause = str(policy.get("PauseTime", "PT0S"))
            if seconds(pause) > 3600:
                yield Refusal(
                    "check_rolling_updates",
                    where,
                    f"PauseTime {pause}: The maximum PauseTime is one hour (PT1H)",
                    UPDATE_POLICY,
                )


def check_creation_signals(stack: RenderedStack) -> Iterator[Refusal]:
    """CreationPolicy ResourceSignal Timeout: at most 12 hours (CreationPolicy attribute)."""
    for path, scope in stack.scopes():
        for logical_id, resource in scope.template.get("Resources", {}).items():
            signal = resource.get("CreationPolicy", {}).get("ResourceSignal")
            if not signal or not scope.resource_exists(resource):
                continue
            timeout = str(known(scope, signal.get("Timeout", "PT5M")))
            if seconds(timeout) > 12 * 3600:
                yield Refusal(
                    "check_creation_signals",
                    f"{path} {logical_id} CreationPolicy",
                    f"Timeout {timeout}: The maximum time that you can specify is 12 hours",
                    CREATION_POLICY,
                )


def check_lifecycle_hooks(stack: RenderedStack) -> Iterator[Refusal]:
    """A lifecycle hook's HeartbeatTimeout is 30 to 7200 seconds ("Add lifecycle hooks")."""
    for path, scope in stack.scopes():
        for logical_id, group in resources(scope, "AWS::AutoScaling::AutoScalingGroup"):
            hooks = known(scope, group["Properties"].get("LifecycleHookSpecificationList")) or []
            for hook in hooks:
                message = out_of_range(int(hook.get("HeartbeatTimeout", 3600)), "heartbeatTimeout", 30, 7200)
                if message:
                    yield Refusal("check_lifecycle_hooks", f"{path} {logical_id}", message, LIFECYCLE_HOOKS)


CHECKS = (check_group_sizes, check_rolling_updates, check_creation_signals, check_lifecycle_hooks)
