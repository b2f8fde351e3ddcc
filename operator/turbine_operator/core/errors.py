"""Domain errors: what can go wrong, in words the planner and the handlers understand."""

from __future__ import annotations


class TurbineError(Exception):
    """Base class of every error the operator raises on purpose."""


class SpecError(TurbineError):
    """The spec cannot be turned into a stack; `field` names where (for example spec.workers.maxSize)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class AwsError(TurbineError):
    """An AWS call failed; `code` is the AWS error code and `operation` the API operation."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation = operation
        self.code = code
        self.message = message


class TransientAwsError(AwsError):
    """Throttling, 5xx or a network fault: retried with backoff, never fatal."""


class AwsEndpointUnusable(AwsError):
    """No AWS endpoint answers for the region (none can be resolved, or what answers does not speak AWS's
    protocol): the spec's region or the operator's endpoint settings must change, a retry will not help."""


class AwsResourceBusy(TransientAwsError):
    """AWS refuses the request for the state its target is in for now, as DeleteChangeSet a change set still
    being created (InvalidChangeSetStatus, API_DeleteChangeSet): a later look may do it."""


class AwsAccessDenied(AwsError):
    """The operator's (or the assumed role's) identity may not do this."""


class AwsValidationError(AwsError):
    """AWS refused the request as invalid (a template or parameter problem, usually)."""


class AwsNotFound(AwsError):
    """The named stack, change set or S3 object does not exist (callers read it as None)."""


class AwsAlreadyExists(AwsError):
    """What the request would create exists already (a retried create whose first reply was lost)."""


class TemplateBucketMissing(AwsError):
    """The S3 bucket named in spec.templateBucket does not exist or is not reachable."""


class ReferenceMissing(SpecError):
    """A ConfigMap, Secret, key or S3 object the spec references does not exist (yet)."""


class ClusterError(TurbineError):
    """Reading from the Kubernetes API failed; `transient` when a retry may succeed."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient
