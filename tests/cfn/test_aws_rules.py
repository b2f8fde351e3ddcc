"""AWS's documented rules (devtools/turbine_dev/aws_rules) on the rendered Turbine stack: every check passes
on the example and on the CRD's edge cases, and refuses a broken input as AWS words it (docs/aws-rules.md)."""

from __future__ import annotations

import copy
import dataclasses
import datetime
import functools
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from turbine_dev.aws_rules import CHECKS, Check, RenderedStack, refusals
from turbine_dev.aws_rules.instances import metadata_tag_key_refusal
from turbine_dev.aws_rules.services import check_functions
from turbine_operator.adapters.sources import load_turbine_sources
from turbine_operator.core.api.spec import parse_spec
from turbine_operator.core.errors import SpecError
from turbine_operator.core.render.rendering import Owner, desired_stack
from turbine_operator.core.render.templates import load_template

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "turbine-stack.yaml"
OWNER = Owner(namespace="default", name="airflow", uid="6f1c0d3e-8a40-4c57-9a0e-6d2d5b1c2f10")
CLUSTER, WORKERS = "templates/turbine-cluster.yaml", "templates/turbine-workerset.yaml"
WEBSERVER, SCHEDULER = "templates/turbine-webserver.yaml", "templates/turbine-scheduler.yaml"

# Real problems the checks find in today's templates, fixed on other branches (issue 24); each test that
# meets one fails until that branch lands, and then must be unmarked.
FINDINGS: dict[str, str] = {}


@functools.cache
def _sources() -> Any:
    return load_turbine_sources()


def render(spec_changes: Mapping[str, Any] | None = None, *, name: str = OWNER.name) -> RenderedStack:
    """The example TurbineStack as the operator renders it, with `spec_changes` merged into its spec."""
    spec = yaml.safe_load(EXAMPLE.read_text())["spec"]
    for key, value in (spec_changes or {}).items():
        merged = isinstance(value, dict) and key != "tags"  # tags replace the example's
        spec[key] = {**spec.get(key, {}), **value} if merged else value
    parsed = parse_spec(spec, namespace=OWNER.namespace, name=name, default_region="us-east-1")
    return RenderedStack.of(desired_stack(parsed, dataclasses.replace(OWNER, name=name), _sources()))


EXAMPLE_STACK = render()


def refused_by(check: Check, stack: RenderedStack) -> list[str]:
    return [refusal.message for refusal in check(stack)]


def expect(check: Check, marks: tuple[Any, ...] = ()) -> Any:
    finding = FINDINGS.get(check.__name__)
    xfail = (pytest.mark.xfail(strict=True, reason=finding),) if finding else ()
    return pytest.param(check, marks=(*xfail, *marks), id=check.__name__)


@pytest.mark.parametrize("check", [expect(check) for check in CHECKS])
def test_the_rendered_example_breaks_no_rule(check: Check) -> None:
    assert refused_by(check, EXAMPLE_STACK) == []


# The largest values the CRD accepts where AWS has a limit: a 128-character stack name, 40 tags of the
# longest key and value, the most workers.
LONGEST_NAME = "n" * (128 - len(OWNER.namespace) - 1)
MOST_TAGS = {f"{index:02d}{'k' * 126}": "v" * 256 for index in range(40)}
EDGES: dict[str, tuple[dict[str, Any], str]] = {
    "longest-stack-name": ({}, LONGEST_NAME),
    "most-and-longest-tags": ({"tags": MOST_TAGS}, OWNER.name),
    "largest-group": ({"workers": {"minSize": 1000, "maxSize": 1000}}, OWNER.name),
}


@functools.cache
def edge_stack(edge: str) -> RenderedStack:
    changes, name = EDGES[edge]
    return render(changes, name=name)


@pytest.mark.parametrize("check", [expect(check) for check in CHECKS])
@pytest.mark.parametrize("edge", sorted(EDGES))
def test_the_crds_edge_cases_break_no_rule(edge: str, check: Check) -> None:
    assert refused_by(check, edge_stack(edge)) == []


def test_an_empty_worker_group_is_refused_before_anything_renders() -> None:
    """The worker group's rolling update keeps MinInstancesInService 0, which CloudFormation requires to be
    less than MaxSize: a group of at most 0 workers would fail every update, so the spec refuses it."""
    with pytest.raises(SpecError) as refused:
        render({"workers": {"minSize": 0, "maxSize": 0}})
    assert refused.value.field == "spec.workers.maxSize"
    assert [str(refusal) for refusal in refusals(render({"workers": {"minSize": 0, "maxSize": 1}}))] == [
        str(refusal) for refusal in refusals(EXAMPLE_STACK)
    ]


