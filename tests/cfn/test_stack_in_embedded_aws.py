"""Creates the Turbine master stack in the embedded AWS, nested templates served from its S3."""

from __future__ import annotations

import base64
import datetime
import time
import uuid
from typing import Any

import pytest
from moto.cloudformation.parsing import get_model_map
from turbine_templates import MASTER_OUTPUTS, load_templates

from turbine_dev.aws.metric_time import deployed_scale_out
from turbine_dev.rehearsal.scenarios import SCALE_OUT_DECISION_BOUND
from turbine_operator.adapters.sources import load_turbine_sources
from turbine_operator.core.render.bundle import build_bundle

pytestmark = pytest.mark.integration

# Resource types the templates use that moto 5.2.5's CloudFormation skips with a warning. Nothing
# refers to their attributes, so the stack still completes; they are checked by cfn-lint only.
MOTO_SKIPPED_TYPES = {
    "AWS::S3::BucketPolicy",
    # Ignored on purpose by moto (NULL_MODELS); only DependsOn refers to it.
    "AWS::CloudFormation::WaitConditionHandle",
}
# Types moto lacks that the embedded AWS must add (turbine_dev.aws.moto_cfn_resources), because the
# templates refer to them; nested-stack outputs (Fn::GetAtt Stack.Outputs.X) are added there too.
EXTENDED_TYPES = {
    "AWS::SecretsManager::Secret",
    "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::AutoScaling::ScalingPolicy",
    "AWS::CloudWatch::Alarm",
}
ROLE_OUTPUTS = ("SchedulerRoleName", "WebserverRoleName", "WorkerRoleName")
MISSING_EXTENSION_HINT = (
    "The embedded AWS lacks moto extensions the Turbine templates need: call "
    "moto_cfn_resources.install() (turbine_dev.aws.moto_cfn_resources) in turbine_dev.aws.moto_server."
)


def template_resource_types() -> set[str]:
    return {
        resource["Type"]
        for template in load_templates().values()
        for resource in template["Resources"].values()
    }


def test_moto_gaps_are_the_known_ones() -> None:
    """Notices a moto upgrade that closes a gap, or a template that opens a new one."""
    plain_moto = set(get_model_map()) - EXTENDED_TYPES
    assert template_resource_types() - plain_moto == MOTO_SKIPPED_TYPES | EXTENDED_TYPES


def upload_bundle(aws: Any, bucket: str) -> str:
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    bundle = build_bundle(load_turbine_sources())
    prefix = bundle.key_prefix("turbine-tests/")
    for key, body in bundle.files.items():
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=body)
    return prefix


def existing_network(aws: Any) -> dict[str, str]:
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    zones = [zone["ZoneName"] for zone in ec2.describe_availability_zones()["AvailabilityZones"][:2]]

    def subnets(third_octets: tuple[int, int]) -> str:
        return ",".join(
            ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.20.{octet}.0/24", AvailabilityZone=zone)["Subnet"][
                "SubnetId"
            ]
            for octet, zone in zip(third_octets, zones, strict=True)
        )

    return {"VpcId": vpc, "PublicSubnetIds": subnets((0, 1)), "PrivateSubnetIds": subnets((10, 11))}


