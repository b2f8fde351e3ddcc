"""aws_errors: botocore failures, as real AWS reports them, become the right domain errors."""

from __future__ import annotations

from typing import Any

import botocore.exceptions
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from stubbed.aws import STACK_NAME, RecordingStubber
from turbine_operator.adapters.aws import aws_errors
from turbine_operator.adapters.aws.aws_errors import aws_call, error_code, error_message, translate
from turbine_operator.core.errors import (
    AwsAccessDenied,
    AwsAlreadyExists,
    AwsEndpointUnusable,
    AwsError,
    AwsNotFound,
    AwsValidationError,
    TemplateBucketMissing,
    TransientAwsError,
)

ACCESS_DENIED_MESSAGE = (
    "User: arn:aws:sts::123456789012:assumed-role/turbine-operator/botocore-session-1 is not authorized "
    "to perform: cloudformation:DescribeStacks on resource: arn:aws:cloudformation:us-east-1:123456789012:"
    "stack/airflow-demo/* because no identity-based policy allows the cloudformation:DescribeStacks action"
)

CLOUDFORMATION_ERRORS = [
    pytest.param("Throttling", "Rate exceeded", 400, TransientAwsError, id="throttling"),
    pytest.param("ThrottlingException", "Rate exceeded", 400, TransientAwsError, id="throttling-exception"),
    pytest.param("RequestLimitExceeded", "Request limit exceeded.", 503, TransientAwsError, id="limit-503"),
    pytest.param("TooManyRequestsException", "Too Many Requests", 429, TransientAwsError, id="429"),
    pytest.param("ServiceUnavailable", "Service is unavailable", 503, TransientAwsError, id="503"),
    pytest.param("InternalFailure", "An internal error has occurred", 500, TransientAwsError, id="500"),
    pytest.param("SomethingNew", "A future error code", 502, TransientAwsError, id="unknown-5xx"),
    pytest.param("AccessDenied", ACCESS_DENIED_MESSAGE, 403, AwsAccessDenied, id="access-denied"),
    pytest.param(
        "ExpiredToken",
        "The security token included in the request is expired",
        400,
        AwsAccessDenied,
        id="expired-token",
    ),
    pytest.param(
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
        403,
        AwsAccessDenied,
        id="invalid-token",
    ),
    pytest.param(
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided.",
        403,
        AwsAccessDenied,
        id="signature",
    ),
    pytest.param(
        "ValidationError",
        "Template format error: Unresolved resource dependencies [Queue] in the Resources block",
        400,
        AwsValidationError,
        id="validation",
    ),
    pytest.param(
        "InsufficientCapabilitiesException",
        "Requires capabilities : [CAPABILITY_NAMED_IAM]",
        400,
        AwsValidationError,
        id="capabilities",
    ),
    pytest.param(
        "LimitExceededException",
        "Cannot exceed quota for StacksPerAccount: 2000",
        400,
        AwsValidationError,
        id="quota",
    ),
    pytest.param(
        "AlreadyExistsException",
        f"Stack [{STACK_NAME}] already exists",
        400,
        AwsAlreadyExists,
        id="already-exists",
    ),
    pytest.param(
        "ValidationError", f"Stack with id {STACK_NAME} does not exist", 400, AwsNotFound, id="stack-missing"
    ),
    pytest.param(
        "ChangeSetNotFound", "ChangeSet [cs] does not exist", 404, AwsNotFound, id="change-set-missing"
    ),
    pytest.param(
        "ValidationError",
        "Template format error: Unresolved dependencies [Queue]. Resource Queue does not exist",
        400,
        AwsValidationError,
        id="template-names-a-missing-resource",
    ),
    pytest.param("SomethingNew", "A code the operator does not know", 400, AwsError, id="unknown-code"),
    pytest.param(
        "TokenAlreadyExistsException",
        "ClientRequestToken turbine-delete-abc already exists",
        400,
        AwsError,
        id="token-exists",
    ),
]


