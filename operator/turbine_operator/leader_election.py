"""`turbine-operator run --leader-elect`: the operator starts only once this replica holds the Lease.

A standby waits (answering its liveness probe meanwhile), takes over when the leader's Lease is not
renewed for a lease duration, and the leader exits at once when it cannot renew: Kubernetes restarts
it as a standby. At a clean shutdown the leader hands the Lease over, so a rollout switches at once.
"""

from __future__ import annotations

import contextlib
import http.server
import logging
import os
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator

from turbine_operator.adapters.kube.cluster import api_client
from turbine_operator.adapters.kube.leases import Leases
from turbine_operator.adapters.metrics import LEADING, MetricsServer
from turbine_operator.operations.fleet.leadership import LeaderElector


def identity() -> str:
    """The pod's name in a cluster (one process per pod), the host and process elsewhere."""
    return os.environ.get("POD_NAME") or f"{socket.gethostname()}_{os.getpid()}"


class _Alive(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"standby\n")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        return


@contextlib.contextmanager
def _standby_liveness(url: str | None) -> Iterator[None]:
    """Answers the liveness URL while the replica waits; kopf serves it once the operator runs."""
    if not url:
        yield
        return
    parsed = urllib.parse.urlsplit(url)
    server = http.server.ThreadingHTTPServer((parsed.hostname or "0.0.0.0", parsed.port or 80), _Alive)  # noqa: S104
    thread = threading.Thread(target=server.serve_forever, name="turbine-standby-liveness", daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _standby_metrics(metrics: tuple[str, int] | None) -> Iterator[None]:
    """Serves /metrics while the replica waits, turbine_operator_leading 0 among them: a standby that
    answers its scrape is up, and only one that does not answer is down. The operator serves them again on
    the same port once it runs (the standby's server stops first)."""
    if metrics is None:
        yield
        return
    LEADING.set(0)
    server = MetricsServer(*metrics)
    try:
        yield
    finally:
        server.stop()


@contextlib.contextmanager
def _election_log() -> Iterator[None]:
    """Prints the election's messages until kopf starts and sets up logging for the whole process."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s [%(levelname)-8s] %(name)s: %(message)s"))
    logger = logging.getLogger("turbine_operator")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def run_as_leader(
    run: Callable[[], None],
    namespace: str,
    lease_name: str,
    liveness_url: str | None,
    metrics: tuple[str, int] | None = None,
) -> int:
    """Runs `run` (the operator) while this replica holds the Lease `namespace/lease_name`; `metrics` is the
    (address, port) the operator serves its metrics on, None for none."""
    elector = LeaderElector(Leases(api_client(), namespace, lease_name), identity())
    stop = threading.Event()
    with _standby_liveness(liveness_url), _standby_metrics(metrics), _election_log():
        if not elector.acquire(stop):
            return 0
    keeper = elector.keep(stop, on_lost=lambda: os._exit(1))
    try:
        run()
    finally:
        stop.set()
        keeper.join(timeout=10)
        elector.release()
    return 0
