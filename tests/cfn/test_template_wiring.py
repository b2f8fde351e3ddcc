"""Pure checks of the Turbine templates: parameter wiring, constraints and the operator's contract."""

from __future__ import annotations

import re
from typing import Any

import pytest
from turbine_templates import (
    MASTER,
    MASTER_OUTPUTS,
    directly_used_parameters,
    load_templates,
    nested_stacks,
    parameter_is_consumed,
)

from turbine_dev.rehearsal.creation_order import references as referenced_names
from turbine_operator.core.api.spec import (
    SUBNET_CIDR_PARAMETERS,
    SUBNET_CIDR_PATTERN,
    VPC_CIDR_PARAMETER,
    VPC_CIDR_PATTERN,
)

TEMPLATES = load_templates()
NESTED_TEMPLATES = sorted(set(TEMPLATES) - {MASTER})

# The seed's overridable list plus what the operator passes.
MASTER_PARAMETERS = {
    "SchedulerInstanceType",
    "WebserverInstanceType",
    "WorkerInstanceType",
    "MinGroupSize",
    "MaxGroupSize",
    "ShrinkThreshold",
    "GrowthThreshold",
    "LoadExampleDags",
    "LoadDefaultCons",
    "WebServerPort",
    "AllowHTTPAccessCIDR",
    "QSS3BucketName",
    "QSS3KeyPrefix",
    "DrainTimeout",
    "VpcId",
    "PublicSubnetIds",
    "PrivateSubnetIds",
    "VpcCidr",
}
# Where the bundle lives has no sensible default; everything else has one.
REQUIRED_MASTER_PARAMETERS = {"QSS3BucketName", "QSS3KeyPrefix"}


def all_parameters() -> list[tuple[str, str]]:
    return [
        (name, parameter)
        for name, template in TEMPLATES.items()
        for parameter in template.get("Parameters", {})
    ]


def all_nested_stacks() -> list[tuple[str, str, str]]:
    return [
        (name, logical_id, child)
        for name in TEMPLATES
        for logical_id, child, _ in nested_stacks(TEMPLATES[name])
    ]


def test_the_expected_templates_exist() -> None:
    assert set(TEMPLATES) >= {
        "turbine-master.yaml",
        "turbine-network.yaml",
        "turbine-cluster.yaml",
        "turbine-scheduler.yaml",
        "turbine-webserver.yaml",
        "turbine-workerset.yaml",
    }


def test_every_nested_template_is_reachable_from_the_master() -> None:
    reachable, pending = {MASTER}, [MASTER]
    while pending:
        for _, child, _ in nested_stacks(TEMPLATES[pending.pop()]):
            assert child in TEMPLATES, f"nested template {child} does not exist"
            if child not in reachable:
                reachable.add(child)
                pending.append(child)
    assert reachable == set(TEMPLATES)


@pytest.mark.parametrize(("template", "logical_id", "child"), all_nested_stacks())
def test_every_nested_parameter_is_passed_and_nothing_else(
    template: str, logical_id: str, child: str
) -> None:
    passed = dict(next(p for lid, _, p in nested_stacks(TEMPLATES[template]) if lid == logical_id))
    declared = set(TEMPLATES[child].get("Parameters", {}))
    assert set(passed) - declared == set(), f"{logical_id} passes parameters {child} does not declare"
    assert declared - set(passed) == set(), f"{logical_id} leaves parameters of {child} to their defaults"


@pytest.mark.parametrize(("template", "parameter"), all_parameters())
def test_no_parameter_is_unused(template: str, parameter: str) -> None:
    assert parameter_is_consumed(TEMPLATES, template, parameter)


@pytest.mark.parametrize("parameter", sorted(TEMPLATES[MASTER]["Parameters"]))
def test_every_master_parameter_reaches_a_nested_template_that_uses_it(parameter: str) -> None:
    receivers = [
        (child, key)
        for _, child, parameters in nested_stacks(TEMPLATES[MASTER])
        for key, value in parameters.items()
        if parameter in referenced_names(value)
    ]
    assert receivers, f"{parameter} is not passed to any nested stack"
    assert any(parameter_is_consumed(TEMPLATES, child, key) for child, key in receivers)


