"""What SQS, Lambda, EventBridge, CloudWatch and CloudWatch Logs refuse of the worker set's queue,
cluster-load function, schedule, alarms and log group."""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator

from turbine_dev.aws_rules.refusals import Refusal, out_of_range, validation_error
from turbine_dev.aws_rules.rendered import RenderedStack, known, known_items, resources

QUEUE = "https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-sqs-queue.html"
VISIBILITY = (
    "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html"
)
LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
LAMBDA_RUNTIMES = "https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html"
SCHEDULE = "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html"
ALARMS = "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html"
NAMESPACES = (
    "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_concepts.html#Namespace"
)
LOG_RETENTION = (
    "https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html"
)

QUEUE_RANGES = {
    "VisibilityTimeout": (0, 43_200),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1_024, 1_048_576),
}
# Lambda-managed Python runtimes and the day each is deprecated ("Lambda runtimes": Supported runtimes, as
# endoflife.date/aws-lambda tabulates it). Past that day a runtime gets no patches and, after the block dates
# that follow, functions can no longer be created or updated with it; a runtime not listed here is refused,
# the harsher reading for ones whose dates were not looked up.
PYTHON_RUNTIMES = {
    "python3.13": datetime.date(2029, 6, 30),
    "python3.14": datetime.date(2029, 6, 30),
}
ENVIRONMENT_BYTES = 4 * 1024
ZIP_BYTES = 50 * 1024 * 1024
RATE = re.compile(r"rate\((?P<value>\d+) (?P<unit>minute|minutes|hour|hours|day|days)\)")
RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)


def check_queues(stack: RenderedStack) -> Iterator[Refusal]:
    """SQS queue attributes: VisibilityTimeout 0-43,200 s (12 hours), MessageRetentionPeriod 60-1,209,600 s,
    ReceiveMessageWaitTimeSeconds 0-20, DelaySeconds 0-900, MaximumMessageSize 1,024-1,048,576
    (AWS::SQS::Queue; "Amazon SQS visibility timeout")."""
    for path, scope in stack.scopes():
        for logical_id, queue in resources(scope, "AWS::SQS::Queue"):
            properties = known_items(scope, queue.get("Properties"))
            for name, (low, high) in QUEUE_RANGES.items():
                if name in properties and not low <= int(properties[name]) <= high:
                    yield Refusal(
                        "check_queues",
                        f"{path} {logical_id} {name}",
                        f"InvalidAttributeValue: Invalid value for the parameter {name}.",
                        VISIBILITY if name == "VisibilityTimeout" else QUEUE,
                    )
            queue_name = properties.get("QueueName")
            if queue_name is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,80}", str(queue_name)):
                yield Refusal(
                    "check_queues",
                    f"{path} {logical_id} QueueName",
                    "InvalidParameterValue: Can only include alphanumeric characters, hyphens, or "
                    "underscores. "
                    "1 to 80 in length",
                    QUEUE,
                )


def check_functions(stack: RenderedStack, today: datetime.date | None = None) -> Iterator[Refusal]:
    """Lambda: Timeout 1-900 s, MemorySize 128-10,240 MB, environment variables 4 KB in all, a .zip of 50 MB
    ("Lambda quotas"), and a runtime Lambda still supports ("Lambda runtimes")."""
    today = today or datetime.datetime.now(datetime.UTC).date()
    for path, scope in stack.scopes():
        for logical_id, function in resources(scope, "AWS::Lambda::Function"):
            properties = function["Properties"]
            where = f"{path} {logical_id}"
            for name, member, low, high in (
                ("Timeout", "timeout", 1, 900),
                ("MemorySize", "memorySize", 128, 10_240),
            ):
                value = known(scope, properties.get(name))
                message = None if value is None else out_of_range(int(value), member, low, high)
                if message:
                    yield Refusal("check_functions", where, message, LAMBDA_QUOTAS)
            runtime = str(known(scope, properties.get("Runtime")))
            deprecated = PYTHON_RUNTIMES.get(runtime)
            if deprecated is None or deprecated <= today:
                yield Refusal(
                    "check_functions",
                    f"{where} Runtime",
                    f"InvalidParameterValueException: The runtime parameter of {runtime} is no longer "
                    "supported for "
                    "creating or updating AWS Lambda functions.",
                    LAMBDA_RUNTIMES,
                )
            variables = scope.bounded("x" * 256).resolve(
                properties.get("Environment", {}).get("Variables", {})
            )
            size = sum(len(str(key).encode()) + len(str(value).encode()) for key, value in variables.items())
            if size > ENVIRONMENT_BYTES:
                yield Refusal(
                    "check_functions",
                    f"{where} Environment",
                    "InvalidParameterValueException: Lambda was unable to configure your environment "
                    "variables "
                    "because the environment variables you have provided exceeded the 4KB limit. "
                    f"({size} bytes)",
                    LAMBDA_QUOTAS,
                )
            key = known(scope, properties.get("Code", {}).get("S3Key"))
            if key is not None:
                archive = stack.files.get(str(key).removeprefix(stack.key_prefix), b"")
                if len(archive) > ZIP_BYTES:
                    yield Refusal(
                        "check_functions",
                        f"{where} Code",
                        "RequestEntityTooLargeException: deployment package of more than 50 MB (zipped)",
                        LAMBDA_QUOTAS,
                    )


