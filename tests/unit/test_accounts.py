"""accounts: the account an ARN names, and the spec changes that would address another than the stack's."""

from __future__ import annotations

import pytest

from turbine_operator.core.plan.accounts import ACCOUNT_CHANGED, account_move, account_of

STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/airflow-demo/6f0b3f60-8a2c-11ef-9c3e"
ROLE_HERE = "arn:aws:iam::123456789012:role/turbine"
ROLE_ELSEWHERE = "arn:aws-us-gov:iam::210987654321:role/path/turbine"


@pytest.mark.parametrize(
    ("arn", "account"),
    [
        (STACK, "123456789012"),
        (ROLE_ELSEWHERE, "210987654321"),
        ("arn:aws:s3:::turbine-templates", None),  # an S3 bucket's ARN names no account
        ("airflow-demo", None),
        (None, None),
    ],
)
def test_the_account_is_the_fifth_field_of_an_arn(arn: str | None, account: str | None) -> None:
    assert account_of(arn) == account


def test_nothing_recorded_moves_nowhere() -> None:
    assert account_move(None, role_arn=ROLE_ELSEWHERE, service_role_arn=ROLE_ELSEWHERE) is None


def test_roles_of_the_stacks_account_are_no_move() -> None:
    assert account_move(STACK, role_arn=ROLE_HERE, service_role_arn=ROLE_HERE) is None
    assert account_move(STACK, role_arn=None, service_role_arn=None) is None


@pytest.mark.parametrize(
    ("role", "service_role", "field"),
    [
        (ROLE_ELSEWHERE, None, "spec.roleArn"),
        (None, ROLE_ELSEWHERE, "spec.serviceRoleArn"),
        (ROLE_ELSEWHERE, ROLE_ELSEWHERE, "spec.roleArn"),
    ],
)
def test_a_role_of_another_account_stalls_naming_the_field(
    role: str | None, service_role: str | None, field: str
) -> None:
    moved = account_move(STACK, role_arn=role, service_role_arn=service_role)

    assert moved is not None
    assert moved.reason is ACCOUNT_CHANGED
    assert moved.message.startswith(f"{field} addresses AWS account 210987654321")
    assert STACK in moved.message
