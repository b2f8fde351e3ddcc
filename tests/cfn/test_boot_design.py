"""What the templates, units and bootstrap must keep for instances to boot on real AWS.

The boot rehearsal runs these files for real; these checks pin the design choices it relies on
and fail fast, with the defect's name, when one of them is undone.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from turbine_templates import MASTER, SCRIPTS_DIR, load_templates, nested_stacks

from turbine_dev.aws import moto_target_health
from turbine_dev.aws.moto_update_policy import refusal
from turbine_dev.rehearsal.creation_order import references as referenced_names

TEMPLATES = load_templates()
CLUSTER = TEMPLATES["turbine-cluster.yaml"]
BOOTSTRAP = (SCRIPTS_DIR / "turbine-bootstrap.sh").read_text()
AL2023_SSM_REFERENCE = "{{resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64}}"


def shell_function(name: str) -> str:
    match = re.search(rf"^{name}\(\) \{{\n(?P<body>.*?)^\}}$", BOOTSTRAP, re.MULTILINE | re.DOTALL)
    assert match, f"{name} is not defined in turbine-bootstrap.sh"
    return match["body"]


def stack_dependencies(template: dict[str, Any]) -> dict[str, set[str]]:
    """Nested stack -> the other nested stacks it needs (Ref, GetAtt or DependsOn)."""
    stacks = {logical_id for logical_id, _, _ in nested_stacks(template)}
    dependencies = {}
    for logical_id in stacks:
        resource = template["Resources"][logical_id]
        depends_on = resource.get("DependsOn", [])
        needed = referenced_names(resource["Properties"]) | set(
            [depends_on] if isinstance(depends_on, str) else depends_on
        )
        dependencies[logical_id] = needed & stacks
    return dependencies


def test_the_webserver_stack_is_created_first_and_needs_no_later_stack() -> None:
    """Defect 1: its signals depended on the scheduler stack, created after it."""
    assert stack_dependencies(CLUSTER) == {
        "WebserverStack": set(),
        "SchedulerStack": {"WebserverStack"},
        "WorkerSetStack": {"WebserverStack"},
    }


def test_the_webserver_migrates_the_database_itself_before_serving() -> None:
    """Defect 1: only the scheduler migrated, and the api-server waited for it."""
    webserver = shell_function("setup_webserver")
    assert webserver.index("migrate_database") < webserver.index("systemctl enable")
    scheduler = shell_function("setup_scheduler")
    assert scheduler.index("migrate_database") < scheduler.index("systemctl enable")
    assert "db migrate" in shell_function("migrate_database")
    for unit in SCRIPTS_DIR.glob("*.service"):
        assert "check-migrations" not in unit.read_text(), f"{unit.name} waits for another role's migration"


def unit_commands() -> list[Any]:
    return [
        pytest.param(unit.name, line, id=f"{unit.name}:{line.split('=', 1)[0]}")
        for unit in sorted(SCRIPTS_DIR.glob("*.service"))
        for line in unit.read_text().splitlines()
        if re.match(r"^Exec(Start|StartPre|StartPost|Stop|StopPost|Reload)=", line)
    ]


@pytest.mark.parametrize(("unit", "line"), unit_commands())
def test_units_run_synced_scripts_through_an_interpreter(unit: str, line: str) -> None:
    """Defect 2: `aws s3 sync` keeps no file modes, so executing a synced script fails (203/EXEC)."""
    command = line.split("=", 1)[1].lstrip("-@+!:")
    executable = command.split()[0]
    assert not executable.startswith("/opt/turbine/"), f"{unit} executes {executable} directly"


def test_the_drain_service_runs_and_is_started_before_airflow_is_installed() -> None:
    drain = (SCRIPTS_DIR / "turbine-worker-drain.service").read_text()
    assert "ExecStart=/bin/bash /opt/turbine/turbine-worker-drain.sh" in drain
    main = shell_function("main")
    assert main.index("start_drain_service") < main.index("install_airflow")


def worker_template() -> dict[str, Any]:
    return TEMPLATES["turbine-workerset.yaml"]


def test_workers_can_read_no_secret() -> None:
    """Defect 4: task code could read the database master password and the JWT secret."""
    template = worker_template()
    # The one secret workers read by design: the DAG repository's git credentials, since every worker
    # checks out the DAG bundle itself (core/airflow/dag_connection.py).
    repository = "DagsConnectionSecretArn"
    assert not [
        name
        for name in template["Parameters"]
        if ("Secret" in name and name != repository) or name == "DatabaseHost"
    ]
    statements = template["Resources"]["WorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    # A conditional statement ({"Fn::If": [condition, statement, AWS::NoValue]}) counts as granted.
    statements = [s["Fn::If"][1] if "Fn::If" in s else s for s in statements]
    actions = {
        action
        for statement in statements
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    secret_reads = [s for s in statements if "secretsmanager:GetSecretValue" in str(s["Action"])]
    assert [s["Resource"] for s in secret_reads] == [{"Ref": repository}]
    statements = [s for s in statements if s not in secret_reads]
    actions = {
        action
        for statement in statements
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert not {action for action in actions if action.startswith(("secretsmanager:", "rds"))}
    user_data = repr(
        template["Resources"]["WorkerLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]
    )
    assert "SECRET" not in user_data
    assert "DATABASE" not in user_data


def test_only_database_roles_get_database_credentials_and_signing_secrets() -> None:
    environment = shell_function("write_airflow_environment")
    guarded = environment[environment.index("    if uses_database; then\n      echo") :]
    airflow_settings = (
        "DATABASE__SQL_ALCHEMY_CONN",
        "API_AUTH__JWT_SECRET",
        "API__SECRET_KEY",
        "CORE__FERNET_KEY",
    )
    for setting in (f"AIRFLOW__{name}=" for name in airflow_settings):
        assert environment.count(setting) == 1
        assert setting in guarded.split("\n    fi\n")[0], f"{setting} is written for every role"
    assert (
        "uses_database() { [[ ${TURBINE_ROLE} == webserver || ${TURBINE_ROLE} == scheduler ]]; }" in BOOTSTRAP
    )
    # The result backend is DynamoDB through the instance role, not the database.
    assert "RESULT_BACKEND='dynamodb://" in environment
    assert "db+postgresql" not in BOOTSTRAP


def test_airflow_connects_as_the_application_role_not_the_master_user() -> None:
    environment = shell_function("write_airflow_environment")
    assert "${db_user}:${db_password}" in environment
    main = shell_function("main")
    assert "TURBINE_DATABASE_APP_SECRET_ARN" in main
    assert "TURBINE_DATABASE_SECRET_ARN" not in main
    assert "TURBINE_DATABASE_SECRET_ARN" in shell_function("migrate_database")
    assert "airflow_app" in repr(CLUSTER["Resources"]["DatabaseAppSecret"])
    assert "airflow_app" not in repr(CLUSTER["Resources"]["DatabaseSecret"])


def test_at_least_two_api_servers_rolled_one_at_a_time() -> None:
    """Defect 6: a single api-server, rolled with MinInstancesInService 0."""
    assert TEMPLATES[MASTER]["Parameters"]["WebserverCount"]["Default"] == 2
    assert TEMPLATES[MASTER]["Parameters"]["WebserverCount"]["MinValue"] >= 2
    group = TEMPLATES["turbine-webserver.yaml"]["Resources"]["WebserverGroup"]
    rolling = group["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert rolling["MinInstancesInService"] >= 1
    assert rolling["MaxBatchSize"] == 1
    assert rolling["WaitOnResourceSignals"] is True
    assert group["Properties"]["MinSize"] == {"Ref": "WebserverCount"}
    assert group["CreationPolicy"]["ResourceSignal"]["Count"] == {"Ref": "WebserverCount"}


def test_the_scheduler_is_replaced_by_a_running_one() -> None:
    """Every AMI, lock or setting change stopped scheduling: MinInstancesInService 0 on a group of one."""
    group = TEMPLATES["turbine-scheduler.yaml"]["Resources"]["SchedulerGroup"]
    rolling = group["UpdatePolicy"]["AutoScalingRollingUpdate"]
    assert rolling["MinInstancesInService"] >= 1
    assert rolling["WaitOnResourceSignals"] is True
    assert group["Properties"]["DesiredCapacity"] == group["Properties"]["MinSize"] == "1"
    # As CloudFormation checks it: room above the one in service for the replacement.
    assert refusal(group) is None


def test_every_rolling_update_is_one_cloudformation_can_run() -> None:
    webserver = TEMPLATES["turbine-webserver.yaml"]["Resources"]["WebserverGroup"]
    # The smallest WebserverCount the master accepts.
    smallest = {
        **webserver,
        "Properties": {"MaxSize": TEMPLATES[MASTER]["Parameters"]["WebserverCount"]["MinValue"]},
    }
    assert refusal(smallest) is None


def test_an_api_server_signals_only_once_its_load_balancers_route_to_it() -> None:
    """Rolling updates dropped the UI: the signal followed a check on 127.0.0.1, and CloudFormation
    retired the next old API server while the load balancer had not yet routed to the new one."""
    setup = shell_function("setup_webserver")
    assert setup.index("wait_until_healthy") < setup.index("wait_until_in_service")
    waiting = shell_function("wait_until_in_service")
    assert "aws elbv2 describe-target-health" in waiting
    assert '"Id=${id}"' in waiting
    assert "== healthy" in waiting
    webserver = TEMPLATES["turbine-webserver.yaml"]["Resources"]
    user_data = repr(webserver["WebserverLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"])
    assert "TURBINE_TARGET_GROUP_ARNS=${TargetGroupArns}" in user_data
    assert {"InternalTargetGroup", "PublicTargetGroup"} <= referenced_names(user_data_variables(webserver))
    statements = webserver["WebserverRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert any(
        statement.get("Action") == "elasticloadbalancing:DescribeTargetHealth"
        and statement["Resource"] == "*"
        for statement in statements
        if isinstance(statement, dict)
    )


def user_data_variables(resources: dict[str, Any]) -> Any:
    return resources["WebserverLaunchTemplate"]["Properties"]["LaunchTemplateData"]["UserData"]


@pytest.mark.parametrize("group", ["InternalTargetGroup", "PublicTargetGroup"])
def test_target_group_health_checks_within_elastic_load_balancing_limits(group: str) -> None:
    properties = TEMPLATES["turbine-webserver.yaml"]["Resources"][group]["Properties"]
    settings = {
        "protocol": properties["Protocol"],
        "healthcheck_interval_seconds": properties["HealthCheckIntervalSeconds"],
        "healthcheck_timeout_seconds": properties["HealthCheckTimeoutSeconds"],
        "healthy_threshold_count": properties["HealthyThresholdCount"],
        "unhealthy_threshold_count": properties["UnhealthyThresholdCount"],
        "matcher": properties["Matcher"],
    }
    assert moto_target_health.refusal(settings) is None
    assert properties["HealthCheckPath"] == "/api/v2/monitor/health"


def test_the_image_changes_only_when_the_image_id_parameter_does() -> None:
    """Defect 6: an SSM-typed parameter is re-resolved on every update and replaced every instance."""
    for name, template in TEMPLATES.items():
        for parameter, spec in template.get("Parameters", {}).items():
            assert not spec["Type"].startswith("AWS::SSM::"), f"{name}:{parameter}"
    assert TEMPLATES[MASTER]["Parameters"]["ImageId"]["Default"] == ""
    for name in ("turbine-webserver.yaml", "turbine-scheduler.yaml", "turbine-workerset.yaml"):
        template = TEMPLATES[name]
        [launch_template] = [
            resource
            for resource in template["Resources"].values()
            if resource["Type"] == "AWS::EC2::LaunchTemplate"
        ]
        image = launch_template["Properties"]["LaunchTemplateData"]["ImageId"]
        assert image == {"Fn::If": ["HasImageId", {"Ref": "ImageId"}, AL2023_SSM_REFERENCE]}, name
        assert template["Conditions"]["HasImageId"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ImageId"}, ""]}]}


def test_the_celery_visibility_timeout_is_the_queue_one() -> None:
    queue = CLUSTER["Resources"]["BrokerQueue"]["Properties"]
    [configured] = re.findall(r"^readonly QUEUE_VISIBILITY_TIMEOUT=(\d+)$", BOOTSTRAP, re.MULTILINE)
    assert queue["VisibilityTimeout"] == int(configured) == 43200
    assert "VISIBILITY_TIMEOUT='${QUEUE_VISIBILITY_TIMEOUT}'" in BOOTSTRAP


def test_smaller_boot_defects_stay_fixed() -> None:
    """Defect 7."""
    assert "REMOTE_LOG_CONN_ID=''" in BOOTSTRAP
    assert CLUSTER["Resources"]["Database"]["Properties"]["EngineVersion"] == "17"
    ingress = CLUSTER["Resources"]["TriggererLogServerIngress"]["Properties"]
    assert (ingress["FromPort"], ingress["ToPort"]) == (8794, 8794)
    # A failed CodeDeploy agent install only warns.
    assert re.search(r"^  install_codedeploy_agent \|\| log ", BOOTSTRAP, re.MULTILINE)
    assert "aws-cfn-bootstrap" in shell_function("install_packages")
    for name in ("turbine-webserver.yaml", "turbine-scheduler.yaml"):
        user_data = repr(TEMPLATES[name]["Resources"])
        assert "/opt/aws/bin/cfn-signal" not in user_data
        assert "aws cloudformation signal-resource" in user_data
    assert "set-instance-health" in repr(worker_template()["Resources"]["WorkerLaunchTemplate"])
    # base_url on every role.
    for name in ("turbine-webserver.yaml", "turbine-scheduler.yaml", "turbine-workerset.yaml"):
        assert "TURBINE_BASE_URL=" in repr(TEMPLATES[name]["Resources"])
    # EFS is optional, off by default.
    assert TEMPLATES[MASTER]["Parameters"]["SharedFileSystem"]["Default"] == "false"
    assert CLUSTER["Resources"]["FileSystem"]["Condition"] == "HasSharedFileSystem"
    # Public subnets are needed only for an internet-facing webserver in an existing VPC.
    rules = TEMPLATES[MASTER]["Rules"]
    assert "PublicSubnetIds" not in repr(rules["ExistingVpcNeedsSubnets"])
    assert "internet-facing" in repr(rules["InternetFacingNeedsPublicSubnets"]["RuleCondition"])


def test_migrations_are_serialised_and_never_see_the_master_password() -> None:
    """Two nodes migrating an empty database at once fail (FAB tables), so the helper locks."""
    helper = (SCRIPTS_DIR / "turbine-migrate-database.py").read_text()
    assert "pg_advisory_lock(" in helper
    assert helper.index("pg_advisory_lock(") < helper.index("subprocess.run(")
    assert "env=migration_env" in helper
    assert 'MASTER_VARIABLES = ("TURBINE_DB_MASTER_USER", "TURBINE_DB_MASTER_PASSWORD"' in helper
    assert "turbine-migrate-database.py" in shell_function("migrate_database")


def scheduler_environment(max_workers: int, slots: int, tmp_path: Path) -> dict[str, str]:
    """The Airflow environment the bootstrap writes on a scheduler told these figures."""
    env_file = tmp_path / "airflow.env"
    script = "\n".join([
        "python_bool() { echo False; }",
        "uses_database() { false; }",
        "chown() { :; }",
        f"task_slots() {{\n{shell_function('task_slots')}}}",
        f"write_airflow_environment() {{\n{shell_function('write_airflow_environment')}}}",
        "write_airflow_environment",
    ])  # fmt: skip
    subprocess.run(
        ["bash", "-c", script], check=True, env={
            "PATH": "/usr/bin:/bin", "AIRFLOW_ENV_FILE": str(env_file), "TURBINE_ROLE": "scheduler",
            "TURBINE_MAX_WORKERS": str(max_workers), "TURBINE_WORKER_SLOTS": str(slots),
        },
    )  # fmt: skip
    pairs = (line.split("=", 1) for line in env_file.read_text().splitlines())
    return {name: value.strip("'") for name, value in pairs}


@pytest.mark.parametrize(("max_workers", "slots", "expected"), [(10, 16, 160), (5, 4, 20), (0, 16, 1)])
def test_the_scheduler_lets_the_whole_group_run_at_max_size(
    max_workers: int, slots: int, expected: int, tmp_path: Path
) -> None:
    """Issue 24: parallelism was never set, and Airflow's 32 capped the cluster whatever maxSize said
    (with 16 slots a worker, the load never called for a third worker); one DAG's 16 and the default
    pool's 128 slots capped it too."""
    environment = scheduler_environment(max_workers, slots, tmp_path)
    settings = ("CORE__PARALLELISM", "CORE__MAX_ACTIVE_TASKS_PER_DAG", "CORE__DEFAULT_POOL_TASK_SLOT_COUNT")
    for setting in settings:
        assert environment[f"AIRFLOW__{setting}"] == str(expected), setting


