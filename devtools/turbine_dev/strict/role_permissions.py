"""The permissions of the stack's roles that no call uses, each with why it is kept; shared by the static
evaluation (tests/cfn/test_role_permissions.py) and the rehearsal's live one (tests/rehearsal).

UNUSED: held, and made by no call of the scripts, the software they run or the Lambda. NOT_REHEARSED: made by
a real call (test_role_permissions.py lists it) on a path the boot rehearsal does not take. TIMING: made on
a rehearsed path that a given run may or may not take. A role's permissions that the rehearsal's calls leave
unused must be all those of UNUSED and NOT_REHEARSED, and perhaps some of TIMING.
"""

from __future__ import annotations

import ast
import json
import urllib.parse
from collections.abc import Iterable, Mapping
from typing import Any

from turbine_dev.strict.iam_evaluation import glob_match, granted_actions

# Permissions no call makes, and why each is kept. Keys: (role, action).
UNUSED = {
    ("worker", "sqs:SendMessage"): (
        "kombu 5.7.0 (the lock's) re-sends what a worker received but had not acknowledged when its channel "
        "closes (virtual/base.py QoS.restore_unacked_once -> Channel._restore -> SQS Channel._put -> "
        "send_message), and a reject with requeue the same way (QoS.reject); without it such a task would "
        "wait out the 12-hour visibility timeout. No rehearsed path stops a worker holding one."
    ),
    ("scheduler", "dynamodb:DeleteItem"): "Celery's result backend forgets a result (AsyncResult.forget)",
    ("scheduler", "dynamodb:BatchGetItem"): "Celery's DynamoDB backend reads several results at once (mget)",
    ("codedeploy", "ec2:RunInstances"): (
        "CodeDeploy documents it for groups built from launch templates (how-to-create-service-role); "
        "an in-place deployment launches nothing itself"
    ),
    ("codedeploy", "ec2:CreateTags"): "as ec2:RunInstances: the tags of the instances CodeDeploy launches",
    ("codedeploy", "iam:PassRole"): "as ec2:RunInstances: the instance profile of those instances",
}

# Held, and used by no call of the boot rehearsal. Keys: (role, action). From the rehearsal of 2026-12-08,
# which ran the boots and the first scenarios only (the Celery task then waited on the refused
# UpdateTimeToLive); the scenarios after it (drain, scale-out, rolling update) may use or leave more: the
# first complete run settles it.
_REVISION_VERSION = (
    "the CodeDeploy agent fetches a revision by its version when the deployment names one; the rehearsal's "
    "stand-in for the agent downloads it with `aws s3 cp`, unversioned (rehearsal/host/standin.py)"
)
_KOMBU_QUEUE_URL = (
    "kombu 5.7.0 (the lock's) finds the broker queue by ListQueues and caches its URL "
    "(kombu/transport/SQS Channel._update_queue_cache); it never calls GetQueueUrl, as the rehearsal's "
    "scheduler and worker showed: a candidate for removal from the template, once that change is rehearsed"
)
_FAILED_BOOT = (
    "the user data signals FAILURE with the boot role when the bootstrap failed before it took the run "
    "profile; every boot succeeds here"
)
NOT_REHEARSED: dict[tuple[str, str], str] = {
    ("scheduler", "s3:GetObjectVersion"): _REVISION_VERSION,
    ("webserver", "s3:GetObjectVersion"): _REVISION_VERSION,
    ("worker", "s3:GetObjectVersion"): _REVISION_VERSION,
    (
        "worker",
        "autoscaling:SetInstanceHealth",
    ): "a worker whose boot failed reports itself; every boot succeeds here",
    ("cluster-load", "logs:CreateLogStream"): (
        "Lambda's runtime writes the function's logs; the rehearsal runs the handler in its own process"
    ),
    ("cluster-load", "logs:PutLogEvents"): "as logs:CreateLogStream",
    ("scheduler", "s3:ListBucket"): (
        "the CodeDeploy agent lists the revision's bucket; the rehearsal's stand-in for the agent downloads "
        "the revision with `aws s3 cp` (rehearsal/host/standin.py). Until the scheduler took a run role of "
        "its own, the boot's `aws s3 sync` of the scripts used the action"
    ),
    ("webserver", "secretsmanager:GetSecretValue"): (
        "the API server reads the DAG repository's connection (turbine_dags) when it builds a DAG version's "
        "bundle URL or an import error's path (DagVersion.bundle_url, ParseImportError.full_file_path: "
        "DagBundlesManager builds the git bundle); the rehearsal's API calls ask for neither"
    ),
    ("scheduler-boot", "cloudformation:SignalResource"): _FAILED_BOOT,
    ("webserver-boot", "cloudformation:SignalResource"): _FAILED_BOOT,
    ("scheduler", "sqs:GetQueueUrl"): _KOMBU_QUEUE_URL,
    ("worker", "sqs:GetQueueUrl"): _KOMBU_QUEUE_URL,
}

# Made on a rehearsed path whose timing decides whether it happens in a given run: the rehearsal may use
# them or leave them unused. Keys: (role, action).
TIMING: dict[tuple[str, str], str] = {
    ("worker", "sqs:ChangeMessageVisibility"): (
        "kombu 5.7.0 (the lock's) makes the messages a worker received but had not started visible again "
        "when its consumer goes (SQS Channel, 'Consumer for queue ... is gone'), and when it re-sends a "
        "redelivered one: whether a draining worker holds one when it stops depends on the run (the "
        "complete rehearsal of 2026-12-08 made none, an earlier partial one did)"
    ),
}

# The roles whose calls the rehearsal evaluates: the instances' and the Lambda's. (CodeDeploy's service role
# is CodeDeploy's own; the rehearsal stands in for CodeDeploy with the harness.)
REHEARSED_ROLES = ("scheduler-boot", "scheduler", "webserver-boot", "webserver", "worker", "cluster-load")


def policy_document(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    """A policy document as boto3 or moto's IAM backend hold it, as AWS reads it."""
    if isinstance(raw, Mapping):  # AWS's URL-encoded JSON, which boto3 decodes
        document = dict(raw)
    else:
        # moto 5.2.5 keeps the policies of a role its CloudFormation created as a Python literal.
        text = urllib.parse.unquote(raw)
        document = dict(json.loads(text) if text.lstrip().startswith('{"') else ast.literal_eval(text))
    # ... and an !If that gives AWS::NoValue as a None statement, where CloudFormation drops it.
    found = document["Statement"]
    listed = [found] if isinstance(found, Mapping) else list(found)
    document["Statement"] = [statement for statement in listed if statement is not None]
    return document


def unused_actions(policies: Iterable[Mapping[str, Any]], used: Iterable[str]) -> list[str]:
    """The actions the policies' Allow statements name (as written) that match none of `used`."""
    made = sorted(set(used))
    return sorted(
        action
        for action in granted_actions(policies)
        if not any(glob_match(action, call, ignore_case=True) for call in made)
    )


def justified_unused(role: str, rehearsed: bool, timing: bool = False) -> dict[str, str]:
    """action -> why `role` keeps it unused; with `rehearsed`, also what the rehearsal does not take; with
    `timing`, also what it may or may not use (TIMING)."""
    tables = (
        (UNUSED, NOT_REHEARSED, TIMING) if timing else (UNUSED, NOT_REHEARSED) if rehearsed else (UNUSED,)
    )
    return {action: why for table in tables for (owner, action), why in table.items() if owner == role}
