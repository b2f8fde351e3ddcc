"""IAM evaluated live in the rehearsal's embedded AWS, for every call an instance or the Lambda makes.

A request signed with a session's credentials (turbine_dev.rehearsal.host.role_credentials: an instance's,
from the metadata service, or the load function's) is mapped to the IAM requests it makes
(turbine_dev.strict.iam_requests) and evaluated against the policies of the session's role as the stack
created it in moto's IAM: its inline policies, and its managed ones (the stack's own and AWS's), with AWS's
evaluation logic (turbine_dev.strict.iam_evaluation). A request the policies do not allow, or one the
mapping cannot map (the harsher reading), is refused as the service refuses it: the service's error code
and AWS's wording ("Troubleshoot access denied error messages",
https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html), in the service's protocol
(JSON: "__type" and "message"; query: an ErrorResponse; S3: an Error document, 403 Forbidden).
A request with a key no session holds is refused too; only the harness's own key (it stands for
CloudFormation, Auto Scaling and the administrator) is not evaluated.

Every evaluation is one line of `iam-calls.jsonl` in the rehearsal's folder; `summary()` turns them into the
report's `iam` section.
"""

from __future__ import annotations

import collections
import io
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from turbine_dev.rehearsal.host import role_credentials
from turbine_dev.strict import iam_requests
from turbine_dev.strict.iam_evaluation import ACCESS_DENIED_CODES, Decision, Request, access_denied, evaluate
from turbine_dev.strict.role_permissions import policy_document, unused_actions

CALLS = "iam-calls.jsonl"
PROBE = ":probe"  # the label suffix of the harness's probes (rehearsal/boot_profiles.py)
ACCOUNT = "123456789012"  # moto's default account, the stack's
_JSON_SERVICES = {"sqs", "dynamodb", "secretsmanager", "ssm", "logs", "cloudwatch"}


class MotoResolver:
    """The generated parts of ARNs, from the moto of this process."""

    def __init__(self, account: str = ACCOUNT) -> None:
        self.account = account

    @staticmethod
    def _backend(service: str, account: str, region: str) -> Any:
        from moto.backends import get_backend  # noqa: PLC0415 - moto only in the embedded AWS's process

        return get_backend(service)[account][region]  # type: ignore[call-overload]

    def secret_arn(self, region: str, secret_id: str) -> str | None:
        secrets = self._backend("secretsmanager", self.account, region).secrets
        for secret in list(secrets.values()):
            if secret_id in (secret.name, secret.arn):
                return str(secret.arn)
        return None

    def group_arn(self, region: str, group_name: str) -> str | None:
        group = self._backend("autoscaling", self.account, region).autoscaling_groups.get(group_name)
        return None if group is None else str(group.arn)

    def group_of_instance(self, region: str, instance_id: str) -> str | None:
        groups = self._backend("autoscaling", self.account, region).autoscaling_groups
        for name, group in list(groups.items()):
            if instance_id in {state.instance.id for state in group.instance_states}:
                return str(name)
        return None

    def stack_arn(self, region: str, stack: str) -> str | None:
        stacks = self._backend("cloudformation", self.account, region).stacks
        for found in list(stacks.values()):
            if stack in (found.name, found.stack_id) and found.status != "DELETE_COMPLETE":
                return str(found.stack_id)
        return None

    def profile_association(self, region: str, association_id: str) -> tuple[str, str] | None:
        associations = self._backend("ec2", self.account, region).iam_instance_profile_associations
        for instance_id, association in list(associations.items()):
            if association.association_id == association_id:
                return str(instance_id), str(association.iam_instance_profile.arn)
        return None

    def profile_role(self, profile: str) -> tuple[str, str] | None:
        iam = self._backend("iam", self.account, "global")
        for found in list(iam.instance_profiles.values()):
            if profile in (found.name, found.arn) and len(found.roles) == 1:
                return str(found.arn), str(found.roles[0].arn)
        return None

    def policies(self, role_name: str) -> list[dict[str, Any]]:
        """The role's inline and managed policies (the default version), as moto's IAM holds them."""
        iam = self._backend("iam", self.account, "global")
        role = iam.get_role(role_name)
        documents = [policy_document(raw) for raw in role.policies.values()]
        for managed in role.managed_policies.values():
            default = next((v for v in managed.versions if v.version_id == managed.default_version_id), None)
            if default is not None and default.document:
                documents.append(policy_document(default.document))
        return documents


def principal(session: role_credentials.Session, account: str = ACCOUNT) -> str:
    """An assumed role's session as IAM names it in a refusal."""
    return f"arn:aws:sts::{account}:assumed-role/{session.role}/{session.session}"


