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
# The desired hash a stack was last updated to: what was applied survives a lost status.
APPLIED_HASH_TAG = "turbine.dev/applied-hash"
MANAGED_BY_TAG = "turbine.dev/managed-by"
MANAGED_BY = "turbine-operator"
CHANGE_SET_PREFIX = "turbine-"
# The Airflow connection holding spec.airflow.dags.git.credentials (core.airflow.dag_connection), named in
# the DAG bundle configuration (core.render.dag_bundles) that is rendered before the connection is written.
DAGS_CONNECTION_ID = "turbine_dags"


def _short_hash(*parts: str, length: int = 8) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:length]


# The longest stack-name prefix a tenant may be granted (core.access.tenancy): with the longest namespace
# segment (`t63-` and 63 characters and `-`, 68) and the shortest name part (a hashed one, 18) it fits in 128.
MAX_STACK_NAME_PREFIX = 40
_NAME_HASH = 16  # hex digits of SHA-256 in a hashed name part: 64 bits
_PLAIN_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def namespace_segment(namespace: str) -> str:
    """`t<length>-<namespace>-`: what every default stack name of the namespace starts with (after its
    tenant's prefix).

    The length is read first, up to the first hyphen (digits have none), and says how many characters the
    namespace takes: so no namespace's segment is a prefix of another's, and `stack/<segment>*` in an IAM
    policy matches the stacks of exactly one namespace. A plain `<namespace>-` would not be: `data-` is also
    how `data-science-...` begins. The `t` makes the name start with a letter, as CloudFormation requires,
    even for a namespace that starts with a digit.
    """
    return f"t{len(namespace)}-{namespace}-"


def default_stack_name(namespace: str, name: str, prefix: str = "") -> str:
    """The stack name of a TurbineStack without spec.stackName: `<prefix>t<length>-<namespace>-<name>`.

    `prefix` is the stack-name prefix of the namespace's tenant (empty where no tenant governs it).
    Injective: the prefix is fixed per namespace (and prefix-free across tenants), the namespace segment is
    read back unambiguously (namespace_segment), and the name part is the name itself where it is a plain
    label that fits (it then starts with a letter or digit), else `-`, a readable start and a SHA-256 of the
    name (it then starts with a hyphen, so it never equals a plain one). Only names with dots, or too long to
    fit, are hashed, and only those rely on the hash (64 bits) to differ.

    CloudFormation stack names hold letters, digits and hyphens, start with a letter and are at most 128
    characters (CreateStack, StackName,
    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html).
    """
    start = f"{prefix}{namespace_segment(namespace)}"
    room = MAX_STACK_NAME - len(start)
    if _PLAIN_NAME.fullmatch(name) and len(name) <= room:
        return start + name
    digest = _short_hash(name, length=_NAME_HASH)
    readable = _INVALID_STACK_CHARACTERS.sub("-", name)[: max(room - _NAME_HASH - 2, 0)].strip("-")
    return f"{start}-{readable}-{digest}"


def legacy_stack_name(namespace: str, name: str) -> str:
    """The default stack name of operators before default_stack_name: `<namespace>-<name>`, adjusted.

    Not injective (`team-a/prod` and `team/a-prod` both became `team-a-prod`) and not a prefix an IAM policy
    could scope a namespace with; kept only to find the stack of a TurbineStack made before, whose status no
    longer records its name (operations/stack/stack_names.py). Stacks are never renamed.
    """
    wanted = f"{namespace}-{name}"
    cleaned = _INVALID_STACK_CHARACTERS.sub("-", wanted)
    if not cleaned[0].isalpha():
        cleaned = f"ts-{cleaned}"
    if cleaned == wanted and len(cleaned) <= MAX_STACK_NAME:
        return cleaned
    suffix = f"-{_short_hash(namespace, name)}"
    return cleaned[: MAX_STACK_NAME - len(suffix)].rstrip("-") + suffix


def fitted_name(wanted: str, limit: int) -> str:
    """`wanted` if it fits in `limit` characters; else shortened, with a hash of it to keep it unique.

    For Kubernetes names and label values made from a name, which may be longer than either allows.
    """
    if len(wanted) <= limit:
        return wanted
    suffix = f"-{_short_hash(wanted)}"
    return wanted[: limit - len(suffix)].rstrip("-.") + suffix


