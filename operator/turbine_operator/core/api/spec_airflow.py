"""What a TurbineStack declares about Airflow itself, beyond its infrastructure: the users the cluster
converges to, where the DAGs come from and where the stack's outputs are published; API models like
core/api/spec.py's."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StrictInt, StrictStr, model_validator
from pydantic.dataclasses import dataclass

from turbine_operator.core.api.api_types import (
    ApiObject,
    ObjectName,
    api,
    check_exactly_one,
    exactly_one,
    invalid,
    list_map,
    text,
    unique_by,
)
from turbine_operator.core.api.spec_additions import KeyRef

# FAB's ab_user columns are 256 characters wide (username, names) and 320 (email); a role name is 64.
UserName = Annotated[StrictStr, text(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$", 1, 64)]
RoleName = Annotated[StrictStr, text(r"^[A-Za-z][A-Za-z0-9 _-]*$", 1, 64)]
Email = Annotated[StrictStr, text(r"^[^@\s]+@[^@\s]+$", 3, 254)]
PersonName = Annotated[StrictStr, text(max_length=64)]
LARGEST_USER_LIST = 100


@dataclass(frozen=True, config=api())
class AirflowUser(ApiObject):
    """One Airflow user (FAB auth manager). The operator keeps the list, with the passwords, in a Secrets
    Manager secret of the stack; the scheduler instance applies it to Airflow's database within a minute."""

    username: UserName
    """Login name: letters, digits and _.@+-, starting with a letter or digit (at most 64)."""
    email: Email
    """Email address; Airflow requires one per user, and no two users may share one."""
    password_secret_key_ref: KeyRef
    """A key of a Secret in the TurbineStack's namespace that holds the password. Changing the Secret
    changes the password."""
    role: RoleName = "Viewer"
    """Airflow role: Admin, Op, User, Viewer, Public, or a role created in Airflow. A role that does not
    exist fails this user (status.airflowUsers.failed) and no other."""
    first_name: PersonName = ""
    """First name shown in Airflow."""
    last_name: PersonName = ""
    """Last name shown in Airflow."""


def _one_per_name_in_any_case(users: tuple[AirflowUser, ...]) -> tuple[AirflowUser, ...]:
    """FAB finds a user by name in any case, so Ada and ada would be one Airflow user."""
    seen: set[str] = set()
    for user in users:
        if user.username.lower() in seen:
            raise invalid("differs only in case from another username", f"[{user.username}]")
        seen.add(user.username.lower())
    return users


AirflowUsers = Annotated[
    tuple[AirflowUser, ...],
    list_map("username", LARGEST_USER_LIST),
    unique_by("username"),
    unique_by("email"),
    AfterValidator(_one_per_name_in_any_case),
]


@dataclass(frozen=True, config=api())
class OutputsConfigMap(ApiObject):
    """Publishes the stack's outputs (webserver URL, buckets, queue, database endpoint, role names, ...) as
    a ConfigMap in the TurbineStack's namespace, owned by the TurbineStack and kept in sync with the
    stack, for other workloads to read (envFrom, volumes)."""

    name: ObjectName | None = None
    """Name of the ConfigMap. Defaults to <metadata.name>-outputs. The operator writes only a ConfigMap
    whose ownerReference names this TurbineStack; an existing ConfigMap of that name is left alone and
    reported (condition OutputsPublished, reason ConfigMapNotOwned)."""


