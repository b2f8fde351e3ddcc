"""The temporary credentials the rehearsal gives a role's session, and the registry that maps them back.

On EC2 the metadata service hands an instance its role's temporary credentials (an access key id starting
"ASIA", a secret key and a session token: "IAM roles for Amazon EC2",
https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html#instance-metadata-security-credentials),
and a Lambda function runs with its execution role's. Here each session (an instance, or the load function)
gets an access key id of its own, written with its role to `role-credentials.json` in the rehearsal's folder,
where the embedded AWS (turbine_dev.rehearsal.services.iam_enforcement) finds the role a request was signed
for. The harness's own key (DUMMY_CREDENTIALS) stands for CloudFormation, Auto Scaling and the
administrator, and is in no registry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from pathlib import Path

REGISTRY = "role-credentials.json"
# The label of each instance role by its logical id in the templates. The scheduler and the API servers boot
# with a role of their own, which alone reads the database secrets, and then take their run role.
LABELS = {
    "SchedulerBootRole": "scheduler-boot",
    "SchedulerRole": "scheduler",
    "WebserverBootRole": "webserver-boot",
    "WebserverRole": "webserver",
    "WorkerRole": "worker",
}
_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Session:
    role: str  # the role's name, as IAM holds it
    label: str  # the role's part in the stack: scheduler, webserver, worker, cluster-load
    session: str  # the session's name: the instance id, or the function's name


def access_key_id(role: str, session: str) -> str:
    return "ASIA" + hashlib.sha256(f"{role}/{session}".encode()).hexdigest()[:16].upper()


def issue(workdir: Path, session: Session) -> dict[str, str]:
    """Credentials for `session`, registered in `workdir`'s registry."""
    key = access_key_id(session.role, session.session)
    with _lock:
        path = workdir / REGISTRY
        registry = json.loads(path.read_text()) if path.is_file() else {}
        registry[key] = dataclasses.asdict(session)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(registry, indent=1))
        temporary.replace(path)
    secret = hashlib.sha256(f"secret/{key}".encode()).hexdigest()
    return {"AccessKeyId": key, "SecretAccessKey": secret, "Token": f"session/{key}"}


def registered(workdir: Path) -> dict[str, Session]:
    path = workdir / REGISTRY
    if not path.is_file():
        return {}
    return {key: Session(**entry) for key, entry in json.loads(path.read_text()).items()}