@pytest.mark.parametrize("template", NESTED_TEMPLATES)
def test_nested_templates_use_their_parameters_directly_or_pass_them_on(template: str) -> None:
    declared = set(TEMPLATES[template].get("Parameters", {}))
    passed_on = {
        name
        for _, _, parameters in nested_stacks(TEMPLATES[template])
        for value in parameters.values()
        for name in referenced_names(value)
    }
    assert declared - directly_used_parameters(TEMPLATES[template]) - passed_on == set()


def test_the_master_declares_the_contracted_parameters_with_defaults() -> None:
    parameters = TEMPLATES[MASTER]["Parameters"]
    assert set(parameters) >= MASTER_PARAMETERS
    without_default = {name for name, spec in parameters.items() if "Default" not in spec}
    assert without_default == REQUIRED_MASTER_PARAMETERS
    assert parameters["WebServerPort"]["MinValue"] == 0  # the seed lets the webserver use port 80


@pytest.mark.parametrize(("template", "parameter"), all_parameters())
def test_every_parameter_is_described_and_constrained(template: str, parameter: str) -> None:
    spec: dict[str, Any] = TEMPLATES[template]["Parameters"][parameter]
    assert str(spec.get("Description", "")).strip(), "missing Description"
    kind = spec["Type"]
    if kind == "Number":
        assert "MinValue" in spec
        assert "MaxValue" in spec
    elif kind == "String":
        assert {"AllowedPattern", "AllowedValues", "MinLength"} & set(spec), "unconstrained String"
    if {"AllowedPattern", "AllowedValues", "MinValue", "MaxValue", "MinLength"} & set(spec):
        assert str(spec.get("ConstraintDescription", "")).strip(), "constraint without ConstraintDescription"


@pytest.mark.parametrize(("template", "parameter"), all_parameters())
def test_defaults_satisfy_their_own_constraints(template: str, parameter: str) -> None:
    spec: dict[str, Any] = TEMPLATES[template]["Parameters"][parameter]
    if "Default" not in spec:
        return
    default = spec["Default"]
    if "AllowedPattern" in spec:
        assert re.fullmatch(spec["AllowedPattern"], str(default))
    if "AllowedValues" in spec:
        assert str(default) in [str(value) for value in spec["AllowedValues"]]
    if "MinValue" in spec:
        assert float(default) >= float(spec["MinValue"])
    if "MaxValue" in spec:
        assert float(default) <= float(spec["MaxValue"])


@pytest.mark.parametrize(
    ("parameter", "accepted", "rejected"),
    [
        (
            "SchedulerInstanceType",
            ["t3.large", "m7g.2xlarge", "c6in.metal", "m7i-flex.large"],
            ["large", "t3", "T3.big"],
        ),
        (
            "AllowHTTPAccessCIDR",
            ["0.0.0.0/0", "203.0.113.0/24", "10.0.0.1/32"],
            ["10.0.0.0/33", "300.1.1.1/8", "x"],
        ),
        # AWS allows a /16 to /28 VPC, but four subnets of at least /27 need a /25.
        ("VpcCidr", ["10.0.0.0/16", "172.16.0.0/25"], ["10.0.0.0/8", "10.0.0.0/26", "10.0.0.0/28"]),
        # An Application Load Balancer's subnets are at least a /27 (ELB: "Subnets for your load balancer").
        ("PublicSubnet1Cidr", ["10.0.0.0/24", "10.0.0.0/27"], ["10.0.0.0/28", "10.0.0.0/15"]),
        ("PrivateSubnet2Cidr", ["10.0.11.0/24", "10.0.0.32/27"], ["10.0.0.16/28", "10.0.0.0/32"]),
        ("VpcId", ["", "vpc-0123456789abcdef0"], ["vpc-xyz", "subnet-01234567"]),
        (
            "PrivateSubnetIds",
            ["", "subnet-01234567,subnet-89abcdef"],
            ["subnet-01234567", "subnet-01234567, subnet-89abcdef"],
        ),
        ("QSS3KeyPrefix", ["", "turbine/bundles/0123abcd/"], ["turbine", "/turbine/", "a//"]),
        ("QSS3BucketName", ["turbine-bundles"], ["Turbine", "my.bucket", "a"]),
    ],
)
def test_patterns_accept_sense_and_reject_nonsense(
    parameter: str, accepted: list[str], rejected: list[str]
) -> None:
    pattern = TEMPLATES[MASTER]["Parameters"][parameter]["AllowedPattern"]
    for value in accepted:
        assert re.fullmatch(pattern, value), value
    for value in rejected:
        assert not re.fullmatch(pattern, value), value


