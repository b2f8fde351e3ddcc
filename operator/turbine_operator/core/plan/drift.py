"""Drift, two kinds: the stack no longer matches the spec, or its resources no longer match the stack.

Spec drift is found by comparing the live template, parameters and tags with what the spec
renders to. Resource drift is what CloudFormation drift detection reports. Neither flips Ready:
they are reported in status.drift and in the Drifted condition.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping, Sequence
from typing import Any

from turbine_operator.core.api.conditions import set_condition
from turbine_operator.core.observed.observations import ResourceDrift
from turbine_operator.core.plan.scheduling import parse_timestamp
from turbine_operator.core.render.templates import Template

DRIFTED = "Drifted"
# Set this annotation to any new value (a timestamp, say) to ask for a drift detection now.
REQUEST_ANNOTATION = "turbine.dev/requested-drift-check"
MAX_LISTED_DIFFERENCES = 20
MAX_LISTED_RESOURCES = 50
# NoEcho parameters come back masked; they cannot be compared.
MASKED_PARAMETER = "****"


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


@dataclasses.dataclass(frozen=True)
class StackShape:
    """What decides whether the stack matches the spec: template, parameters and tags."""

    template: Template
    parameters: Mapping[str, str]
    tags: Mapping[str, str]


def spec_differences(desired: StackShape, live: StackShape) -> list[str]:
    """How the live stack differs from the desired one, one readable line per difference."""
    differences: list[str] = []
    for section in sorted(set(desired.template) | set(live.template)):
        wanted, found = desired.template.get(section), live.template.get(section)
        if _canonical(wanted) == _canonical(found):
            continue
        if isinstance(wanted, Mapping) and isinstance(found, Mapping):
            for key in sorted(set(wanted) | set(found)):
                if key not in found:
                    differences.append(f"template {section}.{key} was removed")
                elif key not in wanted:
                    differences.append(f"template {section}.{key} was added")
                elif _canonical(wanted[key]) != _canonical(found[key]):
                    differences.append(f"template {section}.{key} was changed")
        else:
            differences.append(f"template {section} was changed")
    for name in sorted(desired.parameters):
        value = live.parameters.get(name)
        if value not in (MASKED_PARAMETER, desired.parameters[name]):
            differences.append(f"parameter {name} is {value!r}, the spec says {desired.parameters[name]!r}")
    for key in sorted(set(desired.tags) | set(live.tags)):
        if desired.tags.get(key) != live.tags.get(key):
            differences.append(
                f"tag {key} is {live.tags.get(key)!r}, the spec says {desired.tags.get(key)!r}"
            )
    return differences[:MAX_LISTED_DIFFERENCES]


def summarize(drift: ResourceDrift) -> str:
    if drift.status == "DELETED":
        return "deleted outside CloudFormation"
    parts = [f"{d.path}: {d.expected} -> {d.actual}" for d in drift.differences[:5]]
    more = len(drift.differences) - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "") if parts else "modified"


def drifted_resources(drifts: Sequence[ResourceDrift]) -> list[dict[str, Any]]:
    return [
        {
            "stack": drift.stack_name,
            "logicalResourceId": drift.logical_resource_id,
            "resourceType": drift.resource_type,
            "status": drift.status,
            "differences": summarize(drift)[:1000],
        }
        for drift in drifts[:MAX_LISTED_RESOURCES]
    ]


def resource_drift_due(
    drift_status: Mapping[str, Any], now: datetime.datetime, interval: float, requested: str | None = None
) -> bool:
    if requested and requested != drift_status.get("lastRequest"):
        return True
    last = parse_timestamp(drift_status.get("lastCheckTime"))
    return last is None or (now - last).total_seconds() >= interval


def resource_drift_wait(
    drift_status: Mapping[str, Any], now: datetime.datetime, interval: float, requested: str | None = None
) -> float:
    """Seconds until the next resource drift detection is due (0: now)."""
    if requested and requested != drift_status.get("lastRequest"):
        return 0.0
    last = parse_timestamp(drift_status.get("lastCheckTime"))
    return 0.0 if last is None else max(0.0, interval - (now - last).total_seconds())


# A detection of a Turbine stack (the root and its nested stacks, some sixty resources) takes from tens
# of seconds to minutes on AWS. Its status is first read two poll intervals after the start (30 s at the
# default), then at doubling gaps: a one-minute detection costs two reads, where reading it on every poll
# interval cost four or more.
FIRST_DETECTION_READ_POLLS = 2.0


def detection_read_wait(started: float, last_read: float | None, now: float, poll_seconds: float) -> float:
    """Seconds until a detection in progress is read again (monotonic times; `started` may be a guess)."""
    first = FIRST_DETECTION_READ_POLLS * poll_seconds
    if last_read is None:
        return max(0.0, started + first - now)
    gap = max(first, last_read - started)
    return max(0.0, last_read + gap - now)


def resource_drift_overdue(
    drift_status: Mapping[str, Any], now: datetime.datetime, interval: float, requested: str | None = None
) -> float:
    """Seconds a due detection has waited, to serve the stalest stack first. A requested or a first
    detection counts as one interval overdue: ahead of stacks that just came due."""
    last = parse_timestamp(drift_status.get("lastCheckTime"))
    if (requested and requested != drift_status.get("lastRequest")) or last is None:
        return interval
    return max(0.0, (now - last).total_seconds() - interval)


def drift_condition(
    conditions: Sequence[Mapping[str, Any]], drift_status: Mapping[str, Any], generation: int, now: str
) -> list[dict[str, Any]]:
    """The Drifted condition from both kinds of drift (it never touches Ready)."""
    spec_drift = drift_status.get("specInSync") is False
    resource_count = int(drift_status.get("driftedResourceCount") or 0)
    if spec_drift and resource_count:
        reason, message = "SpecAndResourcesDrifted", f"The stack and {resource_count} resource(s) drifted"
    elif spec_drift:
        differences = drift_status.get("specDifferences") or []
        reason, message = (
            "StackDriftedFromSpec",
            "; ".join(differences[:3]) or "The stack differs from the spec",
        )
    elif resource_count:
        reason, message = "ResourcesDrifted", f"{resource_count} resource(s) drifted from the stack"
    else:
        reason, message = "InSync", "No drift found"
    status = "True" if reason != "InSync" else "False"
    return set_condition(
        conditions, DRIFTED, status=status, reason=reason, message=message, generation=generation, now=now
    )


def overall_in_sync(drift_status: Mapping[str, Any]) -> bool:
    return drift_status.get("specInSync") is not False and not int(
        drift_status.get("driftedResourceCount") or 0
    )


def resource_drift_patch(
    stack_drift_status: str | None, drifts: Sequence[ResourceDrift], previous: Mapping[str, Any], now: str
) -> dict[str, Any]:
    """status.drift after a completed (or failed) CloudFormation drift detection."""
    checked = {
        "resourceDriftStatus": stack_drift_status or "UNKNOWN",
        "driftedResourceCount": len(drifts),
        "driftedResources": drifted_resources(drifts),
        "lastCheckTime": now,
        "detectionId": None,
    }
    return {**checked, "inSync": overall_in_sync({**previous, **checked})}
