"""What the rehearsal's embedded AWS evaluates for each request (turbine_dev.strict.iam_requests), and whose
role it evaluates (turbine_dev.rehearsal.host.role_credentials, services.iam_enforcement). The requests are
those botocore sends, signed, captured before they leave; no AWS runs."""

from __future__ import annotations

import contextlib
import io
import json
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from turbine_dev.rehearsal.host import role_credentials
from turbine_dev.rehearsal.services.iam_enforcement import CALLS, IamEnforcement, http_request, summary
from turbine_dev.strict.iam_evaluation import Request
from turbine_dev.strict.iam_requests import HttpRequest, Unmapped, iam_requests, signature

ACCOUNT, REGION = "123456789012", "us-east-1"
ENDPOINT = "http://10.213.0.1:4566"
QUEUE_URL = f"{ENDPOINT}/{ACCOUNT}/turbine-tasks"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:turbine-tasks"
GROUP_ARN = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:0a1b:autoScalingGroupName/workers"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:db-AbCdEf"
STACK_ARN = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/workerset/0a1b-2c3d"
BOOT_PROFILE = f"arn:aws:iam::{ACCOUNT}:instance-profile/scheduler-boot"
RUN_PROFILE = f"arn:aws:iam::{ACCOUNT}:instance-profile/scheduler"
RUN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"


class FakeResolver:
    def __init__(self, policies: dict[str, list[dict[str, Any]]] | None = None) -> None:
        self.held = policies or {}

    def secret_arn(self, region: str, secret_id: str) -> str | None:
        return SECRET_ARN if secret_id in ("db", SECRET_ARN) else None

    def group_arn(self, region: str, group_name: str) -> str | None:
        return GROUP_ARN if group_name == "workers" else None

    def group_of_instance(self, region: str, instance_id: str) -> str | None:
        return "workers" if instance_id == "i-0worker" else None

    def stack_arn(self, region: str, stack: str) -> str | None:
        return STACK_ARN if stack == "workerset" else None

    def profile_association(self, region: str, association_id: str) -> tuple[str, str] | None:
        return ("i-0scheduler", BOOT_PROFILE) if association_id == "iip-assoc-1" else None

    def profile_role(self, profile: str) -> tuple[str, str] | None:
        return (RUN_PROFILE, RUN_ROLE) if profile in (RUN_PROFILE, "run") else None

    def policies(self, role_name: str) -> list[dict[str, Any]]:
        return self.held.get(role_name, [])


def sent(service: str, call: Callable[[Any], object], key: str = "ASIAEXAMPLE") -> HttpRequest:
    """The request botocore sends for `call`, signed with `key`."""
    captured: list[AWSPreparedRequest] = []

    def capture(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        captured.append(request)
        return AWSResponse(request.url, 200, {}, io.BytesIO(b""))  # type: ignore[arg-type]

    client = boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key="secret",
        aws_session_token="token",
    )
    client.meta.events.register("before-send", capture)
    with contextlib.suppress(Exception):  # the empty answer may not parse; the request is what counts
        call(client)
    request = captured[0]
    path, _, query = request.url.removeprefix(ENDPOINT).partition("?")
    raw: Any = request.body
    body: bytes = (
        raw
        if isinstance(raw, bytes)
        else raw.encode()
        if isinstance(raw, str)
        else raw.read()
        if raw
        else b""
    )
    held: Any = request.headers
    headers = {
        str(name).lower(): value.decode() if isinstance(value, bytes) else str(value)
        for name, value in held.items()
    }
    return HttpRequest(request.method, urllib.parse.unquote(path), query, headers, body)


def mapped(service: str, call: Callable[[Any], object]) -> list[Request]:
    return iam_requests(sent(service, call), ACCOUNT, FakeResolver())


