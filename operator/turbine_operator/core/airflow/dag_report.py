"""status.dags from the scheduler's report on the turbine-dags bundle (spec.airflow.dags), and its events.

turbine-dag-report.py on the scheduler writes the revision the DAG processor last refreshed the bundle to
and the bundle's import errors to an SSM parameter (stack output DagsReportParameter). The operator reads
it every DAGS_CHECK_SECONDS (core/plan/scheduling.py) while spec.airflow.dags is set: a bad commit is in
status and events about two minutes after the DAG processor saw it.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from turbine_operator.core.plan.scheduling import dags_check_due, parse_timestamp
from turbine_operator.core.report.reporting import Announcement

REPORT_OUTPUT = "DagsReportParameter"
STATUS_KEY = "dags"
__all__ = ["REPORT_OUTPUT", "STATUS_KEY", "dags_announcement", "dags_check_due", "dags_status"]


def dags_status(report: Mapping[str, Any] | None, now: str) -> dict[str, Any]:
    report = report or {}
    errors = [
        {"file": str(entry.get("file")), "error": str(entry.get("error"))[:400]}
        for entry in report.get("importErrors") or []
        if isinstance(entry, Mapping)
    ]
    return {
        "revision": report.get("revision") or None,
        "refreshedTime": _time(report.get("refreshed")),
        "importErrors": errors,
        "checkedTime": now,
    }


def _time(value: object) -> str | None:
    parsed = parse_timestamp(value)
    return parsed.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z") if parsed else None


def dags_announcement(before: Mapping[str, Any], after: Mapping[str, Any]) -> Announcement | None:
    """A warning when the import errors change to a non-empty set; news when a new revision is deployed."""
    errors = after.get("importErrors") or []
    if errors and errors != (before.get("importErrors") or []):
        files = ", ".join(sorted(str(entry["file"]) for entry in errors)[:5])
        revision = after.get("revision") or "unknown"
        return Announcement(
            "DagImportErrors",
            f"revision {revision}: {len(errors)} DAG files fail to import ({files});"
            " see status.dags.importErrors",
            warning=True,
        )
    if after.get("revision") and after.get("revision") != before.get("revision"):
        return Announcement("DagsDeployed", f"DAG bundle turbine-dags at revision {after['revision']}")
    return None