def test_the_master_exposes_the_contracted_outputs_and_no_secret_values() -> None:
    outputs = TEMPLATES[MASTER]["Outputs"]
    assert set(outputs) >= MASTER_OUTPUTS
    text = repr(load_templates())
    assert "resolve:secretsmanager" not in repr(outputs)
    assert "NoEcho" not in text  # no secret ever travels as a parameter


def test_cluster_outputs_feed_every_master_output() -> None:
    cluster_outputs = set(TEMPLATES["turbine-cluster.yaml"]["Outputs"])
    for name, output in TEMPLATES[MASTER]["Outputs"].items():
        attribute = output["Value"]["Fn::GetAtt"]
        assert attribute[0] == "ClusterStack"
        assert attribute[1].removeprefix("Outputs.") in cluster_outputs, name


def launch_templates() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (name, logical_id, resource["Properties"]["LaunchTemplateData"])
        for name, template in TEMPLATES.items()
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::EC2::LaunchTemplate"
    ]


@pytest.mark.parametrize(("template", "logical_id", "data"), launch_templates())
def test_launch_templates_require_imdsv2_and_carry_no_secrets(
    template: str, logical_id: str, data: dict[str, Any]
) -> None:
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert "KeyName" not in data  # Session Manager instead of SSH
    assert all(mapping["Ebs"]["Encrypted"] for mapping in data["BlockDeviceMappings"])
    user_data = repr(data["UserData"])
    assert "resolve:" not in user_data
    assert "Password" not in user_data
    assert "TURBINE_ROLE=" in user_data


def test_three_launch_templates_exist() -> None:
    assert len(launch_templates()) == 3


def test_database_and_keys_survive_stack_deletion() -> None:
    resources = TEMPLATES["turbine-cluster.yaml"]["Resources"]
    assert resources["Database"]["DeletionPolicy"] == "Snapshot"
    assert resources["Database"]["UpdateReplacePolicy"] == "Snapshot"
    assert resources["Database"]["Properties"]["StorageEncrypted"] is True
    for secret in ("DatabaseSecret", "FernetKeySecret"):
        assert resources[secret]["DeletionPolicy"] == "Retain"
        assert "GenerateSecretString" in resources[secret]["Properties"]


def test_buckets_are_encrypted_and_private() -> None:
    resources = TEMPLATES["turbine-cluster.yaml"]["Resources"]
    buckets = [resource for resource in resources.values() if resource["Type"] == "AWS::S3::Bucket"]
    assert len(buckets) == 2
    for bucket in buckets:
        properties = bucket["Properties"]
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert all(properties["PublicAccessBlockConfiguration"].values())


def test_the_lifecycle_hook_is_bounded_by_drain_timeout() -> None:
    group = TEMPLATES["turbine-workerset.yaml"]["Resources"]["WorkerGroup"]["Properties"]
    [hook] = group["LifecycleHookSpecificationList"]
    assert hook["LifecycleTransition"] == "autoscaling:EC2_INSTANCE_TERMINATING"
    assert hook["HeartbeatTimeout"] == {"Ref": "DrainTimeout"}
    assert hook["DefaultResult"] == "CONTINUE"
    drain = TEMPLATES[MASTER]["Parameters"]["DrainTimeout"]
    assert drain["MaxValue"] <= 7200  # the largest HeartbeatTimeout Auto Scaling accepts