CASES: list[tuple[str, Callable[[Any], object], list[Request]]] = [
    ("sqs", lambda c: c.receive_message(QueueUrl=QUEUE_URL), [Request("sqs:ReceiveMessage", QUEUE)]),
    (
        "sqs",
        lambda c: c.delete_message(QueueUrl=QUEUE_URL, ReceiptHandle="r"),
        [Request("sqs:DeleteMessage", QUEUE)],
    ),
    ("sqs", lambda c: c.get_queue_url(QueueName="turbine-tasks"), [Request("sqs:GetQueueUrl", QUEUE)]),
    ("sqs", lambda c: c.list_queues(QueueNamePrefix="turbine"), [Request("sqs:ListQueues", "*")]),
    (
        "dynamodb",
        lambda c: c.get_item(TableName="results", Key={"id": {"S": "x"}}),
        [Request("dynamodb:GetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/results")],
    ),
    (
        "dynamodb",
        lambda c: c.batch_get_item(
            RequestItems={"b": {"Keys": [{"id": {"S": "x"}}]}, "a": {"Keys": [{"id": {"S": "y"}}]}}
        ),
        [
            Request("dynamodb:BatchGetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/a"),
            Request("dynamodb:BatchGetItem", f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/b"),
        ],
    ),
    (
        "secretsmanager",
        lambda c: c.get_secret_value(SecretId="db"),
        [Request("secretsmanager:GetSecretValue", SECRET_ARN)],
    ),
    (
        "ssm",
        lambda c: c.put_parameter(Name="/turbine/report", Value="{}", Type="String", Overwrite=True),
        [Request("ssm:PutParameter", f"arn:aws:ssm:{REGION}:{ACCOUNT}:parameter/turbine/report")],
    ),
    (
        "autoscaling",
        lambda c: c.set_instance_health(InstanceId="i-0worker", HealthStatus="Unhealthy"),
        [Request("autoscaling:SetInstanceHealth", GROUP_ARN)],
    ),
    (
        "autoscaling",
        lambda c: c.complete_lifecycle_action(
            AutoScalingGroupName="workers",
            LifecycleHookName="drain",
            LifecycleActionResult="CONTINUE",
            InstanceId="i-0worker",
        ),
        [Request("autoscaling:CompleteLifecycleAction", GROUP_ARN)],
    ),
    (
        "autoscaling",
        lambda c: c.describe_auto_scaling_instances(InstanceIds=["i-0worker"]),
        [Request("autoscaling:DescribeAutoScalingInstances", "*")],
    ),
    (
        "cloudformation",
        lambda c: c.signal_resource(
            StackName="workerset", LogicalResourceId="WorkerGroup", UniqueId="i-0", Status="SUCCESS"
        ),
        [Request("cloudformation:SignalResource", STACK_ARN)],
    ),
    (
        "cloudwatch",
        lambda c: c.put_metric_data(
            Namespace="Turbine/ClusterLoad", MetricData=[{"MetricName": "m", "Value": 1.0}]
        ),
        [Request("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "Turbine/ClusterLoad"})],
    ),
    (
        "elbv2",
        lambda c: c.describe_target_health(TargetGroupArn="arn:aws:elasticloadbalancing:x"),
        [Request("elasticloadbalancing:DescribeTargetHealth", "*")],
    ),
    (
        "s3",
        lambda c: c.list_objects_v2(Bucket="bundle", Prefix="turbine/scripts/"),
        [Request("s3:ListBucket", "arn:aws:s3:::bundle", {"s3:prefix": "turbine/scripts/"})],
    ),
    ("s3", lambda c: c.head_bucket(Bucket="bundle"), [Request("s3:ListBucket", "arn:aws:s3:::bundle")]),
    (
        "s3",
        lambda c: c.get_object(Bucket="logs", Key="logs/a b.log"),
        [Request("s3:GetObject", "arn:aws:s3:::logs/logs/a b.log")],
    ),
    ("s3", lambda c: c.head_object(Bucket="logs", Key="k"), [Request("s3:GetObject", "arn:aws:s3:::logs/k")]),
    (
        "s3",
        lambda c: c.get_object(Bucket="revisions", Key="r.zip", VersionId="v1"),
        [Request("s3:GetObjectVersion", "arn:aws:s3:::revisions/r.zip")],
    ),
    (
        "s3",
        lambda c: c.put_object(Bucket="logs", Key="k", Body=b"x"),
        [Request("s3:PutObject", "arn:aws:s3:::logs/k")],
    ),
    (
        "s3",
        lambda c: c.create_multipart_upload(Bucket="logs", Key="k"),
        [Request("s3:PutObject", "arn:aws:s3:::logs/k")],
    ),
    ("sts", lambda c: c.get_caller_identity(), []),
    (
        "ec2",
        lambda c: c.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": ["i-0scheduler"]}]
        ),
        [Request("ec2:DescribeIamInstanceProfileAssociations", "*")],
    ),
    # On the instance, with the profile asked for and the one it replaces; and the new profile's role is
    # passed to EC2 (iam:PassRole).
    (
        "ec2",
        lambda c: c.replace_iam_instance_profile_association(
            AssociationId="iip-assoc-1", IamInstanceProfile={"Arn": RUN_PROFILE}
        ),
        [
            Request(
                "ec2:ReplaceIamInstanceProfileAssociation",
                f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-0scheduler",
                {"ec2:InstanceProfile": BOOT_PROFILE, "ec2:NewInstanceProfile": RUN_PROFILE},
            ),
            Request("iam:PassRole", RUN_ROLE, {"iam:PassedToService": "ec2.amazonaws.com"}),
        ],
    ),
]


@pytest.mark.parametrize(("service", "call", "expected"), CASES)
def test_a_request_maps_to_the_action_and_resource_iam_evaluates(
    service: str, call: Callable[[Any], object], expected: list[Request]
) -> None:
    assert mapped(service, call) == expected


UNMAPPED: list[tuple[str, Callable[[Any], object]]] = [
    ("ec2", lambda c: c.describe_instances()),  # an EC2 operation the mapping does not know
    ("s3", lambda c: c.get_object_acl(Bucket="logs", Key="k")),  # a sub-resource it does not know
    ("s3", lambda c: c.copy_object(Bucket="logs", Key="k", CopySource="other/k")),
    ("s3", lambda c: c.list_buckets()),
    ("cloudformation", lambda c: c.delete_stack(StackName="workerset")),
    ("cloudwatch", lambda c: c.delete_alarms(AlarmNames=["a"])),
    ("secretsmanager", lambda c: c.get_secret_value(SecretId="no-such-secret")),
    ("autoscaling", lambda c: c.set_instance_health(InstanceId="i-0stranger", HealthStatus="Unhealthy")),
]


@pytest.mark.parametrize(("service", "call"), UNMAPPED)
def test_a_request_the_mapping_does_not_know_is_unmapped_never_allowed(
    service: str, call: Callable[[Any], object]
) -> None:
    with pytest.raises(Unmapped):
        mapped(service, call)


def test_the_signature_names_the_key_region_and_signing_service() -> None:
    signed = signature(sent("cloudwatch", lambda c: c.list_metrics(), key="ASIAKEY"))
    assert signed is not None
    assert (signed.access_key_id, signed.region, signed.service) == ("ASIAKEY", REGION, "monitoring")
    assert signature(HttpRequest("GET", "/", "", {}, b"")) is None


WORKER_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "ConsumeTasks", "Effect": "Allow", "Action": ["sqs:ReceiveMessage"], "Resource": QUEUE}
    ],
}


