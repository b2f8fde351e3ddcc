"""The metadata database: Debian's PostgreSQL standing in for RDS.

Like RDS, the master user is not a superuser (RDS gives it rds_superuser: it may create roles
and databases) and owns the initial database (DBName); clients authenticate with a password.
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Appendix.PostgreSQL.CommonDBATasks.Roles.html
"""

from __future__ import annotations

import dataclasses
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError("PostgreSQL is missing: apt-get install postgresql (.ci/run installs it)")
    return found[-1]


@dataclasses.dataclass
class Database:
    data: Path
    address: str
    port: int

    def stop(self) -> None:
        _as_postgres([_bin("pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"], check=False)
        shutil.rmtree(self.data.parent, ignore_errors=True)


def _as_postgres(argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], check=check, capture_output=True, text=True
    )


def start(  # noqa: PLR0917 - the RDS settings
    workdir: Path, address: str, port: int, master_user: str, master_password: str, db_name: str
) -> Database:
    # The postgres user must reach its directory, and `workdir` may sit below a private one (pytest's
    # tmp_path is under a 0700 /tmp/pytest-of-root), so the cluster lives in a directory of its own.
    workdir.mkdir(parents=True, exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="turbine-rehearsal-rds-"))
    (workdir / "postgres-home").unlink(missing_ok=True)
    (workdir / "postgres-home").symlink_to(home)
    workdir = home
    data = workdir / "pgdata"
    data.mkdir()
    record = pwd.getpwnam("postgres")
    os.chown(workdir, record.pw_uid, record.pw_gid)
    os.chown(data, record.pw_uid, record.pw_gid)
    _as_postgres([_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                  "--auth-host=scram-sha-256", "-E", "UTF8"])  # fmt: skip
    with (data / "pg_hba.conf").open("a") as hba:
        hba.write("host all all 0.0.0.0/0 scram-sha-256\n")
    options = f"-c listen_addresses={address} -c port={port} -c unix_socket_directories={workdir}"
    completed = _as_postgres(
        [_bin("pg_ctl"), "start", "-w", "-D", str(data), "-l", str(workdir / "postgres.log"), "-o", options],
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"postgres did not start: {(workdir / 'postgres.log').read_text()[-2000:]}")
    quoted = master_password.replace("'", "''")
    sql = (
        f"CREATE ROLE \"{master_user}\" LOGIN CREATEDB CREATEROLE PASSWORD '{quoted}';"
        f'CREATE DATABASE "{db_name}" OWNER "{master_user}";'
    )
    for statement in sql.split(";")[:-1]:
        _as_postgres([_bin("psql"), "-h", str(workdir), "-p", str(port), "-U", "postgres", "-v",
                      "ON_ERROR_STOP=1", "-c", statement])  # fmt: skip
    return Database(data=data, address=address, port=port)
