"""The instance metadata service stand-in (IMDSv2 only, as the launch templates require).

Serves what the instance's own files hold: `imds.json` (written by the harness at launch, with the
tags rehearsal/host/launch.py gives the instance, or null where its launch template does not allow tags in
instance metadata: then, as on EC2, there is no tags category) and `target-lifecycle-state` (changed
by the harness to stand in for Auto Scaling). Paths follow
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-categories.html and
https://docs.aws.amazon.com/autoscaling/ec2/userguide/retrieving-target-lifecycle-state-through-imds.html
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ADDRESS = "169.254.169.254"


# How often the stand-in asks the embedded AWS which profile the instance has. The SDKs give the metadata
# service one second per credentials request (botocore's default), so a request never waits for AWS: it is
# answered from the last look, as EC2 applies a replaced association asynchronously too.
ASSOCIATION_POLL_SECONDS = 1.0


class Association:
    """The instance profile associated with the instance, as last seen (associated_profile)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        data = json.loads((state_dir / "imds.json").read_text())
        self.profile = str(data["launch_profile"])
        # Only an instance whose stack has another profile may change it: the others never ask.
        if data.get("aws_endpoint") and len(data.get("profiles") or {}) > 1:
            threading.Thread(target=self._follow, args=(data,), daemon=True).start()

    def _follow(self, data: dict[str, Any]) -> None:
        ec2 = None
        while True:
            # The embedded AWS busy or not up yet: the last answer stands, and the next look comes soon.
            with contextlib.suppress(Exception):
                ec2 = ec2 or _ec2_client(data)
                self.profile = associated_profile(ec2, data)
            time.sleep(ASSOCIATION_POLL_SECONDS)


def serve(state_dir: Path, address: str = ADDRESS, port: int = 80) -> ThreadingHTTPServer:
    tokens: dict[str, float] = {}
    association = Association(state_dir)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

        def _reply(self, status: int, body: str, content_type: str = "text/plain") -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_PUT(self) -> None:
            if self.path != "/latest/api/token":
                self._reply(404, "Not Found")
                return
            ttl = int(self.headers.get("X-aws-ec2-metadata-token-ttl-seconds") or 0)
            if not 1 <= ttl <= 21600:
                self._reply(400, "Bad Request")
                return
            token = secrets.token_urlsafe(32)
            tokens[token] = time.monotonic() + ttl
            self._reply(200, token)

        def do_GET(self) -> None:
            token = self.headers.get("X-aws-ec2-metadata-token", "")
            if tokens.get(token, 0) < time.monotonic():
                self._reply(401, "Unauthorized")
                return
            answer = lookup(state_dir, self.path.split("?")[0], association.profile)
            if answer is None:
                self._reply(404, "Not Found")
            else:
                self._reply(200, answer)

    server = ThreadingHTTPServer((address, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _ec2_client(data: dict[str, Any]) -> Any:
    import boto3  # noqa: PLC0415 - only where there is an embedded AWS to ask

    from turbine_dev.aws.embedded_aws import DUMMY_CREDENTIALS  # noqa: PLC0415

    return boto3.client(
        "ec2",
        endpoint_url=data["aws_endpoint"],
        region_name=data["region"],
        aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def associated_profile(ec2: Any, data: dict[str, Any]) -> str:
    """The instance profile EC2 associates with the instance now: the launch template's, until the instance
    replaces it (ReplaceIamInstanceProfileAssociation). The metadata service hands out the credentials of
    that profile's role ("IAM roles for Amazon EC2": iam/security-credentials/<role name>)."""
    associations = ec2.describe_iam_instance_profile_associations(
        Filters=[
            {"Name": "instance-id", "Values": [data["instance_id"]]},
            {"Name": "state", "Values": ["associated"]},
        ]
    )["IamInstanceProfileAssociations"]
    return str(associations[0]["IamInstanceProfile"]["Arn"]) if associations else str(data["launch_profile"])


def lookup(state_dir: Path, path: str, profile: str | None = None) -> str | None:
    """The answer to `path`; `profile`: the instance profile associated now (Association), by default the
    launch template's."""
    data = json.loads((state_dir / "imds.json").read_text())
    if path == "/latest/user-data":
        return str(data["user_data"])
    if path == "/latest/dynamic/instance-identity/document":
        return json.dumps(
            {"instanceId": data["instance_id"], "region": data["region"], "privateIp": data["local_ipv4"]}
        )
    prefix = "/latest/meta-data/"
    if not path.startswith(prefix):
        return None
    key = path[len(prefix) :]
    tags: dict[str, str] | None = data.get("tags")
    lifecycle = state_dir / "target-lifecycle-state"
    simple = {
        "instance-id": data["instance_id"],
        "local-ipv4": data["local_ipv4"],
        "placement/region": data["region"],
        "placement/availability-zone": f"{data['region']}a",
        "autoscaling/target-lifecycle-state": lifecycle.read_text().strip()
        if lifecycle.is_file()
        else "InService",
    }
    if key.startswith("iam/security-credentials"):
        served = data["profiles"][profile or data["launch_profile"]]
        role = served["role_name"]
        if key.rstrip("/") == "iam/security-credentials":
            return str(role)
        if key == f"iam/security-credentials/{role}":
            expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
            # The session's own credentials (rehearsal/host/role_credentials.py), by which the embedded AWS
            # evaluates the role's policies on each call.
            return json.dumps(
                {"Code": "Success", "Type": "AWS-HMAC", **served["credentials"], "Expiration": expiry}
            )
        return None
    if key in simple:
        return str(simple[key])
    if key == "tags/instance" and tags is not None:
        return "\n".join(tags)
    if key.startswith("tags/instance/") and tags is not None:
        return str(tags[key]) if (key := key.removeprefix("tags/instance/")) in tags else None
    return None