def served(enforcement: IamEnforcement, request: HttpRequest) -> tuple[str, bytes]:
    """What the enforcement answers: the app's "200 OK" or its refusal."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method, "PATH_INFO": request.path, "QUERY_STRING": request.query,
        "CONTENT_LENGTH": str(len(request.body)), "wsgi.input": io.BytesIO(request.body),
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in request.headers.items()},
    }  # fmt: skip
    if "content-type" in request.headers:
        environ["CONTENT_TYPE"] = request.headers["content-type"]
    assert http_request(environ, request.body).headers["x-amz-date"] == request.headers["x-amz-date"]
    answer: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [])
        return [b"served"]

    body = b"".join(IamEnforcement(app, enforcement.workdir, ["testing"], enforcement.resolver)(
        environ, lambda status, headers: answer.append(status)
    ))  # fmt: skip
    return answer[0], body


def test_credentials_map_to_their_role_and_its_policies_decide(tmp_path: Path) -> None:
    worker = role_credentials.Session("stack-WorkerRole-ABC", "worker", "i-0worker")
    credentials = role_credentials.issue(tmp_path, worker)
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert role_credentials.registered(tmp_path) == {credentials["AccessKeyId"]: worker}
    other = role_credentials.issue(
        tmp_path, role_credentials.Session("stack-WorkerRole-ABC", "worker", "i-0other")
    )
    assert other["AccessKeyId"] != credentials["AccessKeyId"]  # one key per session
    resolver = FakeResolver({"stack-WorkerRole-ABC": [WORKER_POLICY]})
    enforcement = IamEnforcement(lambda *_: [], tmp_path, ["testing"], resolver)  # type: ignore[arg-type]
    key = credentials["AccessKeyId"]

    assert served(enforcement, sent("sqs", lambda c: c.receive_message(QueueUrl=QUEUE_URL), key)) == (
        "200 OK",
        b"served",
    )
    status, body = served(enforcement, sent("sqs", lambda c: c.purge_queue(QueueUrl=QUEUE_URL), key))
    assert status == "400 Bad Request"
    assert json.loads(body) == {
        "__type": "AccessDenied",
        "message": "User: arn:aws:sts::123456789012:assumed-role/stack-WorkerRole-ABC/i-0worker is not "
        f"authorized to perform: sqs:PurgeQueue on resource: {QUEUE} because no identity-based policy allows "
        "the sqs:PurgeQueue action",
    }
    status, body = served(enforcement, sent("s3", lambda c: c.get_object(Bucket="logs", Key="k"), key))
    assert status == "403 Forbidden"
    assert b"<Code>AccessDenied</Code>" in body
    assert b"not authorized to perform: s3:GetObject on resource: arn:aws:s3:::logs/k" in body
    # An action the mapping cannot evaluate is refused (the harsher reading), as is a key no session holds.
    assert served(enforcement, sent("ec2", lambda c: c.describe_instances(), key))[0] == "403 Forbidden"
    stranger = sent("sqs", lambda c: c.receive_message(QueueUrl=QUEUE_URL), "ASIASTRANGER")
    assert served(enforcement, stranger)[0] == "400 Bad Request"
    # The harness's own key is not evaluated.
    assert (
        served(enforcement, sent("sqs", lambda c: c.purge_queue(QueueUrl=QUEUE_URL), "testing"))[0]
        == "200 OK"
    )

    recorded = [json.loads(line) for line in (tmp_path / CALLS).read_text().splitlines()]
    assert [(r["label"], r["action"], r["allowed"]) for r in recorded] == [
        ("worker", "sqs:ReceiveMessage", True),
        ("worker", "sqs:PurgeQueue", False),
        ("worker", "s3:GetObject", False),
        ("worker", "ec2:DescribeInstances", False),
        ("unknown", "sqs:ReceiveMessage", False),
    ]
    report = summary(
        tmp_path,
        lambda role: [
            WORKER_POLICY,
            {"Statement": [{"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": QUEUE}]},
        ],
    )
    assert report["worker"]["calls"] == 4
    assert report["worker"]["allowed"] == [{"action": "sqs:ReceiveMessage", "resource": QUEUE, "count": 1}]
    assert [d["action"] for d in report["worker"]["denied"]] == [
        "sqs:PurgeQueue",
        "s3:GetObject",
        "ec2:DescribeInstances",
    ]
    assert report["worker"]["unused"] == ["sqs:SendMessage"]
    assert report["unknown"]["denied"][0]["note"] == "no session holds this key"
