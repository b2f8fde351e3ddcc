"""Names and tokens the operator derives, so a restarted operator finds what it started."""

from __future__ import annotations

import itertools
import random
import re

import pytest

from turbine_operator.core.api.spec import RESERVED_TAG_PREFIXES
from turbine_operator.core.naming import (
    MANAGED_BY,
    MANAGED_BY_TAG,
    MAX_STACK_NAME_PREFIX,
    OWNER_NAME_TAG,
    OWNER_NAMESPACE_TAG,
    OWNER_UID_TAG,
    change_set_name,
    client_request_token,
    default_stack_name,
    legacy_stack_name,
    namespace_segment,
    ownership_tags,
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


PREFIXES = ["", "data-team-", "A", "p" * MAX_STACK_NAME_PREFIX]


@pytest.mark.parametrize("prefix", PREFIXES, ids=lambda value: value[:12] or "none")
@pytest.mark.parametrize(("namespace", "name"), TRICKY_OWNERS, ids=lambda value: value[:20])
def test_stack_name_is_valid_for_cloudformation(namespace: str, name: str, prefix: str) -> None:
    stack_name = default_stack_name(namespace, name, prefix)
    assert STACK_NAME.fullmatch(stack_name)
    assert len(stack_name) <= 128
    # What an IAM policy scopes the namespace (and its tenant) with is always there, never shortened.
    assert stack_name.startswith(prefix + namespace_segment(namespace))


@pytest.mark.parametrize(("namespace", "name"), TRICKY_OWNERS, ids=lambda value: value[:20])
def test_stack_name_is_deterministic(namespace: str, name: str) -> None:
    assert default_stack_name(namespace, name) == default_stack_name(namespace, name)


@pytest.mark.parametrize("prefix", PREFIXES, ids=lambda value: value[:12] or "none")
def test_stack_names_of_tricky_owners_are_unique(prefix: str) -> None:
    names = [default_stack_name(namespace, name, prefix) for namespace, name in TRICKY_OWNERS]
    assert len(set(names)) == len(names)


def test_the_owners_the_old_default_confused_get_different_names() -> None:
    # issue 27: `<namespace>-<name>` gave both `team-a-prod`; the second TurbineStack stalled on the first's.
    assert legacy_stack_name("team-a", "prod") == legacy_stack_name("team", "a-prod") == "team-a-prod"
    assert default_stack_name("team-a", "prod") == "t6-team-a-prod"
    assert default_stack_name("team", "a-prod") == "t4-team-a-prod"


def test_a_plain_name_reads_as_it_is_written() -> None:
    assert default_stack_name("airflow", "prod") == "t7-airflow-prod"
    assert default_stack_name("1team", "prod") == "t5-1team-prod"
    assert default_stack_name("data", "etl", "data-team-") == "data-team-t4-data-etl"


@pytest.mark.parametrize(
    ("namespace", "name", "readable_start"),
    [
        ("team", "airflow.prod", "t4-team--airflow-prod-"),
        ("a" * 63, "b" * 253, "t63-" + "a" * 63 + "--bbb"),
    ],
)
def test_a_hashed_name_stays_readable(namespace: str, name: str, readable_start: str) -> None:
    assert default_stack_name(namespace, name).startswith(readable_start)


def test_the_legacy_default_is_what_earlier_operators_named_stacks() -> None:
    # Kept to find those stacks (operations/stack/stack_names.py): it must not change.
    assert legacy_stack_name("airflow", "prod") == "airflow-prod"
    assert legacy_stack_name("x", "y" * 126) == "x-" + "y" * 126
    assert legacy_stack_name("1team", "prod").startswith("ts-1team-prod-")


def _labels(alphabet: str, length: int) -> list[str]:
    """Every DNS-1123 label (starts and ends with a letter or digit) of up to `length` characters."""
    found = []
    for size in range(1, length + 1):
        for letters in itertools.product(alphabet, repeat=size):
            word = "".join(letters)
            if word[0].isalnum() and word[-1].isalnum():
                found.append(word)
    return found


def _subdomains(length: int) -> list[str]:
    return [
        name for name in _labels("a1-.", length) if ".." not in name and "-." not in name and ".-" not in name
    ]


def _random_owners(count: int) -> list[tuple[str, str]]:
    randomness = random.Random(27)  # noqa: S311 - repeatable test data, not a secret
    owners = []
    for _ in range(count):
        namespace = randomness.choice("ab1") + "".join(
            randomness.choice("ab1-") for _ in range(randomness.randint(0, 61))
        )
        namespace = namespace.rstrip("-") or "a"
        name = randomness.choice("ab1") + "".join(
            randomness.choice("ab1-.") for _ in range(randomness.randint(0, 251))
        )
        owners.append((namespace, name.rstrip("-.") or "a"))
    return owners


# Every namespace and name of up to 4 characters over an alphabet that has each kind of character, and
# long random ones (which take the hashed form): hyphens inside namespaces and names are what confused
# `<namespace>-<name>`.
SMALL_OWNERS = [(ns, name) for ns in _labels("a1-", 4) for name in _subdomains(4)]
OWNERS = SMALL_OWNERS + _random_owners(3000)


@pytest.mark.parametrize("prefix", ["", "data-team-"])
def test_default_stack_names_are_injective(prefix: str) -> None:
    named: dict[str, tuple[str, str]] = {}
    for owner in OWNERS:
        stack_name = default_stack_name(*owner, prefix)
        assert named.setdefault(stack_name, owner) == owner, f"{owner} and {named[stack_name]}: {stack_name}"
    assert len(named) == len(set(OWNERS))


def test_an_iam_pattern_of_a_namespace_matches_no_other_namespaces_default_names() -> None:
    # `arn:...:stack/<prefix><namespace_segment>*/*` in IAM (the * matches the rest, hyphens included).
    namespaces = sorted({namespace for namespace, _ in OWNERS})
    segments = {namespace: namespace_segment(namespace) for namespace in namespaces}
    for namespace, name in OWNERS:
        stack_name = default_stack_name(namespace, name)
        matching = [other for other, segment in segments.items() if stack_name.startswith(segment)]
        assert matching == [namespace], (stack_name, matching)


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
