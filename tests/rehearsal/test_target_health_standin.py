"""The load balancer stand-in's health checks follow Elastic Load Balancing's documented rules.

https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from turbine_dev.rehearsal.services.target_health import HealthCheck, HealthChecker, Target, probe

CHECK = HealthCheck(
    arn="tg",
    port=0,
    path="/api/v2/monitor/health",
    interval=10,
    timeout=1,
    healthy_threshold=3,
    unhealthy_threshold=2,
    matcher="200",
    deregistration_delay=30,
)
FAILED = ("Target.FailedHealthChecks", "Health checks failed")


def states(target: Target, outcomes: list[tuple[str, str] | None]) -> list[str]:
    seen = []
    for outcome in outcomes:
        target.observe(CHECK, outcome)
        seen.append(target.state)
    return seen


def test_a_new_target_is_healthy_after_one_passing_check() -> None:
    assert states(Target(), [None]) == ["healthy"]


def test_a_new_target_is_unhealthy_after_the_unhealthy_threshold() -> None:
    assert states(Target(), [FAILED, FAILED]) == ["initial", "unhealthy"]


def test_a_healthy_target_needs_the_thresholds_to_change_state() -> None:
    target = Target()
    assert states(target, [None, FAILED, None, FAILED, FAILED]) == [
        "healthy", "healthy", "healthy", "healthy", "unhealthy",
    ]  # fmt: skip
    assert target.reason == "Target.FailedHealthChecks"
    # Back only after HealthyThresholdCount consecutive passes.
    assert states(target, [None, None, FAILED, None, None, None]) == [
        "unhealthy", "unhealthy", "unhealthy", "unhealthy", "unhealthy", "healthy",
    ]  # fmt: skip
    assert target.record() == {"State": "healthy"}


@pytest.fixture
def server() -> Iterator[tuple[ThreadingHTTPServer, dict[str, Any]]]:
    behaviour: dict[str, Any] = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return

        def do_GET(self) -> None:
            assert self.path == CHECK.path
            self.send_response(int(behaviour["status"]))
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd, behaviour
    httpd.shutdown()


def test_probes_answer_the_documented_reason_codes(
    server: tuple[ThreadingHTTPServer, dict[str, Any]],
) -> None:
    httpd, behaviour = server
    check = HealthCheck(**{**CHECK.__dict__, "port": httpd.server_address[1]})
    assert probe(check, "127.0.0.1") is None
    behaviour["status"] = 503
    assert probe(check, "127.0.0.1") == (
        "Target.ResponseCodeMismatch", "Health checks failed with these codes: [503]",
    )  # fmt: skip
    httpd.shutdown()
    httpd.server_close()
    assert probe(check, "127.0.0.1") == FAILED


def test_requests_go_to_healthy_targets_or_to_all_when_none_is_healthy(tmp_path: Any) -> None:
    """An ALB fails open: "If a target group contains only unhealthy registered targets, the load
    balancer routes requests to all those targets"; a draining target gets no new request."""
    checker = HealthChecker(elbv2=None, addresses=dict, observations=tmp_path / "health.json")
    checker.targets = {"tg": {"i-1": Target(state="unhealthy"), "i-2": Target(state="draining")}}
    assert checker.routable() == ["i-1"]
    checker.targets["tg"]["i-3"] = Target(state="healthy", reason=None, description=None)
    assert checker.routable() == ["i-3"]
    checker.write()
    assert json.loads((tmp_path / "health.json").read_text())["tg"]["i-3"] == {"State": "healthy"}
