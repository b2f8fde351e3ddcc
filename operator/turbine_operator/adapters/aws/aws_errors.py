"""Maps botocore failures to the domain errors in turbine_operator.core.errors."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator

from botocore.exceptions import (
    BaseEndpointResolverError,
    BotoCoreError,
    ChecksumError,
    ClientError,
    CredentialRetrievalError,
    EndpointProviderError,
    HTTPClientError,
    IncompleteReadError,
    InvalidDNSNameError,
    LoginError,
    MetadataRetrievalError,
    NoAuthTokenError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ServiceNotInRegionError,
    SSOError,
    TokenRetrievalError,
    UnknownRegionError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from botocore.exceptions import (
    ValidationError as BotoValidationError,
)
from botocore.parsers import ResponseParserError

from turbine_operator.core.errors import (
    AwsAccessDenied,
    AwsAlreadyExists,
    AwsEndpointUnusable,
    AwsError,
    AwsNotFound,
    AwsResourceBusy,
    AwsValidationError,
    TemplateBucketMissing,
    TransientAwsError,
)

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "PriorRequestNotComplete",
    }
)
# CloudFormation's refusal of a change set in a status that does not allow the request yet, e.g.
# DeleteChangeSet while it is CREATE_IN_PROGRESS or its stack UPDATE_IN_PROGRESS:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DeleteChangeSet.html
BUSY_CODES = frozenset({"InvalidChangeSetStatus", "InvalidChangeSetStatusException"})
# What botocore calls the answer to a conditional GetObject whose ETag still matches.
NOT_MODIFIED = "304"
_MISSING_STACK = re.compile(r"Stack with id .+ does not exist")
# Secrets Manager answers a read of a secret scheduled for deletion with InvalidRequestException ("... because
# it was marked for deletion", API_GetSecretValue): nothing can read it until it is restored, so it is as good
# as gone.
_SECRET_MARKED_FOR_DELETION = re.compile(r".*\bmarked for deletion\b.*", re.DOTALL)
NOT_FOUND_CODES = frozenset(
    {"ChangeSetNotFound", "NoSuchKey", "404", "NotFound", "ResourceNotFoundException", "ParameterNotFound"}
)
ACCESS_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "UnauthorizedOperation",
        "ExpiredToken",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
# What botocore raises before or instead of an AWS reply, by what a retry can change:
# - the request never got an answer (refused, dropped, timed out) or arrived damaged: the next may not;
_UNANSWERED = (
    BotoConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ChecksumError,
    MetadataRetrievalError,
)
# - the operator has no usable identity: only a changed Secret, role or configuration helps;
_NO_IDENTITY = (
    PartialCredentialsError,
    CredentialRetrievalError,
    NoAuthTokenError,
    TokenRetrievalError,
    SSOError,
    LoginError,
)
# - no endpoint for the region, or one that does not answer in AWS's format (a proxy's or captive
#   portal's HTML page parsed as a CloudFormation reply): the region or the endpoint settings must change;
_NO_ENDPOINT = (
    ResponseParserError,
    BaseEndpointResolverError,
    EndpointProviderError,
    UnknownRegionError,
    ServiceNotInRegionError,
    InvalidDNSNameError,
)
# - the request breaks the API model (botocore checks it before sending): AWS would refuse it just the same.
_INVALID_REQUEST = (ParamValidationError, BotoValidationError)


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", ""))


def is_throttling(error: ClientError) -> bool:
    return error_code(error) in THROTTLING_CODES


def translate(operation: str, error: Exception) -> AwsError:
    if isinstance(error, ClientError):
        code, message = error_code(error), error_message(error)
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in THROTTLING_CODES or status >= 500:
            return TransientAwsError(operation, code, message)
        if code in BUSY_CODES:
            return AwsResourceBusy(operation, code, message)
        if code in ACCESS_CODES:
            return AwsAccessDenied(operation, code, message)
        if code == "NoSuchBucket":
            return TemplateBucketMissing(operation, code, message)
        if (
            code in NOT_FOUND_CODES
            or (code == "ValidationError" and _MISSING_STACK.fullmatch(message))
            or (code == "InvalidRequestException" and _SECRET_MARKED_FOR_DELETION.fullmatch(message))
        ):
            # CloudFormation says a stack is missing only in a ValidationError's message; other
            # ValidationErrors (a template's "... does not exist") stay refusals of the request.
            return AwsNotFound(operation, code, message)
        if code in ("AlreadyExistsException", "AlreadyExists"):
            return AwsAlreadyExists(operation, code, message)
        if code in ("ValidationError", "InsufficientCapabilitiesException", "LimitExceededException"):
            return AwsValidationError(operation, code, message)
        return AwsError(operation, code, message)
    if isinstance(error, BotoCoreError | ResponseParserError):
        return _without_reply(operation, error)
    # Errors that are not botocore's are bugs of the operator: let them surface.
    raise error


def _without_reply(operation: str, error: Exception) -> AwsError:
    """What botocore raised where AWS gave no reply to read."""
    if isinstance(error, NoCredentialsError):
        return AwsAccessDenied(operation, "NoCredentials", "no AWS credentials were found")
    if isinstance(error, _NO_IDENTITY):
        return AwsAccessDenied(operation, type(error).__name__, str(error))
    if isinstance(error, _UNANSWERED):
        return TransientAwsError(operation, type(error).__name__, str(error))
    if isinstance(error, _NO_ENDPOINT):
        # A parser's message goes on to quote the whole body it could not read: its first line says enough.
        return AwsEndpointUnusable(operation, type(error).__name__, str(error).splitlines()[0])
    if isinstance(error, _INVALID_REQUEST):
        return AwsValidationError(operation, type(error).__name__, str(error))
    # Anything else botocore raises (a waiter, a paginator, its configuration) is not a state of AWS a
    # retry would change, but it still ends in a status that names it rather than in a handler crash.
    return AwsError(operation, type(error).__name__, str(error))


@contextlib.contextmanager
def aws_call(operation: str) -> Iterator[None]:
    """Runs one AWS call and re-raises its failure as a domain error."""
    try:
        yield
    except (ClientError, BotoCoreError, ResponseParserError) as error:
        raise translate(operation, error) from error