@pytest.mark.parametrize(("code", "message", "http_status", "expected"), CLOUDFORMATION_ERRORS)
def test_stubbed_cloudformation_errors_become_domain_errors(
    cf_stub: RecordingStubber, code: str, message: str, http_status: int, expected: type[AwsError]
) -> None:
    cf_stub.add_client_error(
        "describe_stacks",
        code,
        message,
        http_status_code=http_status,
        expected_params={"StackName": STACK_NAME},
    )

    with pytest.raises(AwsError) as caught, aws_call("DescribeStacks"):
        cf_stub.client.describe_stacks(StackName=STACK_NAME)  # type: ignore[attr-defined]

    cf_stub.verify()
    error = caught.value
    assert type(error) is expected
    assert (error.operation, error.code, error.message) == ("DescribeStacks", code, message)
    assert str(error) == f"DescribeStacks: {code}: {message}"
    assert isinstance(error.__cause__, ClientError)


def test_no_such_bucket_from_s3_means_the_template_bucket_is_missing(s3_stub: RecordingStubber) -> None:
    s3_stub.add_client_error(
        "list_objects_v2",
        "NoSuchBucket",
        "The specified bucket does not exist",
        http_status_code=404,
        service_error_meta={"BucketName": "turbine-templates"},
    )

    with pytest.raises(TemplateBucketMissing) as caught, aws_call("ListObjectsV2"):
        s3_stub.client.list_objects_v2(Bucket="turbine-templates", Prefix="turbine/")  # type: ignore[attr-defined]

    s3_stub.verify()
    assert caught.value.code == "NoSuchBucket"
    assert caught.value.message == "The specified bucket does not exist"


def test_s3_access_denied_is_access_denied(s3_stub: RecordingStubber) -> None:
    s3_stub.add_client_error("put_object", "AccessDenied", "Access Denied", http_status_code=403)

    with pytest.raises(AwsAccessDenied), aws_call("PutObject"):
        s3_stub.client.put_object(Bucket="turbine-templates", Key="k", Body=b"x")  # type: ignore[attr-defined]

    s3_stub.verify()


def test_s3_slow_down_is_transient(s3_stub: RecordingStubber) -> None:
    s3_stub.add_client_error(
        "put_object", "SlowDown", "Please reduce your request rate.", http_status_code=503
    )

    with pytest.raises(TransientAwsError), aws_call("PutObject"):
        s3_stub.client.put_object(Bucket="turbine-templates", Key="k", Body=b"x")  # type: ignore[attr-defined]

    s3_stub.verify()


def _client_error(code: str, message: str, status: int, operation: str) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@pytest.mark.parametrize("code", sorted(aws_errors.THROTTLING_CODES))
def test_every_throttling_code_is_transient_even_with_a_4xx_status(code: str) -> None:
    error = _client_error(code, "Rate exceeded", 400, "CreateChangeSet")

    assert aws_errors.is_throttling(error)
    assert type(translate("CreateChangeSet", error)) is TransientAwsError


@pytest.mark.parametrize("code", sorted(aws_errors.ACCESS_CODES))
def test_every_access_code_is_access_denied(code: str) -> None:
    error = _client_error(code, "denied", 403, "PutObject")

    assert type(translate("PutObject", error)) is AwsAccessDenied


def test_a_client_error_without_an_error_body_is_a_plain_aws_error() -> None:
    error = ClientError({}, "DescribeStacks")

    translated = translate("DescribeStacks", error)

    assert type(translated) is AwsError
    assert (error_code(error), error_message(error)) == ("Unknown", "")
    assert translated.code == "Unknown"


def test_missing_credentials_are_access_denied() -> None:
    translated = translate("DescribeStacks", NoCredentialsError())

    assert type(translated) is AwsAccessDenied
    assert translated.code == "NoCredentials"
    assert "no AWS credentials" in translated.message


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(
            EndpointConnectionError(endpoint_url="https://cloudformation.us-east-1.amazonaws.com/"),
            id="endpoint",
        ),
        pytest.param(
            ConnectTimeoutError(endpoint_url="https://cloudformation.us-east-1.amazonaws.com/"),
            id="connect-timeout",
        ),
        pytest.param(
            ReadTimeoutError(endpoint_url="https://turbine-templates.s3.us-east-1.amazonaws.com/"),
            id="read-timeout",
        ),
    ],
)
def test_network_failures_are_transient(error: Exception) -> None:
    translated = translate("DescribeStacks", error)

    assert type(translated) is TransientAwsError
    assert translated.code == type(error).__name__
    assert "amazonaws.com" in translated.message