# A URL or scp-like address git understands (a user name for SSH only: before an https host it would be a
# token, which belongs in credentials), and nothing a shell would read
# specially: the bootstrap writes the bundle configuration single-quoted into /etc/sysconfig/airflow.env.
GitUrl = Annotated[
    StrictStr,
    text(
        r"^((https?|git|file)://[A-Za-z0-9._~:/%+-]+|ssh://([A-Za-z0-9._-]+@)?[A-Za-z0-9._~:/%+-]+"
        r"|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[A-Za-z0-9._~/%+-]+)$",
        8,
        512,
    ),
]
GitRef = Annotated[StrictStr, text(r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", 1, 255)]
# A path segment other than `.` and `..`, so a path in the spec cannot leave the folder it names
# (written without lookahead: the API server checks patterns with Go's RE2).
_SEGMENT = r"([A-Za-z0-9_-][A-Za-z0-9._-]*|\.[A-Za-z0-9_-][A-Za-z0-9._-]*|\.\.[A-Za-z0-9._-]+)"
_PREFIX_SEGMENT = r"([A-Za-z0-9!_-][A-Za-z0-9!_.-]*|\.[A-Za-z0-9!_-][A-Za-z0-9!_.-]*|\.\.[A-Za-z0-9!_.-]+)"
BundlePath = Annotated[StrictStr, text(rf"^{_SEGMENT}(/{_SEGMENT})*$", 1, 255)]
DagBucket = Annotated[StrictStr, text(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$", 3, 63)]
DagPrefix = Annotated[StrictStr, text(rf"^({_PREFIX_SEGMENT}/)*$", max_length=255)]
RefreshSeconds = Annotated[StrictInt, Field(ge=10, le=86400)]


GitUser = Annotated[StrictStr, text(r"^[A-Za-z0-9._@-]+$", 1, 128)]


@dataclass(frozen=True, config=api(exactly_one("passwordSecretKeyRef", "sshPrivateKeySecretKeyRef")))
class GitCredentials(ApiObject):
    """How the instances authenticate to the repository; exactly one of passwordSecretKeyRef (HTTPS, a
    password or access token) and sshPrivateKeySecretKeyRef (SSH). The operator copies the credential into
    the stack's own Secrets Manager secret (output DagsConnectionSecretArn), where Airflow reads it as the
    connection turbine_dags; a changed Secret is used within about a minute, with no instance replaced."""

    username: GitUser = "git"
    """User name for HTTPS (for GitHub tokens any name works; GitLab wants oauth2)."""
    password_secret_key_ref: KeyRef | None = None
    """A key of a Secret in the TurbineStack's namespace holding the HTTPS password or access token."""
    ssh_private_key_secret_key_ref: KeyRef | None = None
    """A key of a Secret in the TurbineStack's namespace holding an SSH private key (OpenSSH format) for
    ssh:// and git@host:path URLs."""

    @model_validator(mode="after")
    def _one_credential(self) -> GitCredentials:
        check_exactly_one(
            {
                "passwordSecretKeyRef": self.password_secret_key_ref,
                "sshPrivateKeySecretKeyRef": self.ssh_private_key_secret_key_ref,
            }
        )
        return self


@dataclass(frozen=True, config=api())
class GitDagSource(ApiObject):
    """A git repository the DAGs come from. Every new commit on ref reaches the DAG processor, the scheduler
    and the workers within refreshSeconds, with no stack update; each DAG run keeps the commit it started
    with (Airflow's bundle versioning)."""

    url: GitUrl
    """Repository URL: https://, ssh://, git@host:path, git://, file:// or http:// (a token sent over plain
    HTTP can be read on the way: use it only inside a network you trust). No credentials in the URL."""
    ref: GitRef = "main"
    """Branch (followed), tag or commit to deploy."""
    subdir: BundlePath | None = None
    """Folder of the repository that holds the DAGs; the whole repository when omitted."""
    credentials: GitCredentials | None = None
    """How to authenticate to the repository; omitted, it is cloned without credentials."""


@dataclass(frozen=True, config=api())
class S3DagSource(ApiObject):
    """An S3 location the DAGs come from, read with the instances' roles (which the stack grants read access
    to it). Airflow 3.3 does not version S3 bundles: every task runs the DAG files current when it starts."""

    bucket: DagBucket
    """Bucket name, in the stack's region."""
    prefix: DagPrefix = ""
    """Key prefix of the DAG files: empty, or ending with a slash."""


@dataclass(frozen=True, config=api(exactly_one("git", "s3")))
class DagSource(ApiObject):
    """Where the DAGs come from, as an Airflow DAG bundle named turbine-dags next to the dags-folder bundle
    (/airflow/dags, which CodeDeploy deployments still fill). Exactly one of git and s3. The scheduler
    reports the deployed revision and any DAG file that fails to import in status.dags."""

    git: GitDagSource | None = None
    """A git repository."""
    s3: S3DagSource | None = None
    """An S3 location."""
    refresh_seconds: RefreshSeconds = 60
    """How often the DAG processor looks for a new revision, in seconds (10 to 86400)."""

    @model_validator(mode="after")
    def _one_source(self) -> DagSource:
        check_exactly_one({"git": self.git, "s3": self.s3})
        return self