def test_a_subnet_too_small_for_a_load_balancer_is_refused_before_anything_renders() -> None:
    with pytest.raises(SpecError) as refused:
        render({"parameters": {"PrivateSubnet1Cidr": "10.0.10.0/28"}})
    assert refused.value.field == "spec.parameters.PrivateSubnet1Cidr"


def test_the_largest_dag_bundle_and_airflow_config_cloudformation_takes_fit_in_user_data() -> None:
    """A parameter value is at most 4,096 bytes, and every role's user data carries DagBundle and
    AirflowConfig."""
    stack = dataclasses.replace(
        EXAMPLE_STACK,
        parameters={**EXAMPLE_STACK.parameters, "DagBundle": "A" * 4096, "AirflowConfig": "A" * 4096},
    )
    assert [str(refusal) for refusal in refusals(stack) if refusal.check == "check_user_data"] == []


def test_tags_stay_out_of_instance_metadata_and_turning_them_on_is_refused() -> None:
    """With tags kept out of the metadata any tag key launches; a launch template that lets them in would
    fail every launch on the operator's own turbine.dev/ keys."""
    check = next(check for check in CHECKS if check.__name__ == "check_tags_in_metadata")
    spaced = dataclasses.replace(EXAMPLE_STACK, tags={**EXAMPLE_STACK.tags, "cost center": "x"})
    assert refused_by(check, spaced) == []
    tags_on = with_property(
        WORKERS,
        "WorkerLaunchTemplate",
        "Properties.LaunchTemplateData.MetadataOptions.InstanceMetadataTags",
        "enabled",
    )
    refused = refused_by(check, tags_on(spaced))
    assert any("Instance tag key 'turbine.dev/managed-by' is not allowed" in refusal for refusal in refused)
    assert any("Instance tag key 'cost center' is not allowed" in refusal for refusal in refused)


@pytest.mark.parametrize(
    ("key", "allowed"),
    [
        ("team", True),
        ("cost-center:a+b=c.d,e_f@g", True),
        ("turbine.dev/owner-uid", False),
        ("cost center", False),
        (".", False),
        ("..", False),
        ("_index", False),
        ("Name", True),
    ],
)
def test_tag_keys_in_instance_metadata(key: str, allowed: bool) -> None:
    assert (metadata_tag_key_refusal(key) is None) == allowed


def test_a_runtime_is_refused_from_its_deprecation_date() -> None:
    before, on = datetime.date(2029, 6, 29), datetime.date(2029, 6, 30)
    assert list(check_functions(EXAMPLE_STACK, today=before)) == []
    [refusal] = check_functions(EXAMPLE_STACK, today=on)
    assert "The runtime parameter of python3.13 is no longer supported" in refusal.message


# Each check refusing a broken input, worded as AWS words it: (check, how the example is broken, a part of
# AWS's reply).
Change = Callable[[RenderedStack], RenderedStack]


def with_template(path: str, change: Callable[[dict[str, Any]], None]) -> Change:
    def changed(stack: RenderedStack) -> RenderedStack:
        template = copy.deepcopy(dict(load_template(stack.files[path], path)))
        change(template)
        return dataclasses.replace(stack, files={**stack.files, path: json.dumps(template).encode()})

    return changed


def with_parameters(**values: str) -> Change:
    return lambda stack: dataclasses.replace(stack, parameters={**stack.parameters, **values})


def with_property(path: str, logical_id: str, name: str, value: Any) -> Change:
    def change(template: dict[str, Any]) -> None:
        target = template["Resources"][logical_id]
        for part in name.split(".")[:-1]:
            target = target[part]
        target[name.rsplit(".", maxsplit=1)[-1]] = value

    return with_template(path, change)


def _many_resources(template: dict[str, Any]) -> None:
    template["Resources"].update(
        {f"Handle{index}": {"Type": "AWS::CloudFormation::WaitConditionHandle"} for index in range(501)}
    )


def _large_policy(template: dict[str, Any]) -> None:
    statement = {
        "Effect": "Allow",
        "Action": [f"s3:GetObject{index}" for index in range(900)],
        "Resource": "*",
    }
    template["Resources"]["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].append(
        statement
    )


