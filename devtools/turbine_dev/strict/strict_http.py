"""The HTTP side of the strict embedded AWS: faults, lost responses, the kill hook, the control endpoint.

Dev and test tooling only; wraps moto's WSGI application (see `turbine_dev.aws.moto_server`).

- Injected faults, drawn per AWS call from a generator seeded with `fault_seed`, at `fault_rate`,
  among `fault_kinds`, for the services in `fault_services` (empty: every service), each in the
  error format of the service's protocol: `throttling` (400 Throttling "Rate exceeded"; S3: 503
  SlowDown), `internal` (500 InternalFailure), `unavailable` (503 ServiceUnavailable) and
  `connection` (the connection is shut down without a response). A throttled call never
  happened. An injected 5xx or dropped connection happened with its response lost in a
  `lose_response_rate` share of cases, else did not happen: AWS documents that a 5xx or a
  timeout leaves the outcome unknown, which is why ClientRequestToken exists.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/CommonErrors.html
  https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
- Kill after mutation: once a mutating CloudFormation call has been applied and its response
  written, SIGKILL the registered pid with the registered probability (own seeded generator),
  `kill_delay_seconds` later (so the client has read the answer, and dies before acting on it).
- Control endpoint (loopback only, like the server): `GET|POST /_turbine/config` (JSON body:
  settings to change; answers every setting), `POST /_turbine/kill-after-mutation` (JSON
  `{"pid": int|null, "probability": float, "seed": int}`; pid null disables),
  `GET /_turbine/stats`, `POST /_turbine/stats/reset`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import re
import signal
import socket
import threading
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from turbine_dev.strict.strict_state import STATE, KillHook

MUTATING_CLOUDFORMATION = frozenset(
    {
        "CreateStack",
        "UpdateStack",
        "DeleteStack",
        "CreateChangeSet",
        "ExecuteChangeSet",
        "DeleteChangeSet",
        "UpdateTerminationProtection",
        "SetStackPolicy",
        "CancelUpdateStack",
        "ContinueUpdateRollback",
        "RollbackStack",
    }
)
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_ERRORS = {  # kind -> (HTTP status, code for query/json protocols, message)
    "throttling": (400, "Throttling", "Rate exceeded"),
    "internal": (500, "InternalFailure", "The request processing has failed because of an unknown error"),
    "unavailable": (503, "ServiceUnavailable", "The service is unavailable. Please try again later."),
}
_S3_ERRORS = {
    "throttling": (503, "SlowDown", "Please reduce your request rate."),
    "internal": (500, "InternalError", "We encountered an internal error. Please try again."),
    "unavailable": (503, "ServiceUnavailable", "Service is unable to handle request."),
}

StartResponse = Callable[..., Any]


class Call:
    """What the fault and kill rules need to know about one AWS request."""

    def __init__(self, environ: dict[str, Any], body: bytes) -> None:
        scope = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        self.service = scope.group(1) if scope else "unknown"
        content_type = environ.get("CONTENT_TYPE", "")
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if "json" in content_type or target:
            self.protocol = "json"
            self.action = target.rpartition(".")[2] or environ.get("PATH_INFO", "")
        elif self.service == "s3":
            self.protocol = "s3"
            self.action = environ.get("REQUEST_METHOD", "")
        else:
            self.protocol = "ec2" if self.service == "ec2" else "query"
            form = urllib.parse.parse_qs(body.decode(errors="replace")) if body else {}
            query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
            self.action = (form.get("Action") or query.get("Action") or [""])[0]

    @property
    def mutates_a_stack(self) -> bool:
        return self.service == "cloudformation" and self.action in MUTATING_CLOUDFORMATION

    def error(self, kind: str) -> tuple[str, list[tuple[str, str]], bytes]:
        status, code, message = (_S3_ERRORS if self.protocol == "s3" else _ERRORS)[kind]
        request_id = str(uuid.uuid4())
        reason = {400: "Bad Request", 500: "Internal Server Error", 503: "Service Unavailable"}[status]
        headers = [("x-amzn-RequestId", request_id)]
        if self.protocol == "json":
            json_code = "ThrottlingException" if kind == "throttling" else code
            body = json.dumps({"__type": json_code, "message": message}).encode()
            headers += [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-ErrorType", json_code)]
        elif self.protocol == "s3":
            body = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
            headers.append(("Content-Type", "application/xml"))
        elif self.protocol == "ec2":
            body = (
                f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
                f"<RequestID>{request_id}</RequestID></Response>"
            ).encode()
            headers.append(("Content-Type", "text/xml"))
        else:
            kind_of_fault = "Sender" if status < 500 else "Receiver"
            body = (
                f"<ErrorResponse><Error><Type>{kind_of_fault}</Type><Code>{code}</Code>"
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            ).encode()
            headers.append(("Content-Type", "text/xml"))
        headers.append(("Content-Length", str(len(body))))
        return f"{status} {reason}", headers, body


class _Answer:
    """A response body whose `close()` (called by the server once it is written) runs `after`."""

    def __init__(self, body: bytes, after: Callable[[], None] | None) -> None:
        self.body, self.after = body, after

    def __iter__(self) -> Iterator[bytes]:
        yield self.body

    def close(self) -> None:
        if self.after is not None:
            self.after()


def _kill_later(pid: int, delay: float) -> None:
    def kill() -> None:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        with STATE.lock:
            STATE.counters["kills"] += 1

    threading.Timer(delay, kill).start()


class StrictAwsMiddleware:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        if path.startswith("/_turbine/"):
            return self.control(environ, path, body, start_response)
        with STATE.lock, STATE.one_instant():
            STATE.advance()
            if path.startswith("/moto-api"):
                status, headers, answer = self.serve(environ)
                if path.startswith("/moto-api/reset"):
                    STATE.forget_world()
                start_response(status, headers)
                return [answer]
            return self.aws_call(environ, body, start_response)

    def serve(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            captured.update(status=status, headers=headers)

        chunks = self.app(environ, capture)
        try:
            answer = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        return captured["status"], captured["headers"], answer

    def aws_call(
        self, environ: dict[str, Any], body: bytes, start_response: StartResponse
    ) -> Iterable[bytes]:
        call = Call(environ, body)
        STATE.counters["calls"] += 1
        STATE.counters[f"call.{call.service}.{call.action}"] += 1
        fault = STATE.draw_fault(call.service)
        applied = fault is None or STATE.draw_response_lost(fault)
        if applied:
            status, headers, answer = self.serve(environ)
        if fault is not None:
            STATE.counters[f"fault.{fault}"] += 1
            if applied:
                STATE.counters["responses_lost"] += 1
            if fault == "connection":
                return self.drop(environ)
            status, headers, answer = call.error(fault)
            start_response(status, headers)
            return [answer]
        after = None
        if call.mutates_a_stack and status.startswith("2"):
            STATE.counters["mutations"] += 1
            pid = STATE.draw_kill()
            if pid is not None:
                delay = STATE.settings.kill_delay_seconds
                after = lambda: _kill_later(pid, delay)  # noqa: E731
        start_response(status, headers)
        return _Answer(answer, after)

    @staticmethod
    def drop(environ: dict[str, Any]) -> Iterable[bytes]:
        """Shuts the connection down without a response; the server then gives up on it."""
        connection = environ.get("werkzeug.socket")
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        return []

    def control(
        self, environ: dict[str, Any], path: str, body: bytes, start_response: StartResponse
    ) -> Iterable[bytes]:
        try:
            request = json.loads(body) if body.strip() else {}
            with STATE.lock:
                answer = self.controlled(environ.get("REQUEST_METHOD", "GET"), path, request)
            status = "200 OK"
        except (ValueError, TypeError, KeyError) as error:
            answer, status = {"error": str(error)}, "400 Bad Request"
        payload = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
        return [payload]

    @staticmethod
    def controlled(method: str, path: str, request: dict[str, Any]) -> dict[str, Any]:
        if path == "/_turbine/config":
            if method == "POST":
                STATE.configure(request)
            return STATE.settings.as_dict()
        if path == "/_turbine/kill-after-mutation" and method == "POST":
            pid = request.get("pid")
            STATE.kill = (
                None
                if pid is None
                else KillHook(
                    int(pid),
                    float(request.get("probability", 1.0)),
                    random.Random(int(request.get("seed", 0))),  # noqa: S311 - reproducible, not a secret
                )
            )
            return {
                "pid": pid,
                "probability": request.get("probability", 1.0),
                "seed": request.get("seed", 0),
            }
        if path == "/_turbine/stats":
            return STATE.stats()
        if path == "/_turbine/stats/reset" and method == "POST":
            STATE.counters.clear()
            return STATE.stats()
        raise KeyError(f"no control {method} {path}")
