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
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

from turbine_dev.aws import (
    moto_autoscaling,
    moto_cfn_resources,
    moto_drift,
    moto_extensions,
    moto_resource_names,
    moto_route53_alias,
    moto_sqs,
    moto_target_health,
    moto_update_policy,
)
from turbine_dev.strict import strict_cfn, strict_request_limits
from turbine_dev.strict.strict_http import StrictAwsMiddleware


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


def main(argv: list[str]) -> None:
    port = int(argv[0]) if argv else 5000
    os.environ.setdefault("MOTO_PORT", str(port))  # as moto's server does: Lambda callbacks find it
    moto_extensions.install()
    moto_autoscaling.install()
    moto_sqs.install()
    moto_cfn_resources.install()
    moto_drift.install()
    moto_resource_names.install()
    moto_update_policy.install()
    moto_route53_alias.install()
    moto_target_health.install()
    strict_cfn.install()
    strict_request_limits.install()
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    app = _Dispatcher(create_backend_app)
    app.debug = True  # type: ignore[attr-defined]  # as moto's server: errors answer with their cause
    run_simple("127.0.0.1", port, StrictAwsMiddleware(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main(sys.argv[1:])
