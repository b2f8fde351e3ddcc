"""`python -m turbine_dev.rehearsal [--workdir DIR]`: the boot rehearsal; `make rehearsal` runs it.

Prints a JSON report (figures, signals, checks) on stdout; exits non-zero when a check fails.
The image (Airflow from the shipped lock, the AWS CLI) is prepared first, with the machine's
network; the rehearsal itself then runs in a network namespace of its own, the stand-in VPC.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from turbine_dev.rehearsal.host import image
from turbine_dev.rehearsal.services import package_index

INSIDE = "TURBINE_REHEARSAL_INSIDE"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m turbine_dev.rehearsal", description=__doc__)
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where instances keep their files and logs"
    )
    parser.add_argument("--report", type=Path, default=None, help="also write the JSON report here")
    options = parser.parse_args()
    if os.environ.get(INSIDE):
        from turbine_dev.rehearsal.run import rehearse  # noqa: PLC0415

        return rehearse(options.workdir, options.report)
    cache = image.cache()
    if cache.is_relative_to("/tmp"):  # noqa: S108 - a check, not a use
        # The image's commands are linked from the cache, and every instance has a /tmp of its own.
        print(f"The rehearsal's cache {cache} is under /tmp, which instances cannot see: set XDG_CACHE_HOME"
              " to a folder elsewhere", file=sys.stderr)  # fmt: skip
        return 2
    started = time.monotonic()
    lock = image.shipped_lock()
    venv = image.airflow_venv(lock)
    image.awscli()
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="turbine-rehearsal-"))
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    env = {
        **os.environ,
        INSIDE: "1",
        "TURBINE_REHEARSAL_VENV": str(venv),
        "TURBINE_REHEARSAL_PACKAGE_INDEX": str(package_index.wheelhouse(lock, image.cache())),
        "TURBINE_REHEARSAL_IMAGE_SECONDS": f"{time.monotonic() - started:.1f}",
    }
    command = ["unshare", "--net", "--mount", "--propagation", "private", "--",
               sys.executable, "-m", "turbine_dev.rehearsal", "--workdir", str(workdir)]  # fmt: skip
    if options.report:
        command += ["--report", str(options.report)]
    return subprocess.run(command, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