def test_the_scheduler_is_told_the_group_size_and_slots_the_workers_use() -> None:
    scheduler = CLUSTER["Resources"]["SchedulerStack"]["Properties"]["Parameters"]
    workers = CLUSTER["Resources"]["WorkerSetStack"]["Properties"]["Parameters"]
    assert scheduler["MaxWorkers"] == workers["MaxGroupSize"] == {"Ref": "MaxGroupSize"}
    slots = {"Fn::FindInMap": ["WorkerSlots", "Celery", "Concurrency"]}
    assert scheduler["WorkerSlots"] == workers["WorkerSlots"] == slots
    user_data = repr(TEMPLATES["turbine-scheduler.yaml"]["Resources"]["SchedulerLaunchTemplate"])
    assert "TURBINE_MAX_WORKERS=${MaxWorkers}" in user_data
    assert "TURBINE_WORKER_SLOTS=${WorkerSlots}" in user_data
    # The pool exists once the database is migrated, created by whichever role migrated first.
    setup = shell_function("setup_scheduler")
    assert setup.index("migrate_database") < setup.index('pools set default_pool "$(task_slots)"')
    assert setup.index("pools set default_pool") < setup.index("systemctl enable")


def test_a_worker_holds_no_more_messages_than_its_slots() -> None:
    """The load counts at most a worker's slots of in-flight messages for each busy worker."""
    environment = shell_function("write_airflow_environment")
    guarded = environment.split("if [[ -n ${TURBINE_WORKER_CONCURRENCY:-} ]]")[1].split("\n    fi\n")[0]
    assert "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER='1'" in guarded
    assert "AIRFLOW__CELERY__TASK_ACKS_LATE='True'" in guarded