def wait_for_stack(cloudformation: Any, stack_name: str, timeout: float = 300.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack: dict[str, Any] = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            return stack
        time.sleep(1)


def create_master_stack(aws: Any, extra_parameters: dict[str, str]) -> tuple[dict[str, str], str]:
    bucket = f"turbine-bundle-{uuid.uuid4().hex[:12]}"
    prefix = upload_bundle(aws, bucket)
    stack_name = f"tb-{uuid.uuid4().hex[:6]}"  # short: generated function names start with it whole
    parameters = {"QSS3BucketName": bucket, "QSS3KeyPrefix": prefix, **extra_parameters}
    cloudformation = aws.client("cloudformation")
    try:
        created = cloudformation.create_stack(
            StackName=stack_name,
            TemplateURL=f"https://{bucket}.s3.{aws.region}.amazonaws.com/{prefix}templates/turbine-master.yaml",
            Parameters=[{"ParameterKey": key, "ParameterValue": value} for key, value in parameters.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
    except Exception as error:  # moto answers an internal error when nested outputs are unsupported
        pytest.fail(f"{MISSING_EXTENSION_HINT}\n{error}")
    # By id: a new stack's name may not resolve for a moment (eventual consistency), its id does.
    stack = wait_for_stack(cloudformation, created["StackId"])
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    return {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}, stack_name


def named_webserver(aws: Any) -> dict[str, str]:
    """A certificate and a hosted zone for airflow.example.com, as a user would bring them."""
    certificate = aws.client("acm").request_certificate(DomainName="airflow.example.com")["CertificateArn"]
    zone = aws.client("route53").create_hosted_zone(Name="example.com", CallerReference=uuid.uuid4().hex)
    return {
        "CertificateArn": certificate,
        "WebserverHostname": "airflow.example.com",
        "WebserverHostedZoneId": zone["HostedZone"]["Id"].rsplit("/", 1)[-1],
    }


def assert_alias_to_the_public_load_balancer(aws: Any, zone_id: str) -> None:
    records = aws.client("route53").list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
    # moto keeps the name as given; Route 53 answers it with the final dot.
    [record] = [r for r in records if r["Name"].rstrip(".") == "airflow.example.com"]
    assert record["Type"] == "A"
    assert record["AliasTarget"]["EvaluateTargetHealth"] is True
    assert "TTL" not in record
    target = record["AliasTarget"]["DNSName"].rstrip(".")
    balancers = aws.client("elbv2").describe_load_balancers()["LoadBalancers"]
    assert [b["Scheme"] for b in balancers if b["DNSName"].rstrip(".") == target] == ["internet-facing"]


def secret_values(aws: Any, arn: str) -> list[str]:
    return [aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]]


@pytest.mark.parametrize(
    "variant",
    ["new-network", "existing-vpc-internet-facing", "named-internet-facing"],
)
def test_master_stack_reaches_create_complete(embedded_aws: Any, variant: str) -> None:
    extra: dict[str, str] = {}
    if variant != "new-network":
        extra = {
            **existing_network(embedded_aws),
            "WebserverLoadBalancerScheme": "internet-facing",
            "WebServerPort": "80",
        }
    if variant == "named-internet-facing":
        extra |= named_webserver(embedded_aws)

    outputs, stack_name = create_master_stack(embedded_aws, extra)

    assert set(outputs) >= MASTER_OUTPUTS
    assert all(outputs[name] for name in MASTER_OUTPUTS), outputs
    assert outputs["ClusterLoadMetricNamespace"] == "Turbine"
    assert outputs["ClusterLoadMetricName"] == "ClusterLoad"
    if variant == "new-network":
        assert outputs["WebserverURL"].startswith("http://")
        assert outputs["WebserverURL"].endswith(":8080")
    elif variant == "named-internet-facing":
        # The one name a user's certificate can cover, and an alias record under it to the public ALB.
        assert outputs["WebserverURL"] == "https://airflow.example.com"
        assert_alias_to_the_public_load_balancer(embedded_aws, extra["WebserverHostedZoneId"])
    else:
        assert outputs["VpcId"] == extra["VpcId"]
        assert outputs["PrivateSubnetIds"] == extra["PrivateSubnetIds"]
        assert outputs["PublicSubnetIds"] == extra["PublicSubnetIds"]
        assert not outputs["WebserverURL"].endswith(":80")
    assert len(outputs["PrivateSubnetIds"].split(",")) == 2

    # The resources behind the outputs exist.
    sqs = embedded_aws.client("sqs")
    # The host differs (moto answers with its own endpoint); the queue is the same.
    queue_url = sqs.get_queue_url(QueueName=outputs["QueueName"])["QueueUrl"]
    assert queue_url.rsplit("/", 2)[-2:] == outputs["QueueURL"].rsplit("/", 2)[-2:]
    s3 = embedded_aws.client("s3")
    for bucket in (outputs["LogsBucketName"], outputs["DeploymentsBucketName"]):
        s3.head_bucket(Bucket=bucket)
    iam = embedded_aws.client("iam")
    # moto ignores a role's ManagedPolicyArns (the Session Manager policy), so only inline ones show.
    inline = {
        role: set(iam.list_role_policies(RoleName=outputs[role])["PolicyNames"]) for role in ROLE_OUTPUTS
    }
    assert inline == {
        "SchedulerRoleName": {"turbine-scheduler"},
        "WebserverRoleName": {"turbine-webserver"},
        "WorkerRoleName": {"turbine-worker", "turbine-worker-drain"},
    }
    autoscaling = embedded_aws.client("autoscaling")
    [workers] = autoscaling.describe_auto_scaling_groups(
        AutoScalingGroupNames=[outputs["WorkerAutoScalingGroupName"]]
    )["AutoScalingGroups"]
    assert (workers["MinSize"], workers["MaxSize"]) == (0, 10)
    [webservers] = [
        group
        for group in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
        if group["AutoScalingGroupName"].startswith(stack_name)
        and "Webserver" in group["AutoScalingGroupName"]
    ]
    assert (webservers["MinSize"], webservers["MaxSize"]) == (2, 2)
    [scheduler] = [
        group
        for group in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
        if group["AutoScalingGroupName"].startswith(stack_name)
        and "Scheduler" in group["AutoScalingGroupName"]
    ]
    # Room above the one scheduler for its replacement during a rolling update.
    assert (scheduler["MinSize"], scheduler["MaxSize"], scheduler["DesiredCapacity"]) == (1, 2, 1)
    codedeploy = embedded_aws.client("codedeploy")
    group = codedeploy.get_deployment_group(
        applicationName=outputs["CodeDeployApplicationName"],
        deploymentGroupName=outputs["CodeDeployDeploymentGroupName"],
    )["deploymentGroupInfo"]
    assert group["serviceRoleArn"].startswith("arn:aws:iam::")  # moto echoes autoScalingGroups mis-shaped

    # The load-metric function was created from the bundle's zip.
    functions = embedded_aws.client("lambda").list_functions()["Functions"]
    [function] = [
        f
        for f in functions
        if f["FunctionName"].startswith(stack_name) and "ClusterLoad" in f["FunctionName"]
    ]
    assert function["Handler"] == "turbine_cluster_load.handler"
    assert function["Runtime"] == "python3.13"
    assert (
        function["Environment"]["Variables"]["AUTO_SCALING_GROUP_NAME"]
        == outputs["WorkerAutoScalingGroupName"]
    )

    # Launch templates: IMDSv2 only, and no generated secret anywhere in the user data.
    ec2 = embedded_aws.client("ec2")
    secrets = secret_values(embedded_aws, outputs["DatabaseSecretArn"])
    groups = [
        group
        for group in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
        if group["AutoScalingGroupName"].startswith(stack_name)
    ]
    assert len(groups) == 3
    launch_templates = [group["LaunchTemplate"] for group in groups]
    for launch_template in launch_templates:
        [version] = ec2.describe_launch_template_versions(
            LaunchTemplateId=launch_template["LaunchTemplateId"], Versions=[launch_template["Version"]]
        )["LaunchTemplateVersions"]
        data = version["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        user_data = base64.b64decode(data["UserData"]).decode()
        assert "TURBINE_ROLE=" in user_data
        if "TURBINE_ROLE=worker" in user_data:
            # Workers are told of no secret at all, not even where one is.
            assert "secretsmanager" not in user_data
            assert "TURBINE_DATABASE" not in user_data
        assert "${" not in user_data.replace("${AWS::", "")  # every Fn::Sub variable was resolved
        for secret in secrets:
            assert secret not in user_data
            assert '"password"' not in user_data


def test_a_task_queued_on_the_empty_deployed_worker_set_scales_it_out_within_the_bound(
    embedded_aws: Any,
) -> None:
    """The deployed load function, alarm and policy (not copies of them), in simulated metric time; the
    boot rehearsal repeats this with a task Airflow queued. The bound is the one cfn/README.md states."""
    outputs, _ = create_master_stack(embedded_aws, {})
    group = outputs["WorkerAutoScalingGroupName"]
    clients = {name: embedded_aws.client(name) for name in ("lambda", "cloudwatch", "autoscaling", "sqs")}
    assert (
        clients["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
            "AutoScalingGroups"
        ][0]["DesiredCapacity"]
        == 0
    )  # MinGroupSize defaults to 0
    clients["sqs"].send_message(QueueUrl=outputs["QueueURL"], MessageBody="a task")
    queued_at = datetime.datetime.now(datetime.UTC)

    outcome = deployed_scale_out(clients, group, queued_at)

    assert outcome.decision.seconds is not None
    assert outcome.decision.seconds <= SCALE_OUT_DECISION_BOUND
    assert outcome.desired_capacity == 1


def test_the_deployed_scale_out_policy_targets_the_growth_threshold(embedded_aws: Any) -> None:
    """The threshold reaches the worker set's nested stack as CloudFormation passes it, a string: the
    embedded AWS passed the parent's resolved number on, and the nested stack's int() made 0.75 a target
    of 0 (found by the boot rehearsal's burst, issue 24)."""
    outputs, _ = create_master_stack(embedded_aws, {"GrowthThreshold": "0.75"})
    autoscaling = embedded_aws.client("autoscaling")

    policies = autoscaling.describe_policies(AutoScalingGroupName=outputs["WorkerAutoScalingGroupName"])

    [tracking] = [
        p["TargetTrackingConfiguration"]
        for p in policies["ScalingPolicies"]
        if p["PolicyType"] == "TargetTrackingScaling"
    ]
    assert tracking["TargetValue"] == 0.75
