"""An Auto Scaling group's UpdatePolicy and CreationPolicy as CloudFormation checks them. Dev and test only.

moto ignores both attributes, so a template whose rolling update AWS cannot run (and fails with
UPDATE_FAILED) creates and updates here. `install()` makes the embedded AWS refuse such a group at
CreateStack, UpdateStack or ExecuteChangeSet, in AWS's words: harsher than AWS, which fails the
operation later, but never more lenient.

- MinInstancesInService must be less than the group's MaxSize ("MinInstancesInService must be less
  than the autoscaling group's MaxSize"): the rolling update can only keep an instance in service
  by launching its replacement first, above the desired capacity, within MaxSize.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatepolicy.html
- PauseTime, an ISO 8601 duration (PT#H#M#S), is at most one hour (PT1H); with
  WaitOnResourceSignals it is the time CloudFormation waits for the batch's signals (same page).
- A CreationPolicy ResourceSignal Timeout is at most 12 hours (PT12H).
  https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-creationpolicy.html
"""

from __future__ import annotations

import re
from typing import Any

from moto.autoscaling.models import FakeAutoScalingGroup
from moto.cloudformation.exceptions import ValidationError

_DURATION = re.compile(r"^PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?$")
PAUSE_TIME_LIMIT_SECONDS = 3600
SIGNAL_TIMEOUT_LIMIT_SECONDS = 12 * 3600


def duration_seconds(value: str) -> int:
    match = _DURATION.match(value)
    if not match or value == "PT":
        raise ValidationError(message=f"Invalid ISO 8601 duration: {value}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def refusal(resource: dict[str, Any]) -> str | None:
    """AWS's words for what it refuses in this (resolved) AWS::AutoScaling::AutoScalingGroup, or None."""
    rolling = resource.get("UpdatePolicy", {}).get("AutoScalingRollingUpdate")
    if rolling is not None:
        minimum = int(rolling.get("MinInstancesInService", 0))
        if minimum >= int(resource["Properties"]["MaxSize"]):
            return "MinInstancesInService must be less than the autoscaling group's MaxSize"
        if duration_seconds(str(rolling.get("PauseTime", "PT0S"))) > PAUSE_TIME_LIMIT_SECONDS:
            return "The maximum PauseTime is one hour (PT1H)"
    signal = resource.get("CreationPolicy", {}).get("ResourceSignal")
    if (
        signal is not None
        and duration_seconds(str(signal.get("Timeout", "PT5M"))) > SIGNAL_TIMEOUT_LIMIT_SECONDS
    ):
        return "The maximum ResourceSignal Timeout is 12 hours (PT12H)"
    return None


def _checked(original: Any) -> Any:
    def check(cls: Any, *args: Any, **kwargs: Any) -> Any:
        resource = next(arg for arg in args if isinstance(arg, dict) and "Properties" in arg)
        if (message := refusal(resource)) is not None:
            raise ValidationError(message=message)
        return original.__func__(cls, *args, **kwargs)

    check.turbine_checked = True  # type: ignore[attr-defined]
    return classmethod(check)


def install() -> None:
    """Idempotent."""
    group: Any = FakeAutoScalingGroup
    for name in ("create_from_cloudformation_json", "update_from_cloudformation_json"):
        current = group.__dict__[name]
        if not getattr(current.__func__, "turbine_checked", False):
            setattr(group, name, _checked(current))
