"""The Airflow users a spec declares, as the document the scheduler instance applies, and what to do next.

How the users reach Airflow: the operator writes the list, passwords included, to the stack's own Secrets
Manager secret (output AirflowUsersSecretArn), and nowhere else; turbine-airflow-users.py on the
scheduler instance reads it every 30 s and applies a new version to Airflow's database, then writes a
report without passwords to an SSM parameter (output AirflowUsersReportParameter), which the operator
copies into status.airflowUsers. The secret is also the memory of what the operator manages: a user in
the previous document and not in the spec is deleted, so a lost status deletes nothing it should not.

A document's version is derived from the declared fields and the password Secrets' object versions,
never from a password, so the status can show it.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.api.spec_airflow import AirflowUser
from turbine_operator.core.errors import SpecError
from turbine_operator.core.render.references import Fetched, SourceKind, content_of
from turbine_operator.core.report.reporting import Announcement

LARGEST_DOCUMENT = 60_000
SECRET_OUTPUT = "AirflowUsersSecretArn"  # noqa: S105 - an output name, not a password
REPORT_OUTPUT = "AirflowUsersReportParameter"


def password_field(user: AirflowUser) -> str:
    return f"spec.airflow.users[{user.username}].passwordSecretKeyRef"


@dataclasses.dataclass(frozen=True)
class DesiredUsers:
    version: str
    users: tuple[AirflowUser, ...]
    passwords: Mapping[str, str] = dataclasses.field(repr=False)  # username -> password

    @property
    def names(self) -> frozenset[str]:
        return frozenset(user.username for user in self.users)

    def masked(self, text: str) -> str:
        for password in sorted(self.passwords.values(), key=len, reverse=True):
            text = text.replace(password, "****")
        return text

    def document(self, removed: Sequence[str]) -> str:
        """The secret's value: what the scheduler instance applies."""
        return json.dumps(
            {
                "version": self.version,
                "users": [
                    {
                        "username": user.username,
                        "email": user.email,
                        "role": user.role,
                        "firstName": user.first_name,
                        "lastName": user.last_name,
                        "password": self.passwords[user.username],
                    }
                    for user in self.users
                ],
                "removed": sorted(removed),
            },
            sort_keys=True,
        )


def desired_users(spec: TurbineStackSpec, fetched: Mapping[Any, Fetched]) -> DesiredUsers | None:
    """The users to apply, or None when the spec leaves users alone (spec.airflow.users omitted)."""
    if spec.airflow.users is None:
        return None
    passwords: dict[str, str] = {}
    fingerprints: dict[str, str] = {}
    for user in spec.airflow.users:
        field = password_field(user)
        value = content_of(fetched, SourceKind.SECRET, user.password_secret_key_ref, field)
        assert value is not None  # the reference is required
        passwords[user.username] = _password(value, field)
        fingerprints[user.username] = value.fingerprint
    # The key named, not only the Secret's version: another key of the same Secret is another password.
    declared = [
        [
            user.username,
            user.email,
            user.role,
            user.first_name,
            user.last_name,
            user.password_secret_key_ref.name,
            user.password_secret_key_ref.key,
            fingerprints[user.username],
        ]
        for user in spec.airflow.users
    ]
    version = hashlib.sha256(json.dumps(declared).encode()).hexdigest()[:24]
    desired = DesiredUsers(version, spec.airflow.users, passwords)
    # Room left for removals; Secrets Manager takes at most 65,536 bytes (API_PutSecretValue).
    if len(desired.document([]).encode()) > LARGEST_DOCUMENT:
        raise SpecError(
            "spec.airflow.users", f"the users and their passwords exceed {LARGEST_DOCUMENT} bytes"
        )
    return desired


def _password(value: Fetched, field: str) -> str:
    try:
        text = value.content.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(field, "the password is not UTF-8 text") from None
    if not text or text != text.strip() or len(text) > 256:
        raise SpecError(field, "the password must be 1 to 256 characters without surrounding whitespace")
    return text


def removed_users(
    previous: Mapping[str, Any] | None, report: Mapping[str, Any] | None, now: frozenset[str]
) -> list[str]:
    """Users the previous document managed (or was still removing) that the spec no longer lists.

    A removal the scheduler reported done for the previous document is not repeated: the name may since
    belong to a user created outside the spec.
    """
    if not previous:
        return []
    before = {str(user.get("username")) for user in previous.get("users") or []}
    before |= {str(name) for name in previous.get("removed") or []}
    if report and report.get("version") == previous.get("version"):
        before -= {str(name) for name in report.get("removed") or []}
    return sorted(before - now)


class UsersStep(enum.Enum):
    PUBLISH = "Publish"  # write a new document to the secret
    AWAIT_REPORT = "AwaitReport"  # the scheduler has not reported the published version yet
    SETTLED = "Settled"


def users_step(desired: DesiredUsers, status: Mapping[str, Any], secret_arn: str) -> UsersStep:
    # A new secret (the stack was created again) holds nothing yet, whatever the status says was published.
    if status.get("version") != desired.version or status.get("secretArn") != secret_arn:
        return UsersStep.PUBLISH
    if status.get("appliedVersion") != desired.version:
        return UsersStep.AWAIT_REPORT
    return UsersStep.SETTLED


def users_status(desired: DesiredUsers, report: Mapping[str, Any] | None, secret_arn: str) -> dict[str, Any]:
    """status.airflowUsers: the published version and, once the scheduler applied it, its report (with any
    password a failure's reason quotes masked: the instance masks them too, this holds if it did not)."""
    status: dict[str, Any] = {
        "version": desired.version,
        "secretArn": secret_arn,
        "declared": len(desired.users),
    }
    if report and report.get("version") == desired.version:
        status |= {
            "appliedVersion": desired.version,
            "applied": _names(report.get("applied")),
            "failed": [
                {
                    "username": str(entry.get("username")),
                    "reason": desired.masked(str(entry.get("reason")))[:512],
                }
                for entry in report.get("failed") or []
                if isinstance(entry, Mapping)
            ],
            "unmanaged": _names(report.get("unmanaged")),
            "appliedTime": str(report["time"]) if report.get("time") else None,
        }
    else:
        status |= {
            "appliedVersion": None,
            "applied": None,
            "failed": None,
            "unmanaged": None,
            "appliedTime": None,
        }
    return status


def _names(value: object) -> list[str]:
    return sorted(str(name) for name in value) if isinstance(value, list) else []


def users_announcement(desired: DesiredUsers, report: Mapping[str, Any] | None) -> Announcement | None:
    """An event when the scheduler applied a version: a warning naming the users that failed."""
    if not report or report.get("version") != desired.version:
        return None
    failed = sorted(
        str(entry.get("username")) for entry in report.get("failed") or [] if isinstance(entry, Mapping)
    )
    if failed:
        return Announcement(
            "AirflowUsersFailed",
            f"{len(failed)} of {len(desired.users)} Airflow users failed ({', '.join(failed)}); "
            "see status.airflowUsers.failed",
            warning=True,
        )
    applied = f"{len(desired.users)} Airflow users applied (version {desired.version})"
    return Announcement("AirflowUsersApplied", applied)