def refusal(
    service: str, json_protocol: bool, code: str, message: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """(status, headers, body) of a refused request, in the service's protocol."""
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if service == "s3":
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{_xml(message)}'
                f"</Message><RequestId>{request_id}</RequestId></Error>").encode()  # fmt: skip
        return "403 Forbidden", [*headers, ("Content-Type", "application/xml")], body
    if json_protocol:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", code)]
        if service == "sqs":  # SQS's JSON protocol keeps its query error codes (awsQueryCompatible)
            headers.append(("x-amzn-query-error", f"{code};Sender"))
        return "400 Bad Request", headers, body
    if service == "ec2":
        # EC2's query protocol: UnauthorizedOperation under Response/Errors, whichever permission was missing
        # (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).
        body = ("<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized "
                f"to perform this operation. {_xml(message)}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>").encode()  # fmt: skip
        return "403 Forbidden", [*headers, ("Content-Type", "text/xml")], body
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{_xml(message)}</Message>"
            f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()  # fmt: skip
    return "403 Forbidden", [*headers, ("Content-Type", "text/xml")], body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class IamEnforcement:
    """WSGI middleware: evaluates every request signed with a session's key before `app` serves it."""

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        workdir: Path,
        unevaluated_keys: Iterable[str],
        resolver: MotoResolver | None = None,
    ) -> None:
        self.app = app
        self.workdir = workdir
        self.unevaluated = frozenset(unevaluated_keys)
        self.resolver = resolver or MotoResolver()
        self.sessions: dict[str, role_credentials.Session] = {}
        self._lock = threading.Lock()

    def session(self, key: str) -> role_credentials.Session | None:
        if key not in self.sessions:
            self.sessions = role_credentials.registered(self.workdir)
        return self.sessions.get(key)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        request = http_request(environ, body)
        signed = iam_requests.signature(request)
        if signed is None or signed.access_key_id in self.unevaluated:
            return self.app(environ, start_response)
        refused = self.evaluate(request, signed)
        if refused is None:
            return self.app(environ, start_response)
        status, headers, answer = refused
        start_response(status, [*headers, ("Content-Length", str(len(answer)))])
        return [answer]

    def evaluate(
        self, request: iam_requests.HttpRequest, signed: iam_requests.Signature
    ) -> tuple[str, list[tuple[str, str]], bytes] | None:
        """None when every IAM request of `request` is allowed; else the refusal to answer."""
        session = self.session(signed.access_key_id)
        service = "cloudwatch" if signed.service == "monitoring" else signed.service
        json_protocol = bool(request.header("x-amz-target")) and service in _JSON_SERVICES
        who = (
            role_credentials.Session("unknown", "unknown", signed.access_key_id)
            if session is None
            else session
        )
        try:
            evaluated = iam_requests.iam_requests(request, ACCOUNT, self.resolver)
        except iam_requests.Unmapped as unmapped:
            denied = Request(unmapped.action if ":" in unmapped.action else f"{service}:unknown", "*")
            self.record(who, denied, Decision(allowed=False), f"not mapped: {unmapped.reason}")
            code = ACCESS_DENIED_CODES.get(service, "AccessDenied")
            return refusal(service, json_protocol, code, access_denied_message(who, denied))
        policies = [] if session is None else self.resolver.policies(session.role)
        for one in evaluated:
            decision = evaluate(policies, one) if session is not None else Decision(allowed=False)
            self.record(who, one, decision, None if session is not None else "no session holds this key")
            if not decision.allowed:
                code, message = access_denied(principal(who), one, decision)
                return refusal(service, json_protocol, code, message)
        return None

    def record(
        self, session: role_credentials.Session, request: Request, decision: Decision, note: str | None
    ) -> None:
        entry = {"label": session.label, "role": session.role, "session": session.session,
                 "action": request.action, "resource": request.resource, "allowed": decision.allowed,
                 "statement": decision.statement, "note": note}  # fmt: skip
        with self._lock, (self.workdir / CALLS).open("a") as calls:
            calls.write(json.dumps(entry) + "\n")


def access_denied_message(session: role_credentials.Session, request: Request) -> str:
    return access_denied(principal(session), request, Decision(allowed=False))[1]


def http_request(environ: Mapping[str, Any], body: bytes) -> iam_requests.HttpRequest:
    headers = {
        key[5:].replace("_", "-").lower(): str(value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    }
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = str(environ["CONTENT_TYPE"])
    return iam_requests.HttpRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")),
        path=str(environ.get("PATH_INFO", "/")),
        query=str(environ.get("QUERY_STRING", "")),
        headers=headers,
        body=body,
    )


def summary(workdir: Path, own_policies: Callable[[str], list[dict[str, Any]]]) -> dict[str, Any]:
    """The report's `iam` section: per role (by its part in the stack), the calls evaluated, those allowed
    (action and resource, with how many times), those denied, and the actions its own policies (the stack's,
    not AWS's managed ones) grant that no allowed call used. `own_policies(role name)` reads them."""
    path = workdir / CALLS
    entries = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    roles: dict[str, Any] = {}
    counts: dict[str, collections.Counter[tuple[str, str]]] = collections.defaultdict(collections.Counter)
    for entry in entries:
        if entry["label"].endswith(PROBE):
            continue  # the harness's own probes (rehearsal/boot_profiles.py), not a call of the stack's
        role = roles.setdefault(entry["label"], {"role": entry["role"], "calls": 0, "denied": []})
        role["calls"] += 1
        if entry["allowed"]:
            counts[entry["label"]][(entry["action"], entry["resource"])] += 1
        else:
            denied = {key: entry[key] for key in ("session", "action", "resource", "note")}
            if denied not in role["denied"]:
                role["denied"].append(denied)
    for label, role in roles.items():
        role["allowed"] = [
            {"action": action, "resource": resource, "count": count}
            for (action, resource), count in sorted(counts[label].items())
        ]
        used = {action for action, _ in counts[label]}
        role["unused"] = [] if label == "unknown" else unused_actions(own_policies(role["role"]), used)
    return roles
