"""The rehearsal's DAG repository: a bare git repository the test makes and commits to, served over HTTP
with a token on the VPC's gateway (git_http.py), as a company's private git host would serve it.

The TurbineStack of the rehearsal names it in spec.airflow.dags.git with the token as its credentials, so
every role clones it through the turbine-dags bundle the operator renders, authenticating with the
connection the operator publishes; the scenarios commit new revisions and a broken DAG to it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

from turbine_dev.rehearsal.host import network
from turbine_dev.rehearsal.services.git_http import USER, GitHttpServer

PORT = 8418
SECRET = "dag-repository"  # noqa: S105 - the name of the Kubernetes Secret holding the token
SUBDIR = "dags"
BRANCH = "main"
MARKER = "TURBINE-GIT-REVISION"
REFRESH_SECONDS = 10


def git_dag(revision: str) -> str:
    """A DAG whose task prints which revision it runs, so a run shows the commit it was pinned to."""
    return f"""\
import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("rehearsal_git", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    BashOperator(task_id="which", bash_command="echo {MARKER}-{revision}")
"""


# It must look like a DAG file: the DAG processor parses only files that mention both "airflow" and "dag"
# ([core] dag_discovery_safe_mode).
BROKEN_DAG = """\
from airflow.sdk import DAG

import this_module_does_not_exist  # a commit that breaks the bundle

with DAG("rehearsal_broken", schedule=None):
    pass
"""


class DagRepository:
    def __init__(self, workdir: Path) -> None:
        self.root = workdir / "git"
        self.bare = self.root / "dags.git"
        self.work = self.root / "work"
        self.server: GitHttpServer | None = None
        self.url = f"http://{network.GATEWAY}:{PORT}/dags.git"
        self.token = secrets.token_urlsafe(24)

    def _git(self, *args: str, cwd: Path | None = None) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_NAME": "Rehearsal",
            "GIT_AUTHOR_EMAIL": "rehearsal@example.com",
            "GIT_COMMITTER_NAME": "Rehearsal",
            "GIT_COMMITTER_EMAIL": "rehearsal@example.com",
        }
        done = subprocess.run(
            ["git", *args], cwd=cwd or self.work, check=True, capture_output=True, text=True, env=env
        )
        return done.stdout.strip()

    def start(self) -> None:
        self.root.mkdir(parents=True)
        self._git("init", "--quiet", "--bare", f"--initial-branch={BRANCH}", str(self.bare), cwd=self.root)
        self._git("clone", "--quiet", str(self.bare), str(self.work), cwd=self.root)
        self._git("checkout", "--quiet", "-b", BRANCH)
        self.server = GitHttpServer(self.root, network.GATEWAY, PORT, self.token)
        self.server.start()

    def commit(self, files: dict[str, str], message: str, remove: tuple[str, ...] = ()) -> str:
        """Commits and pushes `files` (below the DAG folder); returns the commit's SHA."""
        folder = self.work / SUBDIR
        folder.mkdir(exist_ok=True)
        for name, text in files.items():
            (folder / name).write_text(text)
        for name in remove:
            (folder / name).unlink()
        self._git("add", "--all")
        self._git("commit", "--quiet", "-m", message)
        self._git("push", "--quiet", "origin", BRANCH)
        return self._git("rev-parse", "HEAD")

    def spec(self) -> dict[str, Any]:
        """spec.airflow.dags for this repository."""
        credentials = {"username": USER, "passwordSecretKeyRef": {"name": SECRET, "key": "token"}}
        git = {"url": self.url, "ref": BRANCH, "subdir": SUBDIR, "credentials": credentials}
        return {"git": git, "refreshSeconds": REFRESH_SECONDS}

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
