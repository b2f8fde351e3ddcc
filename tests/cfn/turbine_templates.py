"""Loads the Turbine templates with their intrinsic-function tags and answers wiring questions."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# One definition of what an expression refers to, shared with the rehearsal's creation order.
from turbine_dev.rehearsal.creation_order import references as referenced_names
from turbine_operator.core.render.templates import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = REPO_ROOT / "cfn" / "templates"
SCRIPTS_DIR = REPO_ROOT / "cfn" / "scripts"
MASTER = "turbine-master.yaml"
# The operator reads these outputs of the master template by name.
MASTER_OUTPUTS = frozenset(
    {
        "ClusterLoadMetricName",
        "ClusterLoadMetricNamespace",
        "CodeDeployApplicationName",
        "CodeDeployDeploymentGroupName",
        "DatabaseEndpoint",
        "DeploymentsBucketName",
        "InstanceSecurityGroupId",
        "LogsBucketName",
        "PrivateSubnetIds",
        "PublicSubnetIds",
        "QueueName",
        "QueueURL",
        "SchedulerRoleName",
        "VpcId",
        "WebserverRoleName",
        "WebserverURL",
        "WorkerAutoScalingGroupName",
        "WorkerRoleName",
    }
)

_NESTED_TEMPLATE_URL = re.compile(
    r"^https://\$\{QSS3BucketName\}\.s3\.\$\{AWS::Region\}\.\$\{AWS::URLSuffix\}/"
    r"\$\{QSS3KeyPrefix\}templates/(?P<name>[a-z0-9-]+\.yaml)$"
)


def load_templates() -> dict[str, dict[str, Any]]:
    return {
        path.name: load_template(path.read_bytes(), str(path))
        for path in sorted(TEMPLATES_DIR.glob("*.yaml"))
    }


def referenced_conditions(node: Any) -> set[str]:
    conditions: set[str] = set()
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "Condition" and isinstance(value, str):
                conditions.add(value)
            elif key == "Fn::If":
                conditions.add(str(value[0]))
                conditions |= referenced_conditions(value[1:])
            else:
                conditions |= referenced_conditions(value)
    elif isinstance(node, list):
        for item in node:
            conditions |= referenced_conditions(item)
    return conditions


def nested_stacks(template: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(logical id, child template file name, Parameters) of every nested stack resource."""
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] != "AWS::CloudFormation::Stack":
            continue
        url = resource["Properties"]["TemplateURL"]
        text = url["Fn::Sub"] if isinstance(url, Mapping) else url
        match = _NESTED_TEMPLATE_URL.match(str(text))
        if match is None:
            raise AssertionError(f"{logical_id}: unexpected TemplateURL {text!r}")
        yield logical_id, match["name"], resource["Properties"].get("Parameters", {})


def _without_nested_stack_parameters(template: Mapping[str, Any]) -> dict[str, Any]:
    resources = {}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] == "AWS::CloudFormation::Stack":
            resources[logical_id] = {**resource, "Properties": {**resource["Properties"], "Parameters": {}}}
        else:
            resources[logical_id] = resource
    return {"Resources": resources, "Outputs": template.get("Outputs", {})}


def directly_used_parameters(template: Mapping[str, Any]) -> set[str]:
    """Parameters used in this template itself: resources, outputs and the conditions they use.

    Values handed to nested stacks do not count here; they count only where the child uses them.
    """
    body = _without_nested_stack_parameters(template)
    conditions = template.get("Conditions", {})
    used_conditions = referenced_conditions(body)
    # Conditions may be built from other conditions.
    pending = list(used_conditions)
    while pending:
        nested = referenced_conditions(conditions.get(pending.pop(), {})) - used_conditions
        used_conditions |= nested
        pending.extend(nested)
    names = referenced_names(body)
    for condition in used_conditions:
        names |= referenced_names(conditions.get(condition, {}))
    return names & set(template.get("Parameters", {}))


def parameter_is_consumed(
    templates: Mapping[str, Mapping[str, Any]], template_name: str, parameter: str
) -> bool:
    """Whether the parameter is used in the template or flows to a nested parameter that is."""
    template = templates[template_name]
    if parameter in directly_used_parameters(template):
        return True
    return any(
        parameter in referenced_names(value) and parameter_is_consumed(templates, child, key)
        for _, child, parameters in nested_stacks(template)
        for key, value in parameters.items()
    )
