"""Creates the Airflow application database role, connected as the RDS master user.

Run by turbine-bootstrap.sh with the Airflow venv's interpreter (psycopg2 comes with the locked
Postgres provider) on the webservers and the scheduler, before `airflow db migrate`. Airflow then
connects as this role, owns the tables it creates and never sees the master password.
Credentials arrive in the environment, never on the command line (which `ps` shows).
"""

from __future__ import annotations

import os

import psycopg2
from psycopg2 import sql

# Any fixed key: serialises the webservers and the scheduler when they boot together.
ADVISORY_LOCK_KEY = 0x7475_7262  # "turb"


def main() -> None:
    env = os.environ
    role = env["TURBINE_DB_APP_USER"]
    database = env["TURBINE_DB_NAME"]
    connection = psycopg2.connect(
        host=env["TURBINE_DB_HOST"],
        port=5432,
        dbname=database,
        user=env["TURBINE_DB_MASTER_USER"],
        password=env["TURBINE_DB_MASTER_PASSWORD"],
        connect_timeout=10,
    )
    try:
        with connection, connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
            cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
            verb = "ALTER" if cursor.fetchone() else "CREATE"
            # Setting the password every boot keeps the role in step with its secret.
            cursor.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD %s").format(sql.Identifier(role)),
                [env["TURBINE_DB_APP_PASSWORD"]],
            )
            cursor.execute(
                sql.SQL("GRANT CONNECT, CREATE, TEMPORARY ON DATABASE {} TO {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
            # PostgreSQL 15+ no longer lets every role create objects in the public schema.
            cursor.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)))
    finally:
        connection.close()
    print(f"turbine-database-role: role {role} is ready")


if __name__ == "__main__":
    main()
