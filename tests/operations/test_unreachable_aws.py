"""AWS that never answers (connection refused): counted, mapped to a transient error, reported as Retrying.

A real botocore client (no Stubber) points at a loopback port where nothing listens, so botocore
raises its own EndpointConnectionError and emits `after-call-error`, exactly as when a region's
endpoint does not resolve or a connection drops.
"""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from stubbed.aws import REGION, SOURCES, isolate_aws_environment, spec
from stubbed.cluster import ObjectsInMemory
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.cloudformation import StackGateway
from turbine_operator.adapters.metrics import observe_client
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.errors import TransientAwsError
from turbine_operator.operations.stack.reconcile import Reconciler

from .harness import NOW, conditions, stack_resource


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound (so nobody else takes it) but never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        yield int(holder.getsockname()[1])


@pytest.fixture
def unreachable(closed_port: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AwsSessions:
    isolate_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    # One attempt: botocore's retries of a refused connection only add backoff sleeps here.
    return AwsSessions(max_attempts=1, observer=observe_client)


def _count(operation: str, outcome: str) -> float:
    labels = {"service": "cloudformation", "operation": operation, "outcome": outcome}
    return REGISTRY.get_sample_value("turbine_aws_requests_total", labels) or 0.0


def test_a_refused_connection_is_a_transient_error_and_is_counted(unreachable: AwsSessions) -> None:
    before = _count("DescribeStacks", "connection_error")

    with pytest.raises(TransientAwsError) as caught:
        StackGateway(unreachable, REGION, None).describe_stack("turbine-demo")

    assert caught.value.code == "EndpointConnectionError"
    assert _count("DescribeStacks", "connection_error") == before + 1


def test_reconcile_reports_retrying_when_aws_refuses_connections(unreachable: AwsSessions) -> None:
    settings = OperatorSettings(default_region=REGION, poll_interval=15.0)
    reconciler = Reconciler(unreachable, SOURCES, settings, ObjectsInMemory(), clock=lambda: NOW)

    outcome = reconciler.reconcile(stack_resource(spec()))

    ready = conditions(outcome)["Ready"]
    assert ready["status"] == "False"
    assert ready["reason"] == "Retrying"
    assert "EndpointConnectionError" in ready["message"]
    assert outcome.retry_after == settings.poll_interval


class _HtmlPage(http.server.BaseHTTPRequestHandler):
    """What answers where a region's endpoint should be but no AWS is: a proxy's or portal's HTML page."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"<!DOCTYPE html><html><head><meta charset=utf-8><title>Sign in</title></head></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class names it so
        pass


@pytest.fixture
def html_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AwsSessions]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HtmlPage)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    isolate_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        yield AwsSessions(max_attempts=1)
    finally:
        server.shutdown()
        server.server_close()


def test_an_endpoint_that_does_not_answer_as_aws_stalls_naming_the_region(html_endpoint: AwsSessions) -> None:
    settings = OperatorSettings(default_region=REGION, poll_interval=15.0)
    reconciler = Reconciler(html_endpoint, SOURCES, settings, ObjectsInMemory(), clock=lambda: NOW)

    outcome = reconciler.reconcile(stack_resource(spec()))

    stalled = conditions(outcome)["Stalled"]
    assert stalled["status"] == "True"
    assert stalled["reason"] == "AwsEndpointUnusable"
    assert stalled["message"].startswith(f"spec.region: no AWS endpoint answers for {REGION}")
    assert "ResponseParserError" in stalled["message"]
    assert "<html" not in stalled["message"]  # the page it could not read is not quoted
