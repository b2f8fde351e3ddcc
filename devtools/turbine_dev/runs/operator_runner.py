"""Runs the operator in-process (kopf's KopfRunner) and reports what went wrong in it.

kopf logs handler exceptions and retries instead of raising them, so a runner that only looked
at the exit code would hide failures. This one collects every ERROR record and every uncaught
exception and fails the `with` block on them.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence

from kopf.testing import KopfRunner

STARTUP_TIMEOUT = 30.0


STARTED_MESSAGE = "Turbine Operator started"
# kopf logs at ERROR level both every TemporaryError (the operator's planned waits) and every
# Kubernetes API request it is about to retry (e.g. a 429 while the API server re-initialises its
# watch cache). Neither is a failure unless the retries run out, which kopf logs differently.
PLANNED_RETRIES = ("failed temporarily", "failed; will retry")


class _ErrorCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.records: list[logging.LogRecord] = []
        self.started = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.ERROR and not any(retry in message for retry in PLANNED_RETRIES):
            self.records.append(record)
            self.started.set()  # wakes the waiter, which then reports the error
        elif STARTED_MESSAGE in message:
            self.started.set()


class OperatorRun:
    def __init__(self, collector: _ErrorCollector) -> None:
        self._collector = collector

    @property
    def errors(self) -> list[str]:
        return [self._collector.format(record) for record in self._collector.records]


@contextlib.contextmanager
def running_operator(
    namespaces: Sequence[str], *, allowed_errors: Sequence[str] = (), timeout: float = 60.0
) -> Iterator[OperatorRun]:
    """Runs `kopf run -m turbine_operator.main --standalone` for the given namespaces.

    Raises on exit if kopf crashed or logged an error that matches none of `allowed_errors`.
    """
    collector = _ErrorCollector()
    collector.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(collector)
    argv = ["run", "--standalone", "-m", "turbine_operator.main", "--verbose"]
    argv += [f"--namespace={namespace}" for namespace in namespaces] or ["--all-namespaces"]
    run = OperatorRun(collector)
    try:
        # KopfRunner re-raises a crash of the operator when the block exits.
        with KopfRunner(argv, timeout=timeout):
            if not collector.started.wait(STARTUP_TIMEOUT):
                raise AssertionError(f"the operator did not start within {STARTUP_TIMEOUT:.0f} s")
            if run.errors:
                raise AssertionError("the operator failed to start:\n" + "\n".join(run.errors))
            yield run
    finally:
        root.removeHandler(collector)
    unexpected = [error for error in run.errors if not any(allowed in error for allowed in allowed_errors)]
    if unexpected:
        raise AssertionError("the operator logged errors:\n" + "\n".join(unexpected))
