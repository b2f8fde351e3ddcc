"""Deterministic names and tokens, so a restarted operator always finds what it started."""

from __future__ import annotations

import hashlib
import re

# The custom resource the operator serves (crds/turbinestacks.turbine.dev.yaml).
API_GROUP, API_VERSION, PLURAL = "turbine.dev", "v1alpha1", "turbinestacks"

MAX_STACK_NAME = 128
MAX_TOKEN = 128
_INVALID_STACK_CHARACTERS = re.compile(r"[^A-Za-z0-9-]+")

OWNER_UID_TAG = "turbine.dev/owner-uid"
OWNER_NAMESPACE_TAG = "turbine.dev/owner-namespace"
OWNER_NAME_TAG = "turbine.dev/owner-name"
MANAGED_BY_TAG = "turbine.dev/managed-by"
MANAGED_BY = "turbine-operator"
CHANGE_SET_PREFIX = "turbine-"


def _short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


def stack_name_for(namespace: str, name: str) -> str:
    """`<namespace>-<name>`, valid for CloudFormation.

    Kubernetes names may contain dots, may start with a digit and may together exceed 128
    characters; in those cases the name is adjusted and a hash of the original keeps it unique.
    """
    wanted = f"{namespace}-{name}"
    cleaned = _INVALID_STACK_CHARACTERS.sub("-", wanted)
    if not cleaned[0].isalpha():
        cleaned = f"ts-{cleaned}"
    if cleaned == wanted and len(cleaned) <= MAX_STACK_NAME:
        return cleaned
    suffix = f"-{_short_hash(namespace, name)}"
    return cleaned[: MAX_STACK_NAME - len(suffix)].rstrip("-") + suffix


def client_request_token(uid: str, operation: str, *discriminators: str) -> str:
    """A ClientRequestToken that is equal for retries of the same request and differs otherwise.

    CloudFormation de-duplicates requests with the same token, so an operator that dies after a
    call and repeats it on restart does not start a second operation.
    """
    return f"turbine-{operation}-{_short_hash(uid, operation, *discriminators, length=32)}"[:MAX_TOKEN]


def change_set_name(desired_hash: str) -> str:
    """Change sets are named by what they apply, so the same desired state finds its change set again."""
    return f"{CHANGE_SET_PREFIX}{desired_hash[:24]}"


def stale_change_sets(names: list[str], keep: str) -> list[str]:
    """Our change sets for the stack other than the one for the current desired state."""
    return [name for name in names if name.startswith(CHANGE_SET_PREFIX) and name != keep]


def ownership_tags(namespace: str, name: str, uid: str) -> dict[str, str]:
    return {
        MANAGED_BY_TAG: MANAGED_BY,
        OWNER_NAMESPACE_TAG: namespace,
        OWNER_NAME_TAG: name,
        OWNER_UID_TAG: uid,
    }
