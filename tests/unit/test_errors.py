"""Domain errors carry the field or the AWS operation they are about."""

from __future__ import annotations

import pytest

from turbine_operator.core.errors import (
    AwsAccessDenied,
    AwsError,
    AwsValidationError,
    SpecError,
    TemplateBucketMissing,
    TransientAwsError,
    TurbineError,
)


def test_spec_error_names_its_field() -> None:
    error = SpecError("spec.workers.maxSize", "must be at least minSize")
    assert (error.field, error.message) == ("spec.workers.maxSize", "must be at least minSize")
    assert str(error) == "spec.workers.maxSize: must be at least minSize"
    assert isinstance(error, TurbineError)


@pytest.mark.parametrize(
    "kind", [AwsError, TransientAwsError, AwsAccessDenied, AwsValidationError, TemplateBucketMissing]
)
def test_aws_errors_carry_operation_and_code(kind: type[AwsError]) -> None:
    error = kind("CreateChangeSet", "Throttling", "Rate exceeded")
    assert (error.operation, error.code, error.message) == ("CreateChangeSet", "Throttling", "Rate exceeded")
    assert str(error) == "CreateChangeSet: Throttling: Rate exceeded"
    assert isinstance(error, AwsError)
    assert isinstance(error, TurbineError)


def test_transient_errors_are_distinguishable_from_permanent_ones() -> None:
    # The reconciler retries TransientAwsError and stalls on the rest; an overlap would do both.
    for permanent in (AwsAccessDenied, AwsValidationError, TemplateBucketMissing):
        assert not issubclass(permanent, TransientAwsError)
        assert not issubclass(TransientAwsError, permanent)
