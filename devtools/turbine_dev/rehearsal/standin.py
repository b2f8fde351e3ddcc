"""Commands of the instance's operating system that the rehearsal stands in for.

`python -m turbine_dev.rehearsal.standin NAME ARGS...`, installed into each instance's image
as small wrappers (see image.py). Standard library only: it runs inside the instance.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

SOCKET = "/run/systemd/standin.sock"
SIGNALS = Path("/run/rehearsal/meta/signals.jsonl")


def systemctl(argv: list[str]) -> int:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(SOCKET)
        with connection.makefile("rwb") as stream:
            stream.write(json.dumps(argv).encode() + b"\n")
            stream.flush()
            answer = json.loads(stream.readline())
    sys.stdout.write(answer["stdout"])
    sys.stderr.write(answer["stderr"])
    return int(answer["code"])


def cfn_signal(argv: list[str]) -> int:
    """Records SignalResource as cfn-signal (aws-cfn-bootstrap) would send it."""
    parser = argparse.ArgumentParser(prog="cfn-signal")
    parser.add_argument("-e", "--exit-code", default="0")
    parser.add_argument("-s", "--success", default=None)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--resource", required=True)
    parser.add_argument("--region", default=None)
    parser.add_argument("-r", "--reason", default="")
    parser.add_argument("-i", "--id", default=None)
    parser.add_argument("--url", default=None)
    parser.add_argument("--role", default=None)
    options, extra = parser.parse_known_args(argv)
    success = options.exit_code == "0" if options.success is None else options.success == "true"
    record = {
        "time": time.time(),
        "stack": options.stack,
        "resource": options.resource,
        "region": options.region,
        "status": "SUCCESS" if success else "FAILURE",
        "exit_code": options.exit_code,
        "reason": options.reason,
        "extra": extra,
    }
    with SIGNALS.open("a") as signals:
        signals.write(json.dumps(record) + "\n")
    return 0


def dnf(argv: list[str]) -> int:
    """Packages are part of the rehearsal's image; an install only reports what it was asked."""
    print(f"dnf stand-in: {' '.join(argv)} (satisfied by the rehearsal image)")
    return 0


def mount_efs(argv: list[str]) -> int:
    """mount.efs FS:/ DIR -o OPTIONS: the shared file system is one directory for all instances."""
    target = argv[1]
    return subprocess.run(["mount", "--bind", "/run/rehearsal/efs", target], check=False).returncode


def codedeploy_agent(argv: list[str]) -> int:
    """What the CodeDeploy agent does for an in-place deployment of BUCKET KEY (a zip revision):
    download it with the instance role, copy its `files` and apply its `permissions` (appspec)."""
    import shutil  # noqa: PLC0415
    import tempfile  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    bucket, key = argv
    with tempfile.TemporaryDirectory() as work:
        archive = Path(work) / "revision.zip"
        subprocess.run(
            ["aws", "s3", "cp", "--only-show-errors", f"s3://{bucket}/{key}", str(archive)], check=True
        )
        with zipfile.ZipFile(archive) as revision:
            revision.extractall(Path(work) / "bundle")
        bundle = Path(work) / "bundle"
        appspec = json.loads((bundle / "appspec.yml").read_text())  # JSON is YAML
        for entry in appspec.get("files", []):
            shutil.copytree(bundle / entry["source"], entry["destination"], dirs_exist_ok=True)
        for entry in appspec.get("permissions", []):
            owner = f"{entry.get('owner', 'root')}:{entry.get('group', 'root')}"
            subprocess.run(["chown", "-R", owner, entry["object"]], check=True)
    return 0


COMMANDS = {
    "systemctl": systemctl,
    "cfn-signal": cfn_signal,
    "dnf": dnf,
    "mount.efs": mount_efs,
    "codedeploy-agent": codedeploy_agent,
}


if __name__ == "__main__":
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
