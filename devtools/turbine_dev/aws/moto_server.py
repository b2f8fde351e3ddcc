"""Entry point of the embedded AWS: moto in server mode, bound to loopback, made strict.

Started as `python -m turbine_dev.aws.moto_server PORT`. This is the one place where moto may be
extended for the dev and test tooling (never from the product's runtime path). The application
is moto's own, wrapped by `strict_http.StrictAwsMiddleware` (faults, kill hook, control endpoint)
and served by werkzeug as `moto_server` serves it.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from turbine_dev.aws.extensions import install_all
from turbine_dev.strict.strict_http import StrictAwsMiddleware

WsgiApp = Callable[..., Iterable[bytes]]


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, with the backend of each host remembered: moto looks it up on every request by
    scanning its module list, a sixth of the time it spends on a DescribeStacks (benchmarks of 1,000
    stacks were measuring the emulator, not the operator)."""

    def __init__(self, create_app: Any) -> None:
        super().__init__(create_app)
        self._backends: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        if host not in self._backends:
            self._backends[host] = super().get_backend_for_host(host)
        return self._backends[host]


def _exit(signum: int, frame: Any) -> None:
    sys.exit(0)


def serve(host: str, port: int, wrap: Callable[[WsgiApp], WsgiApp] = StrictAwsMiddleware) -> None:
    """Serves moto's application, wrapped by `wrap`, on host:port until SIGTERM or SIGINT (the extensions
    are installed by then: `turbine_dev.aws.extensions.install_all`)."""
    os.environ.setdefault("MOTO_PORT", str(port))  # as moto's server does: Lambda callbacks find it
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    app = _Dispatcher(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]  # as moto's server: errors answer with their cause
    run_simple(host, port, wrap(app), threaded=True, request_handler=MotoRequestHandler)


def main(argv: list[str]) -> None:
    install_all()
    serve("127.0.0.1", int(argv[0]) if argv else 5000)


if __name__ == "__main__":
    main(sys.argv[1:])
