"""Entry point of the embedded AWS: moto in server mode, bound to loopback.

Started as `python -m turbine_dev.moto_server PORT`. This is the one place where moto may be
extended for the dev and test tooling (never from the product's runtime path).
"""

from __future__ import annotations

import sys

from moto import server

from turbine_dev import moto_cfn_resources, moto_drift, moto_extensions


def main(argv: list[str]) -> None:
    port = argv[0] if argv else "5000"
    moto_extensions.install()
    moto_cfn_resources.install()
    moto_drift.install()
    server.main(["--host", "127.0.0.1", "--port", port])


if __name__ == "__main__":
    main(sys.argv[1:])