def test_the_load_function_is_current_and_bounded() -> None:
    resources = TEMPLATES["turbine-workerset.yaml"]["Resources"]
    function = resources["ClusterLoadFunction"]["Properties"]
    assert function["Runtime"] in {"python3.12", "python3.13"}
    assert function["Handler"] == "turbine_cluster_load.handler"
    assert function["Timeout"] <= 60
    assert function["MemorySize"] == 128
    assert function["Code"]["S3Key"] == {"Fn::Sub": "${QSS3KeyPrefix}lambdas/turbine_cluster_load.zip"}
    statements = resources["ClusterLoadFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    assert any("logs:PutLogEvents" in statement["Action"] for statement in statements)
    assert resources["ClusterLoadSchedule"]["Properties"]["ScheduleExpression"] == "rate(1 minute)"


def _actions(statements: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()
    for statement in statements:
        actions = statement["Action"]
        found |= {actions} if isinstance(actions, str) else set(actions)
    return found


def test_the_load_counts_the_slots_the_workers_are_started_with() -> None:
    workerset = TEMPLATES["turbine-workerset.yaml"]
    slots = {"Ref": "WorkerSlots"}
    function = workerset["Resources"]["ClusterLoadFunction"]["Properties"]
    assert function["Environment"]["Variables"]["SLOTS_PER_WORKER"] == slots
    user_data = workerset["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]
    text, variables = user_data["Fn::Base64"]["Fn::Sub"]
    assert "TURBINE_WORKER_CONCURRENCY=${WorkerConcurrency}" in text
    assert variables["WorkerConcurrency"] == slots
    cluster = TEMPLATES["turbine-cluster.yaml"]
    assert cluster["Resources"]["WorkerSetStack"]["Properties"]["Parameters"]["WorkerSlots"] == {
        "Fn::FindInMap": ["WorkerSlots", "Celery", "Concurrency"]
    }
    assert cluster["Mappings"]["WorkerSlots"]["Celery"]["Concurrency"] == 16  # Celery's and Airflow's default


def test_the_load_function_reads_live_queue_and_group_counts_only() -> None:
    resources = TEMPLATES["turbine-workerset.yaml"]["Resources"]
    statements = resources["ClusterLoadFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    assert _actions(statements) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "autoscaling:DescribeAutoScalingGroups",
        "cloudwatch:PutMetricData",
    }
    [queue] = [s for s in statements if "sqs:GetQueueAttributes" in s["Action"]]
    assert queue["Resource"] == {"Ref": "QueueArn"}


def test_workers_may_protect_only_their_own_group_from_scale_in() -> None:
    resources = TEMPLATES["turbine-workerset.yaml"]["Resources"]
    [statement] = resources["WorkerDrainPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert "autoscaling:SetInstanceProtection" in statement["Action"]
    assert "autoScalingGroupName/${WorkerGroup}" in statement["Resource"]["Fn::Sub"]


def test_the_backlog_scales_out_by_target_tracking_and_idle_workers_go_one_at_a_time() -> None:
    resources = TEMPLATES["turbine-workerset.yaml"]["Resources"]
    grow = resources["GrowPolicy"]["Properties"]
    assert grow["PolicyType"] == "TargetTrackingScaling"
    tracking = grow["TargetTrackingConfiguration"]
    assert tracking["TargetValue"] == {"Ref": "GrowthThreshold"}
    # Target tracking would lower the desired capacity while protected workers are busy.
    assert tracking["DisableScaleIn"] is True
    metric = tracking["CustomizedMetricSpecification"]
    assert metric["MetricName"] == {"Fn::FindInMap": ["ClusterLoadMetric", "Metric", "DemandName"]}
    assert metric["Dimensions"] == [{"Name": "AutoScalingGroupName", "Value": {"Ref": "WorkerGroup"}}]
    start = resources["UnservedTasksAlarm"]["Properties"]
    shrink = resources["RemovableWorkersAlarm"]["Properties"]
    assert (start["Period"], start["EvaluationPeriods"], start["DatapointsToAlarm"]) == (60, 1, 1)
    assert (shrink["Period"], shrink["EvaluationPeriods"], shrink["DatapointsToAlarm"]) == (60, 15, 15)
    assert start["AlarmActions"] == [{"Ref": "StartPolicy"}]
    assert shrink["AlarmActions"] == [{"Ref": "ShrinkPolicy"}]
    assert resources["StartPolicy"]["Properties"]["ScalingAdjustment"] == 1
    assert resources["ShrinkPolicy"]["Properties"]["ScalingAdjustment"] == -1
    function = resources["ClusterLoadFunction"]["Properties"]["Environment"]["Variables"]
    assert function["SHRINK_THRESHOLD"] == {"Ref": "ShrinkThreshold"}


def test_network_patterns_are_the_specs() -> None:
    # The API refuses what the templates refuse, so a too-small subnet fails at kubectl apply, not in AWS.
    for template in (MASTER, "turbine-network.yaml"):
        declared = TEMPLATES[template]["Parameters"]
        for name in SUBNET_CIDR_PARAMETERS:
            assert declared[name]["AllowedPattern"] == SUBNET_CIDR_PATTERN.replace("[.]", r"\."), name
        assert declared[VPC_CIDR_PARAMETER]["AllowedPattern"] == VPC_CIDR_PATTERN.replace("[.]", r"\.")
