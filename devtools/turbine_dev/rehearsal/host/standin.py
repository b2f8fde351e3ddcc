"""Commands of the instance's operating system that the rehearsal stands in for.

`python -m turbine_dev.rehearsal.host.standin NAME ARGS...`, installed into each instance's image
as small wrappers (see image.py). Standard library only: it runs inside the instance.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from pathlib import Path

SOCKET = "/run/systemd/standin.sock"


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
    """Sends SignalResource as cfn-signal (aws-cfn-bootstrap) does, with the instance id as unique id."""
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
    options, _ = parser.parse_known_args(argv)
    success = options.exit_code == "0" if options.success is None else options.success == "true"
    unique_id = options.id or _instance_id()
    command = ["aws", "cloudformation", "signal-resource", "--stack-name", options.stack,
               "--logical-resource-id", options.resource, "--unique-id", unique_id,
               "--status", "SUCCESS" if success else "FAILURE"]  # fmt: skip
    if options.region:
        command += ["--region", options.region]
    return subprocess.run(command, check=False).returncode


def _instance_id() -> str:
    import urllib.request  # noqa: PLC0415

    base = "http://169.254.169.254/latest"
    request = urllib.request.Request(  # noqa: S310 - the metadata service's fixed address
        f"{base}/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        token = reply.read().decode()
    request = urllib.request.Request(  # noqa: S310
        f"{base}/meta-data/instance-id", headers={"X-aws-ec2-metadata-token": token}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        return str(reply.read().decode())


PACKAGES = Path("/var/lib/rehearsal-packages")


def dnf(argv: list[str]) -> int:
    """`dnf install`: packages whose files the rehearsal stands in for are copied from the image's
    package store (cfn-signal, mount.efs); the others (python3.11, jq...) are already in the image."""
    import shutil  # noqa: PLC0415

    for name in argv:
        if (PACKAGES / name).is_dir():
            shutil.copytree(PACKAGES / name, "/", dirs_exist_ok=True, symlinks=True)
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
