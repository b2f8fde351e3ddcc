"""Names and tokens the operator derives, so a restarted operator finds what it started."""

from __future__ import annotations

import itertools
import re

import pytest

from turbine_operator.core.api.spec import RESERVED_TAG_PREFIXES
from turbine_operator.core.naming import (
    MANAGED_BY,
    MANAGED_BY_TAG,
    OWNER_NAME_TAG,
    OWNER_NAMESPACE_TAG,
    OWNER_UID_TAG,
    change_set_name,
    client_request_token,
    ownership_tags,
    stack_name_for,
    stale_change_sets,
)

# The CloudFormation API patterns (CreateStack StackName, ClientRequestToken, ChangeSetName).
STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
TOKEN = re.compile(r"[a-zA-Z0-9][-a-zA-Z0-9]*")
CHANGE_SET_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")

# Kubernetes allows DNS-1123 labels for namespaces (63) and DNS-1123 subdomains for names (253).
TRICKY_OWNERS = [
    ("airflow", "prod"),
    ("1team", "prod"),
    ("9", "9"),
    ("team", "airflow.prod"),
    ("team", "airflow-prod"),
    ("team", "a.b.c"),
    ("team", "a-b-c"),
    ("team", "a.b-c"),
    ("ts-1team", "prod"),
    ("a" * 63, "b" * 253),
    ("a" * 63, "b" * 252 + "c"),
    ("a" * 63, "b" * 252 + "."),
    ("a" * 63, "b" * 252 + "-"),
    ("a" * 63, "b" * 64),
    ("a" * 63, "b." * 126 + "b"),
    ("x", "y" * 126),
    ("x", "y" * 127),
    ("0" * 63, "1" * 253),
]


@pytest.mark.parametrize(("namespace", "name"), TRICKY_OWNERS, ids=lambda value: value[:20])
def test_stack_name_is_valid_for_cloudformation(namespace: str, name: str) -> None:
    stack_name = stack_name_for(namespace, name)
    assert STACK_NAME.fullmatch(stack_name)
    assert len(stack_name) <= 128


@pytest.mark.parametrize(("namespace", "name"), TRICKY_OWNERS, ids=lambda value: value[:20])
def test_stack_name_is_deterministic(namespace: str, name: str) -> None:
    assert stack_name_for(namespace, name) == stack_name_for(namespace, name)


def test_stack_names_of_tricky_owners_are_unique() -> None:
    names = [stack_name_for(namespace, name) for namespace, name in TRICKY_OWNERS]
    assert len(set(names)) == len(names)


def test_plain_owner_keeps_the_documented_namespace_dash_name() -> None:
    # The CRD documents this default; changing it would move existing TurbineStacks to new stacks.
    assert stack_name_for("airflow", "prod") == "airflow-prod"
    assert stack_name_for("x", "y" * 126) == "x-" + "y" * 126


@pytest.mark.parametrize(
    ("namespace", "name", "readable_start"),
    [
        ("1team", "prod", "ts-1team-prod-"),
        ("team", "airflow.prod", "team-airflow-prod-"),
        ("a" * 63, "b" * 253, "a" * 63 + "-bbb"),
    ],
)
def test_adjusted_stack_name_stays_readable(namespace: str, name: str, readable_start: str) -> None:
    assert stack_name_for(namespace, name).startswith(readable_start)


def test_default_names_can_coincide_and_ownership_settles_it() -> None:
    # `<namespace>-<name>` is the documented default, and it is ambiguous when a namespace contains a
    # hyphen. That is safe: the second TurbineStack finds a stack tagged with another owner and stalls
    # (StackNotOwned) instead of touching it; spec.stackName resolves the clash.
    assert stack_name_for("team-a", "airflow") == stack_name_for("team", "a-airflow") == "team-a-airflow"


UIDS = ["6f1c0d3e-8a40-4c57-9a0e-6d2d5b1c2f10", "0b4a6e0e-1111-4c57-9a0e-6d2d5b1c2f10"]
OPERATIONS = ["change-set", "execute", "continue-rollback", "delete", "o" * 200]
DISCRIMINATORS: list[tuple[str, ...]] = [
    (),
    ("a" * 32,),
    ("b" * 32,),
    ("a" * 32, "CREATE"),
    ("a" * 32, "UPDATE"),
]


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda value: value[:20])
def test_client_request_token_is_valid_and_deterministic(operation: str) -> None:
    for uid, discriminators in itertools.product(UIDS, DISCRIMINATORS):
        token = client_request_token(uid, operation, *discriminators)
        assert TOKEN.fullmatch(token)
        assert len(token) <= 128
        assert token == client_request_token(uid, operation, *discriminators)


def test_client_request_tokens_differ_for_different_requests() -> None:
    requests = list(itertools.product(UIDS, OPERATIONS[:4], DISCRIMINATORS))
    tokens = {client_request_token(uid, operation, *rest) for uid, operation, rest in requests}
    assert len(tokens) == len(requests)


def test_client_request_token_of_a_long_operation_still_carries_its_hash() -> None:
    # Truncation must not cut away the part that tells requests apart.
    first = client_request_token(UIDS[0], "o" * 80, "a")
    second = client_request_token(UIDS[0], "o" * 80, "b")
    assert first != second


@pytest.mark.parametrize("desired_hash", ["0" * 32, "f" * 32, "0123456789abcdef" * 2, "a" * 64])
def test_change_set_name_is_valid_for_cloudformation(desired_hash: str) -> None:
    name = change_set_name(desired_hash)
    assert CHANGE_SET_NAME.fullmatch(name)
    assert len(name) <= 128
    assert name.startswith("turbine-")


def test_change_set_name_follows_the_desired_hash() -> None:
    assert change_set_name("a" * 32) == change_set_name("a" * 32)
    assert change_set_name("a" * 32) != change_set_name("b" * 32)


@pytest.mark.parametrize(
    ("names", "keep", "stale"),
    [
        ([], "turbine-aaa", []),
        (["turbine-aaa"], "turbine-aaa", []),
        (["turbine-bbb", "turbine-aaa", "turbine-ccc"], "turbine-aaa", ["turbine-bbb", "turbine-ccc"]),
        # Someone else's change sets on the stack are never ours to delete.
        (["manual-review", "turbine-bbb", "Turbine-ccc"], "turbine-aaa", ["turbine-bbb"]),
    ],
)
def test_stale_change_sets_are_our_other_change_sets(names: list[str], keep: str, stale: list[str]) -> None:
    assert stale_change_sets(names, keep) == stale


def test_ownership_tags_identify_the_owner() -> None:
    assert ownership_tags("airflow", "prod", UIDS[0]) == {
        MANAGED_BY_TAG: MANAGED_BY,
        OWNER_NAMESPACE_TAG: "airflow",
        OWNER_NAME_TAG: "prod",
        OWNER_UID_TAG: UIDS[0],
    }


def test_ownership_tag_keys_are_reserved_so_users_cannot_spoof_them() -> None:
    assert all(key.startswith(RESERVED_TAG_PREFIXES) for key in ownership_tags("a", "b", "c"))


def test_ownership_tags_fit_cloudformation_tag_limits_for_the_longest_owner() -> None:
    tags = ownership_tags("n" * 63, "m" * 253, UIDS[0])
    assert all(len(key) <= 128 and len(value) <= 256 for key, value in tags.items())
