"""Target health as Elastic Load Balancing reports it, and its health check limits. Dev and test only.

moto 5.2.5 answers `healthy` for every registered instance the moment it is registered, and accepts
any health check settings. After `install()` the embedded AWS:

- answers DescribeTargetHealth for a registered target with what a health checker observed
  (`observations`, a JSON file {target group ARN: {target id: {"State", "Reason", "Description"}}},
  which the rehearsal's load balancer stand-in writes), and with `initial`
  (`Elb.RegistrationInProgress`) for a target nobody has checked yet: a target is never healthy
  without a passing check. States and reason codes as AWS documents them: initial, healthy,
  unhealthy, unused, draining, unavailable.
  https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html
- refuses a target group whose health check settings Elastic Load Balancing refuses: interval
  5-300 s, timeout 2-120 s and less than the interval, healthy and unhealthy thresholds 2-10,
  HTTP matcher codes 200-499 for an Application Load Balancer.
  https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html
  https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
- applies a template's TargetGroupAttributes (moto drops them), so the deregistration delay the
  template sets is the one DescribeTargetGroupAttributes answers (0-3600 s, default 300).
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-elasticloadbalancingv2-targetgroup-targetgroupattribute.html
- deregisters an instance from its group's target groups when Auto Scaling terminates or detaches
  it (moto leaves it registered and healthy), so it drains and leaves the load balancer.
  https://docs.aws.amazon.com/autoscaling/ec2/userguide/autoscaling-load-balancer.html
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from moto.autoscaling.models import AutoScalingBackend
from moto.elbv2.exceptions import ValidationError
from moto.elbv2.models import ELBv2Backend, FakeHealthStatus, FakeTargetGroup

# (setting as the API names it, moto's keyword, least, most)
LIMITS = (
    ("healthCheckIntervalSeconds", "healthcheck_interval_seconds", 5, 300),
    ("healthCheckTimeoutSeconds", "healthcheck_timeout_seconds", 2, 120),
    ("healthyThresholdCount", "healthy_threshold_count", 2, 10),
    ("unhealthyThresholdCount", "unhealthy_threshold_count", 2, 10),
)
_CODES = re.compile(r"\d+")


def refusal(settings: dict[str, Any]) -> str | None:
    """Elastic Load Balancing's words for the health check settings it refuses (moto's keywords), or None."""
    for name, keyword, least, most in LIMITS:
        value = settings.get(keyword)
        if value is None:
            continue
        if int(value) < least:
            return (
                f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: "
                f"Member must have value greater than or equal to {least}"
            )
        if int(value) > most:
            return (
                f"1 validation error detected: Value '{value}' at '{name}' failed to satisfy constraint: "
                f"Member must have value less than or equal to {most}"
            )
    interval, timeout = (
        settings.get("healthcheck_interval_seconds"),
        settings.get("healthcheck_timeout_seconds"),
    )
    if interval is not None and timeout is not None and int(timeout) >= int(interval):
        return "Health check interval must be greater than the timeout."
    codes = (settings.get("matcher") or {}).get("HttpCode")
    in_range = all(200 <= int(code) <= 499 for code in _CODES.findall(str(codes or "")))
    if settings.get("protocol") in ("HTTP", "HTTPS") and not in_range:
        return f"Health check matcher HTTP code '{codes}' must be within 200-499"
    return None


def _observed(observations: Path | None, group_arn: str, target_id: str) -> dict[str, str] | None:
    if observations is None or not observations.is_file():
        return None
    try:
        recorded = json.loads(observations.read_text() or "{}")
    except ValueError:  # being replaced; the next call reads it whole
        return None
    found = recorded.get(group_arn, {}).get(target_id)
    return dict(found) if found else None


def install(observations: Path | None = None) -> None:
    """Idempotent; `observations` is where a health checker records what it saw (None: no checker runs)."""
    group_class: Any = FakeTargetGroup
    original_health = getattr(group_class.health_for, "turbine_original", group_class.health_for)

    def health_for(self: Any, target: dict[str, Any], ec2_backend: Any) -> FakeHealthStatus:
        answer: FakeHealthStatus = original_health(self, target, ec2_backend)
        where = (answer.instance_id, answer.port, answer.health_check_port)
        observed = _observed(observations, self.arn, target["Id"])
        if observed is not None:
            return FakeHealthStatus(
                *where, observed["State"], observed.get("Reason"), observed.get("Description")
            )
        if answer.status == "healthy":
            return FakeHealthStatus(
                *where, "initial", "Elb.RegistrationInProgress", "Target registration is in progress"
            )
        return answer

    health_for.turbine_original = original_health  # type: ignore[attr-defined]
    group_class.health_for = health_for

    backend_class: Any = ELBv2Backend
    original_create = getattr(
        backend_class.create_target_group, "turbine_original", backend_class.create_target_group
    )

    def create_target_group(self: Any, name: str, **kwargs: Any) -> Any:
        if (message := refusal(kwargs)) is not None:
            raise ValidationError(message)
        return original_create(self, name, **kwargs)

    create_target_group.turbine_original = original_create  # type: ignore[attr-defined]
    backend_class.create_target_group = create_target_group

    original_cfn = group_class.__dict__["create_from_cloudformation_json"]
    original_cfn = getattr(original_cfn.__func__, "turbine_original", original_cfn)

    def create_from_cloudformation_json(cls: Any, *args: Any, **kwargs: Any) -> Any:
        group = original_cfn.__func__(cls, *args, **kwargs)
        resource = next(arg for arg in args if isinstance(arg, dict) and "Properties" in arg)
        for attribute in resource["Properties"].get("TargetGroupAttributes", []):
            group.attributes[attribute["Key"]] = str(attribute["Value"])
        return group

    create_from_cloudformation_json.turbine_original = original_cfn  # type: ignore[attr-defined]
    group_class.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)

    scaling_class: Any = AutoScalingBackend
    original_detach = getattr(
        scaling_class.detach_instances, "turbine_original", scaling_class.detach_instances
    )

    def detach_instances(self: Any, group_name: str, instance_ids: list[str], should_decrement: bool) -> Any:
        group = self.autoscaling_groups[group_name]
        for arn in group.target_group_arns:
            target_group = self.elbv2_backend.target_groups.get(arn)
            if target_group is not None:
                target_group.deregister_terminated_instances(instance_ids)
        return original_detach(self, group_name, instance_ids, should_decrement)

    detach_instances.turbine_original = original_detach  # type: ignore[attr-defined]
    scaling_class.detach_instances = detach_instances