def test_endpoint_connection_error_through_aws_call_keeps_its_cause() -> None:
    original = EndpointConnectionError(endpoint_url="https://cloudformation.us-east-1.amazonaws.com/")

    with pytest.raises(TransientAwsError) as caught, aws_call("DescribeStacks"):
        raise original

    assert caught.value.__cause__ is original
    assert caught.value.code == "EndpointConnectionError"


def test_translate_refuses_errors_that_are_not_from_botocore() -> None:
    with pytest.raises(ValueError, match="not botocore"):
        translate("DescribeStacks", ValueError("not botocore"))


def test_aws_call_lets_programming_errors_through_untouched() -> None:
    with pytest.raises(KeyError), aws_call("DescribeStacks"):
        raise KeyError("Stacks")


def test_a_request_botocore_refuses_to_send_is_a_validation_error() -> None:
    refused = ParamValidationError(
        report="Invalid length for parameter Tags[0].Value, value: 0, valid min length: 1"
    )

    translated = translate("CreateChangeSet", refused)

    assert type(translated) is AwsValidationError
    assert translated.code == "ParamValidationError"
    assert "Tags[0].Value" in translated.message


def _every_botocore_error() -> list[type[Exception]]:
    found = [
        value
        for value in vars(botocore.exceptions).values()
        if isinstance(value, type) and issubclass(value, botocore.exceptions.BotoCoreError)
    ]
    return [*sorted(found, key=lambda kind: kind.__name__), ResponseParserError]


def _instance(kind: type[Exception]) -> Exception:
    # Built without __init__: many take keyword arguments their message needs; translate reads only the
    # type and str().
    error = kind.__new__(kind)
    error.args = (f"{kind.__name__} as botocore raises it",)
    return error


@pytest.mark.parametrize("kind", _every_botocore_error(), ids=lambda kind: kind.__name__)
def test_every_botocore_error_becomes_a_domain_error(kind: type[Exception]) -> None:
    translated = translate("DescribeStacks", _instance(kind))

    assert isinstance(translated, AwsError)
    assert translated.operation == "DescribeStacks"


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        pytest.param(ResponseParserError, AwsEndpointUnusable, id="reply-not-in-aws-format"),
        pytest.param(botocore.exceptions.UnknownEndpointError, AwsEndpointUnusable, id="unknown-endpoint"),
        pytest.param(botocore.exceptions.NoRegionError, AwsEndpointUnusable, id="no-region"),
        pytest.param(botocore.exceptions.EndpointResolutionError, AwsEndpointUnusable, id="resolution"),
        pytest.param(botocore.exceptions.InvalidRegionError, AwsValidationError, id="invalid-region"),
        pytest.param(botocore.exceptions.ConnectionClosedError, TransientAwsError, id="connection-closed"),
        pytest.param(botocore.exceptions.IncompleteReadError, TransientAwsError, id="incomplete-read"),
        pytest.param(botocore.exceptions.SSLError, TransientAwsError, id="ssl"),
        pytest.param(botocore.exceptions.ProxyConnectionError, TransientAwsError, id="proxy"),
        pytest.param(botocore.exceptions.MetadataRetrievalError, TransientAwsError, id="imds"),
        pytest.param(botocore.exceptions.PartialCredentialsError, AwsAccessDenied, id="partial-credentials"),
        pytest.param(botocore.exceptions.CredentialRetrievalError, AwsAccessDenied, id="credentials"),
        pytest.param(botocore.exceptions.UnauthorizedSSOTokenError, AwsAccessDenied, id="sso"),
        pytest.param(botocore.exceptions.WaiterError, AwsError, id="waiter"),
    ],
)
def test_botocore_errors_by_what_a_retry_can_change(kind: type[Exception], expected: type[AwsError]) -> None:
    translated = translate("DescribeStacks", _instance(kind))

    assert type(translated) is expected
    assert translated.code == kind.__name__


def test_an_unreadable_reply_is_named_without_quoting_its_body() -> None:
    error = ResponseParserError(
        "Unable to parse response (not well-formed (invalid token): line 1, column 50), "
        "invalid XML received. "
        "Further retries may succeed:\nb'<html><head><meta charset=utf-8></head></html>'"
    )

    with pytest.raises(AwsEndpointUnusable) as caught, aws_call("DescribeStacks"):
        raise error

    assert caught.value.__cause__ is error
    assert "invalid XML received" in caught.value.message
    assert "<html>" not in caught.value.message