def client_request_token(uid: str, operation: str, *discriminators: str) -> str:
    """A ClientRequestToken that is equal for retries of the same request and differs otherwise.

    CloudFormation de-duplicates requests with the same token, so an operator that dies after a
    call and repeats it on restart does not start a second operation.
    """
    return f"turbine-{operation}-{_short_hash(uid, operation, *discriminators, length=32)}"[:MAX_TOKEN]


def change_set_token(uid: str, name: str, kind: str, request: int) -> str:
    """CreateChangeSet's ClientToken: the change set and how many were requested before it.

    CloudFormation documents the token only as the way to retry a request (API_CreateChangeSet); a new
    request with a used token may be taken for the retry and create nothing, however long ago the first
    was made and whatever became of its change set. So the name alone is not enough: a spec that goes A,
    B and back to A asks again for A's change set, deleted meanwhile, under the same name. The first
    request (0) keeps the token the operator used before requests were counted.
    """
    if request == 0:
        return client_request_token(uid, "change-set", name, kind)
    return client_request_token(uid, "change-set", name, kind, str(request))


def change_set_name(desired_hash: str, attempt: str = "") -> str:
    """Change sets are named by what they apply and by the stack state they start from.

    The same desired state on the same stack state finds its change set again after a restart,
    while a new attempt (the stack was updated since, for example by a drift remediation or by a
    spec that went A to B and back to A) gets a new name: CloudFormation deletes change sets
    asynchronously, so re-creating a name at once would collide with the one being deleted.
    `attempt` is empty for a stack that does not exist yet or is still in review.
    """
    base = f"{CHANGE_SET_PREFIX}{desired_hash[:24]}"
    return f"{base}-{_short_hash(attempt)}" if attempt else base


# Tokens that name the desired hash they apply, so the stack's events tell what was last tried.
_EXECUTE_PREFIX = "turbine-x-"
_CONTINUE_ROLLBACK_PREFIX = "turbine-r-"
_TOKEN_HASH = re.compile(r"^turbine-[xr]-([0-9a-f]{32})-")
_TRIED_IN_ROLLBACK_TOKEN = re.compile(r"^turbine-r-[0-9a-f]{32}-([0-9a-f]{32})-[0-9a-f]{16}$")


def execute_token(desired_hash: str, change_set_id: str) -> str:
    """ExecuteChangeSet's token: one per change set (its id is unique), so retries repeat it exactly.

    CloudFormation copies the token onto every stack event of the operation it starts, which is
    how a lost status still learns which desired hash the last update tried.
    """
    return f"{_EXECUTE_PREFIX}{desired_hash[:32]}-{_short_hash(change_set_id, length=16)}"


def continue_rollback_token(
    desired_hash: str, stack_id: str, failed_since: str, *, tried: str | None = None
) -> str:
    """ContinueUpdateRollback's token: one per failed rollback of the stack.

    It names the desired hash it was sent for and `tried`, the hash of the update that failed and is being
    rolled back: the spec may have changed meanwhile, and once the rollback ends its events carry only this
    token, which must not pass the new spec off as the one that rolled back.
    """
    suffix = _short_hash(stack_id, failed_since, length=16)
    if tried is None:
        return f"{_CONTINUE_ROLLBACK_PREFIX}{desired_hash[:32]}-{suffix}"
    return f"{_CONTINUE_ROLLBACK_PREFIX}{desired_hash[:32]}-{tried[:32]}-{suffix}"


def hash_of_token(token: str | None, *, rollback: bool = False) -> str | None:
    """The desired hash an execute (or, with `rollback`, a continue-rollback) token was made for."""
    prefix = _CONTINUE_ROLLBACK_PREFIX if rollback else _EXECUTE_PREFIX
    if not token or not token.startswith(prefix):
        return None
    found = _TOKEN_HASH.match(token)
    return found.group(1) if found else None


def tried_hash_of_rollback_token(token: str | None) -> str | None:
    """The hash of the failed update a continue-rollback token was sent for (None if it names none)."""
    found = _TRIED_IN_ROLLBACK_TOKEN.match(token or "")
    return found.group(1) if found else None


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
