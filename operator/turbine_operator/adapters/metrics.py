"""Prometheus metrics of the operator itself, and the HTTP server that exposes them."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, start_http_server

RECONCILES = Counter(
    "turbine_reconciles_total", "Reconciles of TurbineStacks, by trigger and result.", ["trigger", "result"]
)
RECONCILE_DURATION = Histogram(
    "turbine_reconcile_duration_seconds", "Time one reconcile takes, AWS calls included.", ["trigger"]
)
AWS_REQUESTS = Counter(
    "turbine_aws_requests_total",
    "AWS API requests, by service, operation and outcome.",
    ["service", "operation", "outcome"],
)
AWS_THROTTLED = Counter(
    "turbine_aws_throttled_requests_total",
    "AWS API requests refused by throttling.",
    ["service", "operation"],
)

_THROTTLING = frozenset(
    {"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException", "SlowDown"}
)


def observe_client(client: Any) -> None:
    """Counts every request a boto3 client makes (retries included), by outcome."""
    service = client.meta.service_model.service_name

    def after_call(model: Any, parsed: Any, **_: Any) -> None:
        error = (parsed or {}).get("Error", {}).get("Code") if isinstance(parsed, dict) else None
        outcome = "error" if error else "ok"
        if error in _THROTTLING:
            outcome = "throttled"
            AWS_THROTTLED.labels(service, model.name).inc()
        AWS_REQUESTS.labels(service, model.name, outcome).inc()

    def after_error(model: Any, **_: Any) -> None:
        AWS_REQUESTS.labels(service, model.name, "error").inc()

    client.meta.events.register("after-call", after_call)
    client.meta.events.register("after-call-error", after_error)


class MetricsServer:
    def __init__(self, address: str, port: int, registry: CollectorRegistry = REGISTRY) -> None:
        self._server, self._thread = start_http_server(port, addr=address, registry=registry)

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
