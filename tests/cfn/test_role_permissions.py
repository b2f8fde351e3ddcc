"""The roles of the stack, as the embedded AWS renders them, evaluated against the AWS calls made with them.

The calls are those the instances' scripts (cfn/scripts, the launch templates' user data), the software they
run (Airflow's Celery executor on kombu's SQS transport, the Amazon provider's secrets backend and S3 task
logs, the CodeDeploy agent) and the cluster-load Lambda make, each with the line that makes it. The rehearsal
runs these same scripts; this evaluates the calls statically, against the rendered role, with AWS's
evaluation logic (turbine_dev.strict.iam_evaluation): each call must be allowed, each permission a role holds
must be used by a call or justified in UNUSED.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from test_stack_in_embedded_aws import create_master_stack

from turbine_dev.strict.iam_evaluation import Decision, Request, access_denied, evaluate, granted_actions
from turbine_dev.strict.role_permissions import UNUSED, policy_document

pytestmark = pytest.mark.integration

ROLES = {  # role -> its logical id in the nested stacks
    "scheduler-boot": "SchedulerBootRole",
    "scheduler": "SchedulerRole",
    "webserver-boot": "WebserverBootRole",
    "webserver": "WebserverRole",
    "worker": "WorkerRole",
    "cluster-load": "ClusterLoadFunctionRole",
    "codedeploy": "CodeDeployServiceRole",
}

# Permissions no call below makes, and why each is kept: turbine_dev.strict.role_permissions.UNUSED (the
# rehearsal's live evaluation lists the same).
# Allowed only when spec.airflow.dags.s3 names a bucket (HasDagBucket): the stack created here has none.
DAG_BUCKET_ACTIONS = {"s3:GetObject", "s3:ListBucket"}


def _stacks(cloudformation: Any, stack: str) -> Iterator[list[dict[str, Any]]]:
    resources = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    yield resources
    for resource in resources:
        if resource.get("ResourceType") == "AWS::CloudFormation::Stack":
            yield from _stacks(cloudformation, resource["PhysicalResourceId"])


@pytest.fixture(scope="module")
def deployed(embedded_aws: Any) -> dict[str, Any]:
    outputs, stack_name = create_master_stack(embedded_aws, {})
    cloudformation, iam = embedded_aws.client("cloudformation"), embedded_aws.client("iam")
    physical: dict[str, str] = {}
    stack_ids: dict[str, str] = {}
    for resources in _stacks(cloudformation, stack_name):
        for resource in resources:
            if "PhysicalResourceId" not in resource:  # a type moto skips (see test_stack_in_embedded_aws)
                continue
            physical.setdefault(resource["LogicalResourceId"], resource["PhysicalResourceId"])
            stack_ids.setdefault(resource["LogicalResourceId"], resource["StackId"])
    policies: dict[str, list[dict[str, Any]]] = {}
    for role, logical_id in ROLES.items():
        name = physical[logical_id]
        documents = [
            policy_document(iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"])
            for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
        ]
        # Separate AWS::IAM::Policy resources attached to the role (the worker's drain policy).
        for attached in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
            if ":aws:policy/" not in attached["PolicyArn"]:  # AWS managed ones are AWS's to scope
                version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
                documents.append(
                    policy_document(
                        iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)[
                            "PolicyVersion"
                        ]["Document"]
                    )
                )
        policies[role] = documents
    queue_arn = embedded_aws.client("sqs").get_queue_attributes(
        QueueUrl=outputs["QueueURL"], AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    return {
        "outputs": outputs,
        "physical": physical,
        "stacks": stack_ids,
        "policies": policies,
        "queue": queue_arn,
        "region": embedded_aws.region,
    }


def rehearsed_calls(deployed: Mapping[str, Any]) -> dict[str, list[tuple[Request, str]]]:
    """Every call each role makes, with where it is made."""
    outputs, physical = deployed["outputs"], deployed["physical"]
    account, region = deployed["queue"].split(":")[4], deployed["region"]
    bundle, prefix = outputs["_bucket"], outputs["_prefix"]

    def s3(bucket: str, key: str = "") -> str:
        return f"arn:aws:s3:::{bucket}" + (f"/{key}" if key else "")

    def table() -> str:
        return f"arn:aws:dynamodb:{region}:{account}:table/{physical['ResultsTable']}"

    logs, deployments = outputs["LogsBucketName"], outputs["DeploymentsBucketName"]
    queue = deployed["queue"]
    scripts = [
        (Request("s3:ListBucket", s3(bundle), {"s3:prefix": f"{prefix}scripts/"}), "user data: aws s3 sync"),
        (
            Request("s3:GetObject", s3(bundle, f"{prefix}scripts/turbine-bootstrap.sh")),
            "user data: aws s3 sync",
        ),
    ]
    boot = [
        (
            Request("s3:GetObject", s3(logs, "logs/dag_id=x/run_id=y/task_id=z/attempt=1.log")),
            "S3 task logs (read)",
        ),
        (Request("s3:ListBucket", s3(logs), {"s3:prefix": "logs/"}), "S3 task logs (list)"),
        (Request("s3:GetObject", s3(deployments, "revision.zip")), "CodeDeploy agent: the revision"),
        (
            Request("s3:GetObjectVersion", s3(deployments, "revision.zip")),
            "CodeDeploy agent: a versioned revision",
        ),
        (Request("s3:ListBucket", s3(deployments)), "CodeDeploy agent: the revision's bucket"),
        (
            Request("s3:GetObject", s3(f"aws-codedeploy-{region}", "latest/install")),
            "bootstrap: agent installer",
        ),
        (
            Request("secretsmanager:GetSecretValue", physical["DagsConnectionSecret"]),
            "secrets backend: connection turbine_dags (git DAG bundle)",
        ),
    ]
    # The scheduler and the workers run Celery (broker SQS, results DynamoDB); the API servers do not.
    celery = [
        (Request("sqs:ListQueues", "*"), "kombu: finds the broker queue by prefix"),
        (Request("sqs:GetQueueUrl", queue), "kombu: the broker queue's URL"),
        (Request("sqs:GetQueueAttributes", queue), "kombu: the broker queue's attributes"),
        (Request("dynamodb:DescribeTable", table()), "Celery DynamoDB backend: table check at start"),
        (Request("dynamodb:DescribeTimeToLive", table()), "Celery DynamoDB backend: ttl_seconds"),
        (Request("dynamodb:GetItem", table()), "Celery DynamoDB backend: a task's state"),
    ]
    database_roles = [
        (Request("secretsmanager:GetSecretValue", physical[name]), f"turbine-bootstrap.sh: {name}")
        for name in ("DatabaseAppSecret", "FernetKeySecret", "ApiSecretKeySecret", "JwtSecret")
    ]
    migration = [
        (
            Request("secretsmanager:GetSecretValue", physical["DatabaseSecret"]),
            "turbine-bootstrap.sh: migrate_database",
        ),
    ]

    def signal(group_stack: str) -> tuple[Request, str]:
        return Request(
            "cloudformation:SignalResource", deployed["stacks"][group_stack]
        ), "user data: cfn-signal"

    def take_run_profile(kind: str) -> list[tuple[Request, str]]:
        """What the boot role of `kind` (Scheduler, Webserver) needs to take the run profile."""
        profile = f"arn:aws:iam::{account}:instance-profile/"
        context = {
            "ec2:InstanceProfile": profile + physical[f"{kind}BootInstanceProfile"],
            "ec2:NewInstanceProfile": profile + physical[f"{kind}InstanceProfile"],
        }
        instance = f"arn:aws:ec2:{region}:{account}:instance/i-0123456789abcdef0"
        return [
            (Request("ec2:DescribeIamInstanceProfileAssociations", "*"), "take_run_profile: its association"),
            (Request("ec2:ReplaceIamInstanceProfileAssociation", instance, context), "take_run_profile"),
            (
                Request(
                    "iam:PassRole",
                    f"arn:aws:iam::{account}:role/{physical[f'{kind}Role']}",
                    {"iam:PassedToService": "ec2.amazonaws.com"},
                ),
                "take_run_profile: the run profile's role",
            ),
        ]

    def booting(kind: str) -> list[tuple[Request, str]]:
        # Until migrated: the scripts, the database and signing secrets, the master one included.
        return [
            *scripts,
            *database_roles,
            *migration,
            *take_run_profile(kind),
            (signal(f"{kind}Group")[0], "user data: cfn-signal of a boot that failed before the run profile"),
        ]

    scheduler = [
        *boot,
        *celery,
        signal("SchedulerGroup"),
        (
            Request("s3:PutObject", s3(logs, "logs/dag_id=x/run_id=y/task_id=z/attempt=1.log")),
            "S3 task logs: the triggerer and DAG processor upload",
        ),
        (Request("sqs:SendMessage", queue), "CeleryExecutor: the scheduler publishes each task"),
        (
            Request("secretsmanager:GetSecretValue", physical["AirflowUsersSecret"]),
            "turbine-airflow-users.py",
        ),
        (
            Request("ssm:PutParameter", _parameter(region, account, physical["AirflowUsersReport"])),
            "turbine-airflow-users.py: its report",
        ),
        (
            Request("ssm:PutParameter", _parameter(region, account, physical["DagsReport"])),
            "turbine-dag-report.py: its report",
        ),
    ]
    webserver = [
        *boot,
        (
            Request("elasticloadbalancing:DescribeTargetHealth", "*"),
            "turbine-bootstrap.sh: signal once the target groups route to it",
        ),
        signal("WebserverGroup"),
    ]
    group = f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:0a1b2c3d-uuid:autoScalingGroupName/"
    worker_group = group + physical["WorkerGroup"]
    worker = [
        *scripts,
        *boot,
        *celery,
        (
            Request("s3:PutObject", s3(logs, "logs/dag_id=x/run_id=y/task_id=z/attempt=1.log")),
            "S3 task logs: upload",
        ),
        (Request("sqs:ReceiveMessage", queue), "kombu: consume"),
        (Request("sqs:DeleteMessage", queue), "kombu: acknowledge"),
        (Request("sqs:ChangeMessageVisibility", queue), "kombu: reject without requeue / backoff"),
        (Request("dynamodb:PutItem", table()), "Celery DynamoDB backend: store a result"),
        (Request("autoscaling:SetInstanceHealth", worker_group), "user data: a failed boot"),
        (Request("autoscaling:DescribeAutoScalingInstances", "*"), "turbine-worker-drain.sh: its own group"),
        (Request("autoscaling:SetInstanceProtection", worker_group), "turbine-worker-drain.sh: protect"),
        (Request("autoscaling:RecordLifecycleActionHeartbeat", worker_group), "turbine-worker-drain.sh"),
        (Request("autoscaling:CompleteLifecycleAction", worker_group), "turbine-worker-drain.sh"),
    ]
    log_group = f"arn:aws:logs:{region}:{account}:log-group:{physical['ClusterLoadLogGroup']}"
    cluster_load = [
        (
            Request("logs:CreateLogStream", f"{log_group}:log-stream:2026/12/07/[$LATEST]abc"),
            "Lambda runtime",
        ),
        (Request("logs:PutLogEvents", f"{log_group}:log-stream:2026/12/07/[$LATEST]abc"), "Lambda runtime"),
        (Request("sqs:GetQueueUrl", queue), "turbine_cluster_load.py: get_queue_url"),
        (Request("sqs:GetQueueAttributes", queue), "turbine_cluster_load.py: get_queue_attributes"),
        (Request("autoscaling:DescribeAutoScalingGroups", "*"), "turbine_cluster_load.py: describe groups"),
        (
            Request(
                "cloudwatch:PutMetricData",
                "*",
                {"cloudwatch:namespace": outputs["ClusterLoadMetricNamespace"]},
            ),
            "turbine_cluster_load.py: put_metric_data",
        ),
    ]
    return {
        "scheduler-boot": booting("Scheduler"),
        "scheduler": scheduler,
        "webserver-boot": booting("Webserver"),
        "webserver": webserver,
        "worker": worker,
        "cluster-load": cluster_load,
        "codedeploy": [],
    }


def _parameter(region: str, account: str, name: str) -> str:
    return f"arn:aws:ssm:{region}:{account}:parameter/{name.lstrip('/')}"


@pytest.fixture(scope="module")
def calls(deployed: dict[str, Any]) -> dict[str, list[tuple[Request, str]]]:
    bucket, prefix = _bundle(deployed)
    deployed["outputs"] = {**deployed["outputs"], "_bucket": bucket, "_prefix": prefix}
    return rehearsed_calls(deployed)


def _bundle(deployed: Mapping[str, Any]) -> tuple[str, str]:
    # The bundle's bucket and prefix, as the scheduler's policy was rendered with them.
    (statement,) = [
        s
        for policy in deployed["policies"]["scheduler-boot"]
        for s in policy["Statement"]
        if s.get("Sid") == "ReadBootstrapScripts"
    ]
    path = statement["Resource"].removeprefix("arn:aws:s3:::")
    bucket, _, rest = path.partition("/")
    return bucket, rest.removesuffix("scripts/*")


@pytest.mark.parametrize(
    "role", ["scheduler-boot", "scheduler", "webserver-boot", "webserver", "worker", "cluster-load"]
)
def test_every_call_of_a_role_is_allowed(deployed: dict[str, Any], calls: Any, role: str) -> None:
    refused = [
        f"{source}: {request.action} on {request.resource}"
        for request, source in calls[role]
        if not evaluate(deployed["policies"][role], request).allowed
    ]
    assert refused == []


@pytest.mark.parametrize("role", list(ROLES))
def test_every_permission_of_a_role_is_used_or_justified(
    deployed: dict[str, Any], calls: Any, role: str
) -> None:
    used = {request.action.lower() for request, _ in calls[role]}
    justified = {action.lower() for (owner, action) in UNUSED if owner == role}
    unused = sorted(
        action
        for action in granted_actions(deployed["policies"][role])
        if action.lower() not in used | justified
    )
    assert unused == []
    stale = sorted(action for action in justified if action in used)
    assert stale == [], "justified as unused, yet used: drop it from UNUSED"


def test_workers_are_refused_what_they_do_not_need(deployed: dict[str, Any], calls: Any) -> None:
    queue, physical = deployed["queue"], deployed["physical"]
    worker = deployed["policies"]["worker"]
    for secret in ("DatabaseSecret", "DatabaseAppSecret", "JwtSecret", "AirflowUsersSecret"):
        request = Request("secretsmanager:GetSecretValue", physical[secret])
        decision = evaluate(worker, request)
        assert decision == Decision(allowed=False)
        code, message = access_denied("arn:aws:sts::123456789012:assumed-role/w/i-0", request, decision)
        assert code == "AccessDeniedException"
        assert message.endswith(
            "because no identity-based policy allows the secretsmanager:GetSecretValue action"
        )
    assert not evaluate(worker, Request("sqs:PurgeQueue", queue)).allowed
    assert not evaluate(
        worker, Request("sqs:DeleteMessage", queue.replace(queue.split(":")[-1], "other"))
    ).allowed


@pytest.mark.parametrize("kind", ["Scheduler", "Webserver"])
def test_only_the_boot_role_reads_the_database_secrets_and_it_can_take_only_the_run_profile(
    deployed: dict[str, Any], kind: str
) -> None:
    """Issue 24: the master database secret at boot only. The run role, which the instance takes once the
    database is migrated, reads no database or signing secret; the boot role may replace its profile with the
    run profile, and with no profile of another role, since it may pass the run role only."""
    physical, account, region = deployed["physical"], deployed["queue"].split(":")[4], deployed["region"]
    label = kind.lower()
    boot, run = deployed["policies"][f"{label}-boot"], deployed["policies"][label]
    for secret in (
        "DatabaseSecret",
        "DatabaseAppSecret",
        "FernetKeySecret",
        "ApiSecretKeySecret",
        "JwtSecret",
    ):
        request = Request("secretsmanager:GetSecretValue", physical[secret])
        assert evaluate(boot, request).allowed, secret
        assert evaluate(run, request) == Decision(allowed=False), secret
    profile, role = f"arn:aws:iam::{account}:instance-profile/", f"arn:aws:iam::{account}:role/"
    instance = f"arn:aws:ec2:{region}:{account}:instance/i-0123456789abcdef0"

    def replace(policies: list[dict[str, Any]], new_profile: str, its_role: str) -> bool:
        # What EC2 asks IAM for a replacement (strict/iam_requests.py _ec2): the action on the instance, and
        # passing the new profile's role to EC2.
        context = {"ec2:InstanceProfile": profile + physical[f"{kind}BootInstanceProfile"],
                   "ec2:NewInstanceProfile": profile + new_profile}  # fmt: skip
        return all(
            evaluate(policies, request).allowed
            for request in (
                Request("ec2:ReplaceIamInstanceProfileAssociation", instance, context),
                Request("iam:PassRole", role + its_role, {"iam:PassedToService": "ec2.amazonaws.com"}),
            )
        )

    assert replace(boot, physical[f"{kind}InstanceProfile"], physical[f"{kind}Role"])
    assert not replace(boot, "Administrator", "Administrator")
    assert not replace(boot, physical[f"{kind}BootInstanceProfile"], physical[f"{kind}BootRole"])
    assert not replace(run, physical[f"{kind}InstanceProfile"], physical[f"{kind}Role"])


def test_the_codedeploy_role_launches_only_from_the_stacks_templates(deployed: dict[str, Any]) -> None:
    policies, physical = deployed["policies"]["codedeploy"], deployed["physical"]
    account, region = deployed["queue"].split(":")[4], deployed["region"]
    role_arn = f"arn:aws:iam::{account}:role/"
    ours = f"arn:aws:ec2:{region}:{account}:launch-template/{physical['WorkerLaunchTemplate']}"
    other = f"arn:aws:ec2:{region}:{account}:launch-template/lt-0123456789abcdef0"
    instance = f"arn:aws:ec2:{region}:{account}:instance/*"
    assert evaluate(policies, Request("ec2:RunInstances", instance, {"ec2:LaunchTemplate": ours})).allowed
    assert not evaluate(
        policies, Request("ec2:RunInstances", instance, {"ec2:LaunchTemplate": other})
    ).allowed
    assert not evaluate(policies, Request("ec2:RunInstances", instance)).allowed
    assert evaluate(
        policies, Request("ec2:CreateTags", instance, {"ec2:CreateAction": "RunInstances"})
    ).allowed
    assert not evaluate(
        policies, Request("ec2:CreateTags", instance, {"ec2:CreateAction": "CreateVolume"})
    ).allowed
    assert not evaluate(policies, Request("ec2:CreateTags", instance)).allowed
    to_ec2 = {"iam:PassedToService": "ec2.amazonaws.com"}
    worker_role = role_arn + physical["WorkerRole"]
    assert evaluate(policies, Request("iam:PassRole", worker_role, to_ec2)).allowed
    assert not evaluate(
        policies, Request("iam:PassRole", worker_role, {"iam:PassedToService": "lambda.amazonaws.com"})
    ).allowed
    assert not evaluate(policies, Request("iam:PassRole", role_arn + "Administrator", to_ec2)).allowed


# Which role runs each file that calls AWS; every script and Lambda module must be listed, so a new one
# cannot call AWS unseen.
REPO = Path(__file__).resolve().parents[2]
CALLERS = {
    "cfn/scripts/turbine-bootstrap.sh": (
        "scheduler-boot",
        "scheduler",
        "webserver-boot",
        "webserver",
        "worker",
    ),
    "cfn/scripts/turbine-dags-connection.sh": ("scheduler",),
    "cfn/scripts/turbine-worker-drain.sh": ("worker",),
    "cfn/scripts/turbine-airflow-users.py": ("scheduler",),
    "cfn/scripts/turbine-dag-report.py": ("scheduler",),
    "cfn/scripts/turbine-migrate-database.py": (),  # PostgreSQL only
    "cfn/templates/turbine-scheduler.yaml": ("scheduler-boot", "scheduler"),  # its user data
    "cfn/templates/turbine-webserver.yaml": ("webserver-boot", "webserver"),
    "cfn/templates/turbine-workerset.yaml": ("worker",),
    "lambdas/turbine_cluster_load.py": ("cluster-load",),
}
# Calls of the shared bootstrap made on one role's path only: the api-server waits for its target groups.
# Until the database is migrated, the scheduler and the api-servers run with their boot role: it reads the
# database secrets and takes the run profile; the run role reads none of them.
_BOOTING = ("scheduler-boot", "webserver-boot")
ROLE_PATHS = {
    "elasticloadbalancing:DescribeTargetHealth": ("webserver",),
    "ec2:DescribeIamInstanceProfileAssociations": _BOOTING,
    "ec2:ReplaceIamInstanceProfileAssociation": _BOOTING,
}
# The AWS CLI's service names that are not IAM's action prefix.
CLI_PREFIXES = {"elbv2": "elasticloadbalancing"}
# High-level commands and tools that are not one API operation.
COMMAND_ACTIONS = {
    "s3 sync": ("s3:ListBucket", "s3:GetObject"),
    "cfn-signal": ("cloudformation:SignalResource",),
}
GENERIC_METHODS = {"get_paginator", "get_waiter", "can_paginate", "close"}


@functools.cache
def _operations(service: str) -> dict[str, str]:
    """botocore's method name -> API operation of `service`."""
    client = botocore.session.get_session().create_client(
        service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return dict(client.meta.method_to_api_mapping)


def static_actions(path: str) -> set[str]:
    """The IAM actions of the AWS calls in a script, user data or Lambda module, read from its text."""
    text = (REPO / path).read_text()
    if not path.endswith(".py"):  # what comments mention is not called
        text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    actions = {action for command, named in COMMAND_ACTIONS.items() if command in text for action in named}
    if path.endswith(".py"):
        services = set(
            re.findall(r"\"(sqs|autoscaling|cloudwatch|secretsmanager|ssm|s3|cloudformation)\"", text)
        )
        called = set(re.findall(r"\.([a-z_]+)\(", text)) - GENERIC_METHODS
        for service in services:
            operations = _operations(service)
            actions |= {f"{service}:{operations[method]}" for method in called & set(operations)}
        return actions
    # Shell and user data: `aws <service> <command>`, the command perhaps in a variable set elsewhere in
    # the file, so every kebab-case word that names one of the service's commands counts.
    words = set(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)+", text))
    for service in set(re.findall(r"\baws ([a-z0-9]+) ", text)) - {"s3"}:
        operations = _operations(service)
        actions |= {
            f"{CLI_PREFIXES.get(service, service)}:{operation}"
            for method, operation in operations.items()
            if method.replace("_", "-") in words
        }
    return actions


def test_every_file_that_may_call_aws_has_its_roles() -> None:
    files = {
        str(path.relative_to(REPO))
        for pattern in ("cfn/scripts/*.sh", "cfn/scripts/*.py", "lambdas/*.py")
        for path in REPO.glob(pattern)
    }
    assert files <= set(CALLERS)


@pytest.mark.parametrize("path", [path for path, roles in CALLERS.items() if roles])
def test_the_calls_evaluated_include_every_call_in_the_scripts(calls: Any, path: str) -> None:
    found = static_actions(path)
    assert found, f"no AWS call found in {path}: the scan is broken"
    for role in CALLERS[path]:
        listed = {request.action for request, _ in calls[role]}
        made = {action for action in found if role in ROLE_PATHS.get(action, (role,))}
        assert sorted(made - listed) == [], f"{path} calls these as {role}, and no evaluated call does"