def check_schedules(stack: RenderedStack) -> Iterator[Refusal]:
    """A rate expression is rate(value unit): the unit singular for 1 (minute) and plural above ("Creating a
    rule that runs on a schedule in Amazon EventBridge")."""
    for path, scope in stack.scopes():
        for logical_id, rule in resources(scope, "AWS::Events::Rule"):
            expression = known(scope, rule["Properties"].get("ScheduleExpression"))
            if expression is None or str(expression).startswith("cron("):
                continue
            match = RATE.fullmatch(str(expression))
            singular = match is not None and (int(match["value"]) == 1) == (not match["unit"].endswith("s"))
            if match is None or int(match["value"]) < 1 or not singular:
                yield Refusal(
                    "check_schedules",
                    f"{path} {logical_id} ScheduleExpression",
                    "ValidationException: Parameter ScheduleExpression is not valid.",
                    SCHEDULE,
                )


def check_alarms(stack: RenderedStack) -> Iterator[Refusal]:
    """Alarm periods are 10, 30 or a multiple of 60 s; evaluation periods times the period at most one day;
    DatapointsToAlarm at most EvaluationPeriods ("Using Amazon CloudWatch alarms")."""
    for path, scope in stack.scopes():
        for logical_id, alarm in resources(scope, "AWS::CloudWatch::Alarm"):
            properties = known_items(scope, alarm["Properties"])
            where = f"{path} {logical_id}"
            period = int(properties.get("Period", 60))
            periods = int(properties.get("EvaluationPeriods", 1))
            if period not in (10, 30) and period % 60:
                yield Refusal(
                    "check_alarms",
                    where,
                    validation_error(
                        period, "period", "Only periods of 10, 30 and multiples of 60 are supported"
                    ),
                    ALARMS,
                )
            if period * periods > 86_400:
                yield Refusal(
                    "check_alarms",
                    where,
                    "ValidationError: The evaluation period multiplied by the period can't exceed one day",
                    ALARMS,
                )
            if int(properties.get("DatapointsToAlarm", periods)) > periods:
                yield Refusal(
                    "check_alarms",
                    where,
                    "ValidationError: DatapointsToAlarm must be less than or equal to EvaluationPeriods",
                    ALARMS,
                )


def check_metric_namespaces(stack: RenderedStack) -> Iterator[Refusal]:
    """A custom metric's namespace may not begin with AWS/, reserved for AWS ("Amazon CloudWatch concepts":
    Namespaces). The cluster-load function publishes under the namespace its environment names."""
    for path, scope in stack.scopes():
        for logical_id, function in resources(scope, "AWS::Lambda::Function"):
            variables = known_items(scope, function["Properties"].get("Environment", {}).get("Variables"))
            namespace = variables.get("METRIC_NAMESPACE")
            if namespace is not None and str(namespace).startswith("AWS/"):
                yield Refusal(
                    "check_metric_namespaces",
                    f"{path} {logical_id} METRIC_NAMESPACE",
                    "InvalidParameterValue: The value AWS/ for parameter Namespace is invalid.",
                    NAMESPACES,
                )


def check_log_groups(stack: RenderedStack) -> Iterator[Refusal]:
    """RetentionInDays is one of 1, 3, 5, 7, 14, 30, 60, 90, ... 3653 (PutRetentionPolicy)."""
    for path, scope in stack.scopes():
        for logical_id, group in resources(scope, "AWS::Logs::LogGroup"):
            days = known(scope, group.get("Properties", {}).get("RetentionInDays"))
            if days is not None and int(days) not in RETENTION_DAYS:
                yield Refusal(
                    "check_log_groups",
                    f"{path} {logical_id} RetentionInDays",
                    validation_error(
                        days,
                        "retentionInDays",
                        f"Member must satisfy enum value set: {json.dumps(sorted(RETENTION_DAYS))}",
                    ),
                    LOG_RETENTION,
                )


CHECKS = (
    check_queues,
    check_functions,
    check_schedules,
    check_alarms,
    check_metric_namespaces,
    check_log_groups,
)
