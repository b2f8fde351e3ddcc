"""Probes of a running operator shared by tests, the demo and benchmarks: AWS call counts, manifests."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from prometheus_client import REGISTRY

MUTATING_OPERATIONS = frozenset(
    {
        "CreateChangeSet",
        "ExecuteChangeSet",
        "DeleteChangeSet",
        "CreateStack",
        "UpdateStack",
        "DeleteStack",
        "ContinueUpdateRollback",
        "UpdateTerminationProtection",
        "PutObject",
    }
)


def aws_calls() -> dict[str, float]:
    """AWS requests made by the operator in this process so far, by operation."""
    calls: dict[str, float] = {}
    for metric in REGISTRY.collect():
        if metric.name != "turbine_aws_requests":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                operation = sample.labels["operation"]
                calls[operation] = calls.get(operation, 0) + sample.value
    return calls


def mutating_calls_since(before: dict[str, float]) -> dict[str, float]:
    after = aws_calls()
    return {
        operation: count - before.get(operation, 0)
        for operation, count in after.items()
        if operation in MUTATING_OPERATIONS and count - before.get(operation, 0) > 0
    }


def turbine_stack(name: str, bucket: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "turbine.dev/v1alpha1",
        "kind": "TurbineStack",
        "metadata": {"name": name},
        "spec": {"templateBucket": {"name": bucket, "prefix": "turbine/"}, **spec},
    }


def aws_calls_from_metrics(metrics_url: str) -> dict[str, float]:
    """The same counts as `aws_calls`, scraped from an operator running in another process."""
    with urllib.request.urlopen(metrics_url, timeout=10) as reply:  # noqa: S310 - our own loopback endpoint
        text = reply.read().decode()
    calls: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("turbine_aws_requests_total{"):
            labels, value = line.rsplit(" ", 1)
            operation = labels.split('operation="', 1)[1].split('"', 1)[0]
            calls[operation] = calls.get(operation, 0) + float(value)
    return calls


def update_outside_operator(cloudformation: Any, stack_name: str, parameter: str, value: str) -> None:
    """What a console or CLI update does: the same template, tags and parameters, one parameter changed."""
    stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    parameters = [
        {
            "ParameterKey": p["ParameterKey"],
            "ParameterValue": value if p["ParameterKey"] == parameter else p["ParameterValue"],
        }
        for p in stack["Parameters"]
    ]
    template = cloudformation.get_template(StackName=stack_name)["TemplateBody"]
    cloudformation.update_stack(
        StackName=stack_name,
        TemplateBody=template if isinstance(template, str) else json.dumps(template),
        Parameters=parameters,
        Tags=stack["Tags"],
    )