def _same_mount_target_subnet(template: dict[str, Any]) -> None:
    for name in ("FileSystemMountTarget1", "FileSystemMountTarget2"):
        template["Resources"][name]["Properties"]["SubnetId"] = "subnet-0123456789abcdef0"
        template["Resources"][name].pop("Condition", None)


def _without_launch_permissions(template: dict[str, Any]) -> None:
    del template["Resources"]["CodeDeployServiceRole"]["Properties"]["Policies"]


BROKEN: dict[str, tuple[str, Change, str]] = {
    "stack name of a digit": (
        "check_stack_name",
        lambda stack: dataclasses.replace(stack, stack_name="1airflow"),
        "at 'stackName' failed to satisfy constraint: Member must satisfy regular expression pattern",
    ),
    "stack name of 129": (
        "check_stack_name",
        lambda stack: dataclasses.replace(stack, stack_name="a" * 129),
        "Member must have length less than or equal to 128",
    ),
    "51 stack tags": (
        "check_stack_tags",
        lambda stack: dataclasses.replace(stack, tags={f"t{index}": "v" for index in range(51)}),
        "Member must have length less than or equal to 50",
    ),
    "aws: stack tag": (
        "check_stack_tags",
        lambda stack: dataclasses.replace(stack, tags={**stack.tags, "AWS:team": "x"}),
        "Tag keys may not start with 'aws:'",
    ),
    "empty tag value": (
        "check_stack_tags",
        lambda stack: dataclasses.replace(stack, tags={**stack.tags, "team": ""}),
        "Member must have length between 1 and 256",
    ),
    "501 resources": (
        "check_template_quotas",
        with_template(WORKERS, _many_resources),
        "is greater than maximum allowed, 500",
    ),
    "template over 1 MB": (
        "check_template_quotas",
        with_template(WORKERS, lambda template: template.update(Description="d" * 1_000_001)),
        "Template may not exceed 1000000 bytes in size.",
    ),
    "61 dynamic references": (
        "check_dynamic_references",
        with_template(
            WORKERS,
            lambda template: template.update(
                Metadata={f"Secret{index}": "{{resolve:ssm:/turbine/x}}" for index in range(61)}
            ),
        ),
        "Template format error: 62 dynamic references; the maximum is 60",  # with its own,
    ),
    "2,501 resources in the nested stacks": (
        "check_nested_stack_resources",
        lambda stack: functools.reduce(
            lambda changed, path: with_template(path, _many_resources)(changed),
            [CLUSTER, WORKERS, WEBSERVER, SCHEDULER, "templates/turbine-network.yaml"],
            stack,
        ),
        "resources in the stack and its nested stacks; a nested stack operation handles at most 2500",
    ),
    "parameter value over 4 KB": (
        "check_parameter_values",
        with_parameters(DagBundle="A" * 4097),
        "Parameter value for parameter name DagBundle is 4097 bytes",
    ),
    "bucket of capitals": (
        "check_bucket_name",
        lambda stack: dataclasses.replace(stack, bucket="Turbine_Templates"),
        "InvalidBucketName: Bucket names can consist only of lowercase letters",
    ),
    "bucket as an IP address": (
        "check_bucket_name",
        lambda stack: dataclasses.replace(stack, bucket="192.168.5.4"),
        "must not be formatted as an IP address",
    ),
    "bucket with a reserved suffix": (
        "check_bucket_name",
        lambda stack: dataclasses.replace(stack, bucket="turbine-s3alias"),
        "must not end with the suffix -s3alias",
    ),
    "object key over 1024 bytes": (
        "check_object_keys",
        lambda stack: dataclasses.replace(stack, key_prefix="p/" * 500),
        "KeyTooLongError: Your key is too long",
    ),
    "51 instance tags": (
        "check_tags_per_resource",
        lambda stack: dataclasses.replace(stack, tags={f"t{index}": "v" for index in range(50)}),
        "TagLimitExceeded: 51 tags; the maximum number of tags per resource is 50",
    ),
    "user data over 16 KB": (
        "check_user_data",
        with_parameters(DagBundle="A" * 12_000),
        "InvalidParameterValue: User data is limited to 16384 bytes",
    ),
    "hop limit 65": (
        "check_metadata_options",
        with_property(
            WORKERS,
            "WorkerLaunchTemplate",
            "Properties.LaunchTemplateData.MetadataOptions",
            {"HttpTokens": "required", "HttpPutResponseHopLimit": 65},
        ),
        "at 'httpPutResponseHopLimit' failed to satisfy constraint: Member must have value less than or "
        "equal to 64",
    ),
    "security group description not ASCII": (
        "check_security_groups",
        with_property(CLUSTER, "DatabaseSecurityGroup", "Properties.GroupDescription", "Base de données"),
        "GroupDescription: Constraints: Up to 255 characters in length.",
    ),
    "min above max": (
        "check_group_sizes",
        with_parameters(MinGroupSize="5", MaxGroupSize="3"),
        "ValidationError: Max bound, 3, must be greater than or equal to min bound, 5",
    ),
    "rolling update keeping MaxSize in service": (
        "check_rolling_updates",
        with_property(
            SCHEDULER, "SchedulerGroup", "UpdatePolicy.AutoScalingRollingUpdate.MinInstancesInService", 2
        ),
        "MinInstancesInService (2) must be less than the MaxSize (2)",
    ),
    "rolling update pausing two hours": (
        "check_rolling_updates",
        with_property(WEBSERVER, "WebserverGroup", "UpdatePolicy.AutoScalingRollingUpdate.PauseTime", "PT2H"),
        "The maximum PauseTime is one hour (PT1H)",
    ),
    "creation signal waiting 13 hours": (
        "check_creation_signals",
        with_property(WEBSERVER, "WebserverGroup", "CreationPolicy.ResourceSignal.Timeout", "PT13H"),
        "The maximum time that you can specify is 12 hours",
    ),
    "heartbeat over two hours": (
        "check_lifecycle_hooks",
        with_parameters(DrainTimeout="7201"),
        "at 'heartbeatTimeout' failed to satisfy constraint: Member must have value less than or equal "
        "to 7200",
    ),
    "a /28 subnet": (
        "check_load_balancer_subnets",
        with_parameters(PrivateSubnet2Cidr="10.0.11.0/28"),
        "at least a /27 bitmask and at least 8 free IP addresses",
    ),
    "one subnet for a load balancer": (
        "check_load_balancer_subnets",
        with_property(WEBSERVER, "InternalLoadBalancer", "Properties.Subnets", ["subnet-0123456789abcdef0"]),
        "At least two subnets in two different Availability Zones must be specified",
    ),
    "health checks every 301 s": (
        "check_target_groups",
        with_property(WEBSERVER, "InternalTargetGroup", "Properties.HealthCheckIntervalSeconds", 301),
        "at 'healthCheckIntervalSeconds' failed to satisfy constraint: Member must have value less than "
        "or equal "
        "to 300",
    ),
    "deregistration delay over an hour": (
        "check_target_groups",
        with_property(
            WEBSERVER,
            "InternalTargetGroup",
            "Properties.TargetGroupAttributes",
            [{"Key": "deregistration_delay.timeout_seconds", "Value": "3601"}],
        ),
        "deregistration_delay.timeout_seconds 3601: The range is 0-3600 seconds",
    ),
    "a certificate of another Region": (
        "check_certificate_region",
        with_parameters(CertificateArn="arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f"),
        "CertificateNotFound: Certificate "
        "'arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f' not found",
    ),
    "visibility timeout over 12 hours": (
        "check_queues",
        with_property(CLUSTER, "BrokerQueue", "Properties.VisibilityTimeout", 43_201),
        "InvalidAttributeValue: Invalid value for the parameter VisibilityTimeout.",
    ),
    "a retired runtime": (
        "check_functions",
        with_property(WORKERS, "ClusterLoadFunction", "Properties.Runtime", "python3.8"),
        "The runtime parameter of python3.8 is no longer supported",
    ),
    "a function running 16 minutes": (
        "check_functions",
        with_property(WORKERS, "ClusterLoadFunction", "Properties.Timeout", 960),
        "at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900",
    ),
    "rate of 1 minutes": (
        "check_schedules",
        with_property(WORKERS, "ClusterLoadSchedule", "Properties.ScheduleExpression", "rate(1 minutes)"),
        "ValidationException: Parameter ScheduleExpression is not valid.",
    ),
    "alarm period of 90 s": (
        "check_alarms",
        with_property(WORKERS, "UnservedTasksAlarm", "Properties.Period", 90),
        "Only periods of 10, 30 and multiples of 60 are supported",
    ),
    "alarm over more than a day": (
        "check_alarms",
        with_property(WORKERS, "RemovableWorkersAlarm", "Properties.EvaluationPeriods", 1441),
        "The evaluation period multiplied by the period can't exceed one day",
    ),
    "metrics in an AWS/ namespace": (
        "check_metric_namespaces",
        with_template(
            WORKERS, lambda t: t["Mappings"]["ClusterLoadMetric"]["Metric"].update(Namespace="AWS/Turbine")
        ),
        "InvalidParameterValue: The value AWS/ for parameter Namespace is invalid.",
    ),
    "log retention of 15 days": (
        "check_log_groups",
        with_property(WORKERS, "ClusterLoadLogGroup", "Properties.RetentionInDays", 15),
        "at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set",
    ),
    "19 GiB of storage": (
        "check_databases",
        with_parameters(DatabaseAllocatedStorage="19"),
        "at 'allocatedStorage' failed to satisfy constraint: Member must have value greater than or "
        "equal to 20",
    ),
    "a master password with punctuation": (
        "check_master_passwords",
        with_property(CLUSTER, "DatabaseSecret", "Properties.GenerateSecretString.ExcludePunctuation", False),
        "Only printable ASCII characters besides '/', '@', '\"', ' ' may be used.",
    ),
    "a master password of 7": (
        "check_master_passwords",
        with_property(CLUSTER, "DatabaseSecret", "Properties.GenerateSecretString.PasswordLength", 7),
        "is 7 characters; PostgreSQL takes 8 to 128",
    ),
    "a secret name with a space": (
        "check_secrets",
        with_property(CLUSTER, "DagsConnectionSecret", "Properties.Name", "turbine dags"),
        "ValidationException: Invalid name.",
    ),
    "two mount targets in one subnet": (
        "check_mount_targets",
        with_template(CLUSTER, _same_mount_target_subnet),
        "MountTargetConflict: mount target already exists in this AZ",
    ),
    "a parameter name over 1011": (
        "check_parameters",
        with_property(SCHEDULER, "AirflowUsersReport", "Properties.Name", "/" + "p" * 1000),
        "must be 1011 characters or fewer, including the ARN",
    ),
    "a table name of 2": (
        "check_tables",
        with_property(CLUSTER, "ResultsTable", "Properties.TableName", "ab"),
        "TableName must be at least 3 characters long",
    ),
    "a role policy over 10,240": (
        "check_policy_sizes",
        with_template(WORKERS, _large_policy),
        "LimitExceeded: Maximum policy size of 10240 bytes exceeded for role",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_each_check_refuses_what_aws_refuses(case: str) -> None:
    name, change, reply = BROKEN[case]
    [check] = [check for check in CHECKS if check.__name__ == name]
    assert refused_by(check, EXAMPLE_STACK) == [] or name in FINDINGS
    refused = list(check(change(EXAMPLE_STACK)))
    assert any(reply in refusal.message for refusal in refused), refused
    assert all(refusal.page.startswith("https://docs.aws.amazon.com/") for refusal in refused)


def test_every_check_has_a_broken_input_and_names_its_page() -> None:
    tried = {name for name, _, _ in BROKEN.values()} | {"check_tags_in_metadata", "check_codedeploy_role"}
    assert {check.__name__ for check in CHECKS} == tried
    # The docstring names the AWS page in parentheses; each refusal carries its address.
    assert all(check.__doc__ and "(" in check.__doc__ for check in CHECKS)


def test_the_codedeploy_role_may_launch_from_templates_and_is_refused_without_it() -> None:
    [check] = [check for check in CHECKS if check.__name__ == "check_codedeploy_role"]
    assert refused_by(check, EXAMPLE_STACK) == []
    assert len(refused_by(check, with_template(CLUSTER, _without_launch_permissions)(EXAMPLE_STACK))) == 3


RULES_DOC = Path(__file__).resolve().parents[2] / "docs" / "aws-rules.md"


def test_the_rules_document_names_only_checks_and_cases_that_exist() -> None:
    """docs/aws-rules.md cites `refuses[<case>]` and checks by name: a rename would leave a rule unchecked."""
    text = RULES_DOC.read_text()
    cited_cases = set(re.findall(r"refuses\[([^\]<]+)\]", text))
    assert cited_cases <= set(BROKEN), cited_cases - set(BROKEN)
    names = {check.__name__ for check in CHECKS}
    cited_checks = set(re.findall(r"\bcheck_[a-z_]+\b", text))
    assert cited_checks <= names, cited_checks - names
    assert names <= cited_checks, names - cited_checks
