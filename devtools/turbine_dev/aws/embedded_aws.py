"""The embedded AWS: moto in server mode on a free loopback port, with a strict CloudFormation.

The product reaches it only through the standard `AWS_ENDPOINT_URL` variable and dummy
credentials, exactly as it would reach real AWS through the standard credential chain.

Strict by default (docs/embedded-aws.md): stack and change-set operations take time with their
IN_PROGRESS states visible, change-set deletion is asynchronous, tokens are remembered, drift
detection needs several polls, a new stack is briefly invisible. `configure()` changes the
timings and injects faults at runtime; `kill_after_mutation()` SIGKILLs a process right after a
mutating CloudFormation call; `stats()` counts calls, faults and kills. The same controls are
HTTP endpoints under `/_turbine/` (see `turbine_dev.strict.strict_http`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from turbine_dev.runs.processes import ManagedProcess, free_port

DEFAULT_REGION = "us-east-1"
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclasses.dataclass
class EmbeddedAws:
    endpoint_url: str
    region: str
    process: ManagedProcess

    @property
    def environment(self) -> dict[str, str]:
        """What a process needs in its environment to use this embedded AWS."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            **DUMMY_CREDENTIALS,
        }

    def client(
        self,
        service_name: str,
        region: str | None = None,
        config: Config | None = None,
        session: tuple[str, str, str] | None = None,
    ) -> Any:
        """A client of this embedded AWS, signed with the harness's key, or with `session`'s temporary
        credentials (access key id, secret access key, session token)."""
        key, secret, token = session or (
            DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            None,
        )
        return boto3.client(
            service_name,  # type: ignore[call-overload]
            endpoint_url=self.endpoint_url,
            region_name=region or self.region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=config,
        )

    def _control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - the loopback endpoint this object started
            f"{self.endpoint_url}/_turbine/{path}", data=data, method="GET" if data is None else "POST"
        )
        with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
            answer: dict[str, Any] = json.loads(reply.read())
        return answer

    def configure(self, **settings: Any) -> dict[str, Any]:
        """Changes the strict emulator's settings at once; returns all of them.

        operation_seconds (stack operations), change_set_seconds (change-set creation),
        change_set_delete_seconds, drift_polls (status polls until a detection completes), drift_seconds
        (instead, how long a detection takes),
        consistency_seconds (a new stack invisible to DescribeStacks by name), fault_rate (share of
        AWS calls failing), fault_seed, fault_kinds (of "throttling", "internal", "unavailable",
        "connection"), fault_services (e.g. ["cloudformation"]; empty: all), lose_response_rate
        (share of injected 5xx/connection faults applied with the response lost),
        kill_delay_seconds. Setting fault_seed or fault_rate restarts the fault sequence.
        """
        return self._control("config", settings)

    def settings(self) -> dict[str, Any]:
        return self._control("config")

    def kill_after_mutation(self, pid: int | None, probability: float = 1.0, seed: int = 0) -> None:
        """After each mutating CloudFormation call is applied and answered, SIGKILL `pid` with
        `probability` (drawn from a generator seeded with `seed`). `pid=None` disables it."""
        self._control("kill-after-mutation", {"pid": pid, "probability": probability, "seed": seed})

    def stats(self) -> dict[str, Any]:
        """Counters since start or `reset_stats()`: calls, calls_by_action ("service.Action"),
        faults (by kind), faults_total, responses_lost, mutations, kills, token_retries,
        token_conflicts."""
        return self._control("stats")

    def reset_stats(self) -> None:
        self._control("stats/reset", {})

    def reset(self) -> None:
        """Forgets every resource (moto's reset API), for tests that need a blank account."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310
            pass

    def stop(self) -> None:
        self.process.stop()


def _healthy(endpoint_url: str) -> bool:
    with urllib.request.urlopen(f"{endpoint_url}/moto-api/", timeout=5) as reply:  # noqa: S310
        return bool(reply.status == 200)


def start_embedded_aws(workdir: Path, region: str = DEFAULT_REGION, **settings: Any) -> EmbeddedAws:
    """Starts the strict embedded AWS; `settings` as `EmbeddedAws.configure()` takes them."""
    port = free_port()
    endpoint_url = f"http://127.0.0.1:{port}"
    devtools = str(Path(__file__).resolve().parents[2])
    env = {
        **os.environ,
        **DUMMY_CREDENTIALS,
        "PYTHONPATH": os.pathsep.join([devtools, os.environ.get("PYTHONPATH", "")]),
    }
    process = ManagedProcess(
        "moto",
        [sys.executable, "-m", "turbine_dev.aws.moto_server", str(port)],
        workdir / "moto.log",
        env=env,
    )
    try:
        process.wait_until(lambda: _healthy(endpoint_url), 60.0, "moto-api")
    except BaseException:
        process.stop()
        raise
    aws = EmbeddedAws(endpoint_url=endpoint_url, region=region, process=process)
    if settings:
        aws.configure(**settings)
    return aws


@contextlib.contextmanager
def embedded_aws(
    workdir: Path | None = None, region: str = DEFAULT_REGION, **settings: Any
) -> Iterator[EmbeddedAws]:
    folder = workdir or Path(tempfile.mkdtemp(prefix="turbine-embedded-aws-"))
    aws = start_embedded_aws(folder, region, **settings)
    try:
        yield aws
    finally:
        aws.stop()
