"""turbine_dev.strict.iam_evaluation decides as AWS policy evaluation logic does, in AWS words."""

from __future__ import annotations

from typing import Any

import pytest

from turbine_dev.strict.iam_evaluation import Decision, Request, UnreadablePolicy, access_denied, evaluate

QUEUE = "arn:aws:sqs:us-east-1:123456789012:turbine-tasks"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def test_nothing_is_allowed_without_an_allow() -> None:
    assert evaluate([], Request("sqs:SendMessage", QUEUE)) == Decision(allowed=False)
    assert not evaluate(
        [policy(allow("sqs:ReceiveMessage", QUEUE))], Request("sqs:SendMessage", QUEUE)
    ).allowed


def test_an_explicit_deny_wins_over_any_allow() -> None:
    deny = {"Sid": "NoSend", "Effect": "Deny", "Action": "sqs:Send*", "Resource": "*"}
    decision = evaluate([policy(allow("sqs:*", QUEUE)), policy(deny)], Request("sqs:SendMessage", QUEUE))
    assert decision == Decision(allowed=False, explicit_deny=True, statement="NoSend")


def test_actions_match_wildcards_in_any_case_resources_only_in_their_own() -> None:
    assert evaluate([policy(allow("SQS:receive*", QUEUE))], Request("sqs:ReceiveMessage", QUEUE)).allowed
    assert evaluate(
        [policy(allow("sqs:?eceiveMessage", QUEUE))], Request("sqs:ReceiveMessage", QUEUE)
    ).allowed
    assert not evaluate([policy(allow("sqs:*", QUEUE.upper()))], Request("sqs:ReceiveMessage", QUEUE)).allowed
    assert evaluate(
        [policy(allow("s3:GetObject", "arn:aws:s3:::bucket/scripts/*"))],
        Request("s3:GetObject", "arn:aws:s3:::bucket/scripts/a/b.sh"),
    ).allowed


def test_not_action_and_not_resource_allow_everything_else() -> None:
    everything_but_iam = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert evaluate([policy(everything_but_iam)], Request("sqs:SendMessage", QUEUE)).allowed
    assert not evaluate([policy(everything_but_iam)], Request("iam:PassRole", "*")).allowed
    not_queue = {"Effect": "Allow", "Action": "sqs:*", "NotResource": QUEUE}
    assert not evaluate([policy(not_queue)], Request("sqs:SendMessage", QUEUE)).allowed


def test_arn_like_keeps_a_wildcard_within_its_arn_part() -> None:
    group = "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:*:autoScalingGroupName/workers"
    statement = allow("autoscaling:CompleteLifecycleAction", group)
    ours = group.replace("*", "0a1b-uuid")
    assert evaluate([policy(statement)], Request("autoscaling:CompleteLifecycleAction", ours)).allowed
    spanning = allow("sqs:SendMessage", "arn:aws:sqs:*")  # `*` in the region part spans no colon
    assert not evaluate([policy(spanning)], Request("sqs:SendMessage", QUEUE)).allowed


def test_conditions_need_every_key_and_any_value() -> None:
    statement = allow(
        "ec2:RunInstances",
        Condition={
            "ArnLike": {
                "ec2:LaunchTemplate": [
                    "arn:aws:ec2:*:*:launch-template/lt-1",
                    "arn:aws:ec2:*:*:launch-template/lt-2",
                ]
            },
            "StringEquals": {"aws:RequestedRegion": "us-east-1"},
        },
    )
    template = "arn:aws:ec2:us-east-1:1:launch-template/lt-2"
    both = {"ec2:LaunchTemplate": template, "aws:requestedregion": "us-east-1"}  # key names in any case
    assert evaluate([policy(statement)], Request("ec2:RunInstances", "*", both)).allowed
    elsewhere = {"ec2:LaunchTemplate": template, "aws:RequestedRegion": "eu-west-1"}
    assert not evaluate([policy(statement)], Request("ec2:RunInstances", "*", elsewhere)).allowed
    one_missing = {"ec2:LaunchTemplate": both["ec2:LaunchTemplate"]}
    assert not evaluate([policy(statement)], Request("ec2:RunInstances", "*", one_missing)).allowed


def test_a_missing_key_fails_a_condition_except_negated_if_exists_and_null() -> None:
    def allowed(condition: dict[str, Any], context: dict[str, str]) -> bool:
        return evaluate(
            [policy(allow("s3:ListBucket", Condition=condition))], Request("s3:ListBucket", "*", context)
        ).allowed

    assert not allowed({"StringLike": {"s3:prefix": "scripts/*"}}, {})
    assert allowed({"StringLike": {"s3:prefix": "scripts/*"}}, {"s3:prefix": "scripts/x"})
    assert allowed({"StringNotLike": {"s3:prefix": "secrets/*"}}, {})
    assert allowed({"StringLikeIfExists": {"s3:prefix": "scripts/*"}}, {})
    assert not allowed({"StringLikeIfExists": {"s3:prefix": "scripts/*"}}, {"s3:prefix": "other/"})
    assert allowed({"Null": {"s3:prefix": "true"}}, {})
    assert not allowed({"Null": {"s3:prefix": "false"}}, {})


def test_what_it_cannot_read_never_allows() -> None:
    with pytest.raises(UnreadablePolicy):
        evaluate(
            [policy(allow("s3:*", Condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))],
            Request("s3:GetObject", "*", {"aws:SourceIp": "10.0.0.1"}),
        )
    with pytest.raises(UnreadablePolicy):
        evaluate(
            [policy(allow("s3:*", "arn:aws:s3:::${aws:username}/*"))],
            Request("s3:GetObject", "arn:aws:s3:::me/x"),
        )


def test_refusals_are_worded_as_aws_words_them() -> None:
    principal = "arn:aws:sts::123456789012:assumed-role/turbine-worker/i-0123456789abcdef0"
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
    request = Request("secretsmanager:GetSecretValue", secret)
    assert access_denied(principal, request, Decision(allowed=False)) == (
        "AccessDeniedException",
        f"User: {principal} is not authorized to perform: secretsmanager:GetSecretValue on resource: {secret}"
        " because no identity-based policy allows the secretsmanager:GetSecretValue action",
    )
    code, message = access_denied(
        principal, Request("sqs:SendMessage", QUEUE), Decision(False, explicit_deny=True)
    )
    assert code == "AccessDenied"
    assert message.endswith("with an explicit deny in an identity-based policy")
    code, message = access_denied(
        principal, Request("autoscaling:DescribeAutoScalingGroups", "*"), Decision(False)
    )
    assert (code, " on resource" in message) == ("AccessDenied", False)
