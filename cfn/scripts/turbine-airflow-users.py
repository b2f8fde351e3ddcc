"""Applies the Airflow users a TurbineStack declares to Airflow's database, on the scheduler instance.

turbine-airflow-users.service runs it with the Airflow venv's Python, as the airflow user. Every 30 s it
reads the stack's users secret (TURBINE_USERS_SECRET_ARN, written by the operator); a document of a
version it has not applied yet is applied in a child process (which imports Airflow, so the loop stays
small) and reported, without passwords, to the SSM parameter TURBINE_USERS_REPORT_PARAMETER, which the
operator copies into the TurbineStack's status.

Passwords travel only from the secret to this process and its child on stdin: never through argv, the
environment, a file or a log line; any error text is masked before it is written anywhere.
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

INTERVAL_SECONDS = 30
STATE_FILE = Path("/airflow/.turbine-airflow-users-version")
# A standard SSM parameter holds 4 KB; beyond it the name lists are shortened and `truncated` says so.
REPORT_LIMIT = 4096
APPLY_TIMEOUT_SECONDS = 600


def log(message: str) -> None:
    print(f"turbine-airflow-users: {message}", file=sys.stderr, flush=True)


def masked(text: str, document: dict[str, Any]) -> str:
    passwords = sorted((str(user.get("password", "")) for user in document.get("users") or []), key=len)
    for password in reversed(passwords):
        if password:
            text = text.replace(password, "****")
    return text


def apply(document: dict[str, Any]) -> dict[str, Any]:
    """In the child process: converges Airflow's users to `document`; returns the report."""
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder  # noqa: PLC0415
    from airflow.utils.providers_configuration_loader import providers_configuration_loaded  # noqa: PLC0415

    declared = {str(user["username"]).lower() for user in document["users"]}
    removed_names = {str(name).lower() for name in document.get("removed") or []}
    applied: list[str] = []
    failed: list[dict[str, str]] = []
    removed: list[str] = []

    @providers_configuration_loaded
    def run() -> list[str]:
        with get_application_builder() as appbuilder:
            manager = appbuilder.sm
            for user in document["users"]:
                name = str(user["username"])
                try:
                    problem = _apply_user(manager, user)
                except Exception as error:
                    manager.session.rollback()
                    problem = f"{type(error).__name__}: {error}"
                if problem:
                    failed.append({"username": name, "reason": masked(problem, document)[:300]})
                else:
                    applied.append(name)
            for name in sorted(removed_names - declared):
                existing = manager.find_user(username=name)
                if existing is not None:
                    existing.roles.clear()
                    if not manager.del_register_user(existing):
                        failed.append({"username": name, "reason": "Airflow refused to delete the user"})
                        continue
                removed.append(name)
            return sorted(
                str(user.username)
                for user in manager.get_all_users()
                if str(user.username).lower() not in declared | removed_names
            )

    unmanaged = run()
    return {
        "version": document["version"],
        "applied": sorted(applied),
        "failed": failed,
        "removed": removed,
        "unmanaged": unmanaged,
    }


def _apply_user(manager: Any, user: dict[str, Any]) -> str | None:
    """Creates or updates one user; returns why it failed, or None."""
    from werkzeug.security import check_password_hash  # noqa: PLC0415 - Flask's, in the Airflow venv

    role = manager.find_role(user["role"])
    if role is None:
        return f"role {user['role']} does not exist"
    existing = manager.find_user(username=user["username"])
    holder = manager.find_user(email=user["email"])
    if holder is not None and (existing is None or holder.id != existing.id):
        return f"email {user['email']} belongs to user {holder.username}"
    if existing is None:
        created = manager.add_user(
            user["username"], user["firstName"], user["lastName"], user["email"], role, user["password"]
        )
        return None if created else "Airflow refused to create the user"
    existing.first_name, existing.last_name = user["firstName"], user["lastName"]
    existing.email, existing.roles, existing.active = user["email"], [role], True
    if not manager.update_user(existing):
        return "Airflow refused to update the user"
    # Only a changed password is set: setting one ends that user's sessions, and a new version of the list
    # (another user added) must not log everyone out.
    if not check_password_hash(existing.password or "", user["password"]) and not manager.reset_password(
        existing.id, user["password"]
    ):
        return "Airflow refused to set the password"
    return None


def fitted(report: dict[str, Any]) -> str:
    """The report as JSON within REPORT_LIMIT, shortening the longest name list first."""
    text = json.dumps(report, sort_keys=True)
    while len(text.encode()) > REPORT_LIMIT:
        report["truncated"] = True
        longest = max(("unmanaged", "applied", "removed", "failed"), key=lambda key: len(report[key]))
        if not report[longest]:
            break
        report[longest] = report[longest][: len(report[longest]) // 2]
        text = json.dumps(report, sort_keys=True)
    return text


def loop() -> None:
    import boto3  # noqa: PLC0415 - the venv's; only the loop needs it

    secrets, ssm = boto3.client("secretsmanager"), boto3.client("ssm")
    secret_arn = os.environ["TURBINE_USERS_SECRET_ARN"]
    parameter = os.environ["TURBINE_USERS_REPORT_PARAMETER"]
    applied = STATE_FILE.read_text().strip() if STATE_FILE.is_file() else ""
    while True:
        try:
            text = secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
            document = json.loads(text)
            version = str(document.get("version") or "")
            if version and version != applied:
                report = _apply_in_child(text, document)
                if report is not None:
                    report["time"] = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
                    ssm.put_parameter(Name=parameter, Value=fitted(report), Type="String", Overwrite=True)
                    STATE_FILE.write_text(version + "\n")
                    applied = version
                    log(f"applied version {version}: {len(report['applied'])} applied, "
                        f"{len(report['failed'])} failed, {len(report['removed'])} removed")  # fmt: skip
        except Exception as error:
            log(f"{type(error).__name__}: {error}")
        time.sleep(INTERVAL_SECONDS)


def _apply_in_child(text: str, document: dict[str, Any]) -> dict[str, Any] | None:
    result = subprocess.run(
        [sys.executable, __file__, "apply"],
        input=text,
        capture_output=True,
        text=True,
        timeout=APPLY_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        # Airflow or its database is not ready: nothing is recorded, the next round tries again.
        # Masked before it is shortened: a cut through a password would leave part of it unmasked.
        log(f"applying failed (exit {result.returncode}): {masked(result.stderr, document)[-2000:]}")
        return None
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


if __name__ == "__main__":
    if sys.argv[1:] == ["apply"]:
        print(json.dumps(apply(json.loads(sys.stdin.read()))), flush=True)
    else:
        loop()
