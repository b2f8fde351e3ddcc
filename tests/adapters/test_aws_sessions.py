"""AwsSessions: one client per (service, region, role), and assumed roles through STS."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from botocore.client import BaseClient
from botocore.credentials import RefreshableCredentials

from stubbed.aws import REGION, RecordingStubber
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.core.errors import AwsAccessDenied

ROLE = "arn:aws:iam::123456789012:role/turbine-tenant"
FIRST_KEY = "ASIAQ3EGRBTFIRST0001"
SECOND_KEY = "ASIAQ3EGRBTSECOND002"


def test_clients_are_cached_per_service_region_and_role(aws_env: None) -> None:
    sessions = AwsSessions()
    cloudformation = sessions.client("cloudformation", REGION)

    assert sessions.client("cloudformation", REGION) is cloudformation
    assert sessions.client("cloudformation", "eu-west-1") is not cloudformation
    assert sessions.client("s3", REGION) is not cloudformation
    assert sessions.client("cloudformation", "eu-west-1").meta.region_name == "eu-west-1"


def test_clients_use_standard_retries_and_the_operator_user_agent(aws_env: None) -> None:
    client = AwsSessions(max_attempts=3).client("cloudformation", REGION)

    # botocore's legacy `max_attempts` counts retries, not attempts: 3 means 4 attempts in all, and
    # AwsSessions(max_attempts=1) would still retry once (0 is "no retries").
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert "turbine-operator" in client.meta.config.user_agent_extra


def test_the_observer_sees_each_new_client_once(aws_env: None) -> None:
    seen: list[Any] = []
    sessions = AwsSessions(observer=seen.append)

    first = sessions.client("cloudformation", REGION)
    sessions.client("cloudformation", REGION)
    second = sessions.client("s3", REGION)

    assert seen == [first, second]


class _Sent(Exception):
    """Raised from before-send: the request was signed and would have gone out."""

    def __init__(self, request: AWSPreparedRequest) -> None:
        super().__init__("request captured")
        self.headers = dict(request.headers)


def _signing_key(client: BaseClient) -> tuple[str, str]:
    """The access key and session token the client signs a DescribeStacks request with."""

    def capture(request: AWSPreparedRequest, **kwargs: Any) -> None:
        raise _Sent(request)

    client.meta.events.register_first("before-send.cloudformation.DescribeStacks", capture)
    try:
        with pytest.raises(_Sent) as sent:
            client.describe_stacks(StackName="airflow-demo")  # type: ignore[attr-defined]
    finally:
        client.meta.events.unregister("before-send.cloudformation.DescribeStacks", capture)
    authorization = str(sent.value.headers["Authorization"])
    access_key = authorization.split("Credential=", 1)[1].split("/", 1)[0]
    token = sent.value.headers.get("X-Amz-Security-Token", b"")
    return access_key, token.decode() if isinstance(token, bytes) else str(token)


def _assume_role_reply(key: str, expires_in: datetime.timedelta) -> dict[str, Any]:
    return {
        "Credentials": {
            "AccessKeyId": key,
            "SecretAccessKey": f"secret-for-{key}",
            "SessionToken": f"token-for-{key}",
            "Expiration": datetime.datetime.now(datetime.UTC) + expires_in,
        },
        "AssumedRoleUser": {
            "AssumedRoleId": "AROAEXAMPLEID:turbine-operator",
            "Arn": "arn:aws:sts::123456789012:assumed-role/turbine-tenant/turbine-operator",
        },
    }


ASSUME_ROLE_REQUEST = {"RoleArn": ROLE, "RoleSessionName": "turbine-operator", "DurationSeconds": 3600}


@pytest.fixture
def sts_stub(aws_env: None, monkeypatch: pytest.MonkeyPatch, calls: list[str]) -> Iterator[RecordingStubber]:
    """Hands AwsSessions a stubbed STS client: its STS client comes from boto3.Session.client."""
    sts = boto3.Session().client("sts", region_name=REGION)
    original = boto3.Session.client

    def client(self: boto3.Session, service_name: str, *args: Any, **kwargs: Any) -> Any:
        if service_name == "sts":
            return sts
        return original(self, service_name, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(boto3.Session, "client", client)
    stubber = RecordingStubber(sts, calls)
    with stubber:
        yield stubber


def test_a_role_is_assumed_once_and_its_credentials_sign_every_client(
    sts_stub: RecordingStubber, calls: list[str]
) -> None:
    sts_stub.add_response(
        "assume_role", _assume_role_reply(FIRST_KEY, datetime.timedelta(hours=1)), ASSUME_ROLE_REQUEST
    )
    sessions = AwsSessions()

    cloudformation = sessions.client("cloudformation", REGION, ROLE)
    s3 = sessions.client("s3", REGION, ROLE)

    sts_stub.verify()
    assert calls == ["AssumeRole"]
    assert s3 is not cloudformation
    assert _signing_key(cloudformation) == (FIRST_KEY, f"token-for-{FIRST_KEY}")
    # Without a role, the same AwsSessions signs with the operator's own (environment) credentials.
    assert _signing_key(sessions.client("cloudformation", REGION)) == ("testing", "")


def test_assumed_credentials_are_refreshable_and_refresh_assumes_the_role_again(
    sts_stub: RecordingStubber, calls: list[str]
) -> None:
    # The first credentials expire in 5 minutes, inside botocore's refresh window:
    # the next signature refreshes them.
    sts_stub.add_response(
        "assume_role", _assume_role_reply(FIRST_KEY, datetime.timedelta(minutes=5)), ASSUME_ROLE_REQUEST
    )
    sts_stub.add_response(
        "assume_role", _assume_role_reply(SECOND_KEY, datetime.timedelta(hours=1)), ASSUME_ROLE_REQUEST
    )
    cloudformation = AwsSessions().client("cloudformation", REGION, ROLE)
    credentials = cloudformation._request_signer._credentials
    assert isinstance(credentials, RefreshableCredentials)
    assert credentials.method == "sts-assume-role"
    assert calls == ["AssumeRole"]

    assert _signing_key(cloudformation) == (SECOND_KEY, f"token-for-{SECOND_KEY}")

    sts_stub.verify()
    assert calls == ["AssumeRole", "AssumeRole"]


def test_a_refused_assume_role_is_access_denied_and_is_tried_again_next_time(
    sts_stub: RecordingStubber, calls: list[str]
) -> None:
    sts_stub.add_client_error(
        "assume_role",
        "AccessDenied",
        "User: arn:aws:sts::123456789012:assumed-role/turbine-operator/x is not authorized to perform: "
        f"sts:AssumeRole on resource: {ROLE}",
        http_status_code=403,
        expected_params=ASSUME_ROLE_REQUEST,
    )
    sts_stub.add_response(
        "assume_role", _assume_role_reply(FIRST_KEY, datetime.timedelta(hours=1)), ASSUME_ROLE_REQUEST
    )
    sessions = AwsSessions()

    with pytest.raises(AwsAccessDenied) as caught:
        sessions.client("cloudformation", REGION, ROLE)
    assert caught.value.operation == "AssumeRole"

    assert _signing_key(sessions.client("cloudformation", REGION, ROLE))[0] == FIRST_KEY
    sts_stub.verify()
    assert calls == ["AssumeRole", "AssumeRole"]
