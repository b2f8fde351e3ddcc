"""Prepares the metadata database and runs Airflow's migration, one node at a time.

Usage (as root, by turbine-bootstrap.sh on the webservers and the scheduler, with the Airflow
venv's interpreter: psycopg2 comes with the locked Postgres provider):

    turbine-migrate-database.py <migration command...>

Connected as the RDS master user, it creates (or re-keys) the application role Airflow connects
as, then holds a PostgreSQL advisory lock while it runs the migration command. Airflow locks its
own migrations, but not the FAB provider's table creation on an empty database: two nodes
migrating at once make one fail with a duplicate-table error (seen with Airflow 3.3.2).
Credentials arrive in the environment, never on the command line (which `ps` shows), and the
master credentials are removed from the migration command's environment.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg2
from psycopg2 import sql

# Any fixed key shared by every node of the stack.
ADVISORY_LOCK_KEY = 0x7475_7262  # "turb"
MASTER_VARIABLES = ("TURBINE_DB_MASTER_USER", "TURBINE_DB_MASTER_PASSWORD", "TURBINE_DB_APP_PASSWORD")


def ensure_application_role(
    cursor: psycopg2.extensions.cursor, database: str, role: str, password: str
) -> None:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    verb = "ALTER" if cursor.fetchone() else "CREATE"
    # Setting the password every boot keeps the role in step with its secret.
    cursor.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)), [password])
    cursor.execute(
        sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(database), sql.Identifier(role)
        )
    )
    # PostgreSQL 15+ no longer lets every role create objects in the public schema.
    cursor.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))


def main(command: list[str]) -> int:
    if not command:
        print("usage: turbine-migrate-database.py <migration command...>", file=sys.stderr)
        return 2
    env = os.environ
    database = env["TURBINE_DB_NAME"]
    connection = psycopg2.connect(
        host=env["TURBINE_DB_HOST"],
        port=int(env.get("TURBINE_DB_PORT", "5432")),
        dbname=database,
        user=env["TURBINE_DB_MASTER_USER"],
        password=env["TURBINE_DB_MASTER_PASSWORD"],
        connect_timeout=10,
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            # Session-level: held until the connection closes, across the whole migration.
            cursor.execute("SELECT pg_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            ensure_application_role(
                cursor, database, env["TURBINE_DB_APP_USER"], env["TURBINE_DB_APP_PASSWORD"]
            )
            print(
                f"turbine-migrate-database: role {env['TURBINE_DB_APP_USER']} is ready; migrating", flush=True
            )
            migration_env = {name: value for name, value in env.items() if name not in MASTER_VARIABLES}
            return subprocess.run(command, env=migration_env, check=False).returncode
    finally:
        connection.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
