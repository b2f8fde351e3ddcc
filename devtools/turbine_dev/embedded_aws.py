"""The embedded AWS: moto in server mode on a free loopback port.

The product reaches it only through the standard `AWS_ENDPOINT_URL` variable and dummy
credentials, exactly as it would reach real AWS through the standard credential chain.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3

from turbine_dev.processes import ManagedProcess, free_port

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

    def client(self, service_name: str, region: str | None = None) -> Any:
        return boto3.client(
            service_name,  # type: ignore[call-overload]
            endpoint_url=self.endpoint_url,
            region_name=region or self.region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

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


def start_embedded_aws(workdir: Path, region: str = DEFAULT_REGION) -> EmbeddedAws:
    port = free_port()
    endpoint_url = f"http://127.0.0.1:{port}"
    devtools = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        **DUMMY_CREDENTIALS,
        "PYTHONPATH": os.pathsep.join([devtools, os.environ.get("PYTHONPATH", "")]),
    }
    process = ManagedProcess(
        "moto", [sys.executable, "-m", "turbine_dev.moto_server", str(port)], workdir / "moto.log", env=env
    )
    try:
        process.wait_until(lambda: _healthy(endpoint_url), 60.0, "moto-api")
    except BaseException:
        process.stop()
        raise
    return EmbeddedAws(endpoint_url=endpoint_url, region=region, process=process)


@contextlib.contextmanager
def embedded_aws(workdir: Path | None = None, region: str = DEFAULT_REGION) -> Iterator[EmbeddedAws]:
    folder = workdir or Path(tempfile.mkdtemp(prefix="turbine-embedded-aws-"))
    aws = start_embedded_aws(folder, region)
    try:
        yield aws
    finally:
        aws.stop()
