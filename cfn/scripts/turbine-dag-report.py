"""Reports the turbine-dags bundle (spec.airflow.dags) from Airflow's database, on the scheduler instance.

turbine-dag-report.service runs it with the Airflow venv's Python, as the airflow user. Every 30 s it reads
the revision the DAG processor last refreshed the bundle to and the bundle's import errors, and writes them
to the SSM parameter TURBINE_DAGS_REPORT_PARAMETER when they change; the operator copies that into the
TurbineStack's status.dags and posts events. Read-only SQL on two tables Airflow 3 keeps for exactly this
(dag_bundle, import_error), without importing Airflow.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from typing import Any

BUNDLE = "turbine-dags"
INTERVAL_SECONDS = 30
REPORT_LIMIT = 4096  # a standard SSM parameter
ERROR_LENGTH = 400


def log(message: str) -> None:
    print(f"turbine-dag-report: {message}", file=sys.stderr, flush=True)


def read(connection: Any) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version, last_refreshed FROM dag_bundle WHERE name = %s", (BUNDLE,))
        row = cursor.fetchone()
        cursor.execute(
            "SELECT filename, stacktrace FROM import_error WHERE bundle_name = %s ORDER BY filename",
            (BUNDLE,),
        )
        errors = [
            {"file": str(filename), "error": _last_line(str(trace or ""))[:ERROR_LENGTH]}
            for filename, trace in cursor.fetchall()
        ]
    connection.rollback()  # read-only: end the transaction, so the next read sees new rows
    return {
        "revision": str(row[0]) if row and row[0] else None,
        "refreshed": row[1].isoformat() if row and row[1] else None,
        "importErrors": errors,
    }


def _last_line(trace: str) -> str:
    """The exception line of a traceback: what a person needs first."""
    lines = [line.strip() for line in trace.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _news(state: dict[str, Any] | None) -> tuple[Any, ...] | None:
    return None if state is None else (state["revision"], state["importErrors"])


def fitted(report: dict[str, Any]) -> str:
    text = json.dumps(report, sort_keys=True)
    while len(text.encode()) > REPORT_LIMIT and report["importErrors"]:
        report["truncated"] = True
        report["importErrors"] = report["importErrors"][: len(report["importErrors"]) // 2]
        text = json.dumps(report, sort_keys=True)
    return text


def main() -> None:
    import boto3  # noqa: PLC0415 - the Airflow venv's
    import psycopg2  # noqa: PLC0415

    ssm = boto3.client("ssm")
    parameter = os.environ["TURBINE_DAGS_REPORT_PARAMETER"]
    # The application role's URL from airflow.env, without SQLAlchemy's driver suffix.
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace(
        "postgresql+psycopg2://", "postgresql://", 1
    )
    connection = None
    written: dict[str, Any] | None = None
    while True:
        try:
            connection = connection or psycopg2.connect(url, connect_timeout=10)
            state = read(connection)
            # Not on every refresh (every refreshSeconds moves `refreshed`): on a new revision or errors.
            if _news(state) != _news(written):
                stamp = datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")
                ssm.put_parameter(Name=parameter, Value=fitted({**state, "time": stamp}), Type="String",
                                  Overwrite=True)  # fmt: skip
                written = state
                log(f"revision {state['revision']}, {len(state['importErrors'])} import errors")
        except Exception as error:  # the loop outlives a database or AWS outage
            # Not the error's text: a connection error may quote the database URL, password included.
            log(f"report failed: {type(error).__name__}")
            if connection is not None:
                connection.close()
            connection = None
        time.sleep(INTERVAL_SECONDS)


if __name__ == "__main__":
    main()
