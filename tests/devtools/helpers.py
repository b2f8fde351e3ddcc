"""Helpers of the emulator's tests."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.config import Config

from turbine_dev.aws.embedded_aws import EmbeddedAws

T = TypeVar("T")


def no_retries(aws: EmbeddedAws, service: str) -> Any:
    """A client that reports each answer as it came (botocore would retry throttles and 5xx)."""
    return aws.client(service, config=Config(retries={"total_max_attempts": 1, "mode": "standard"}))


def eventually(probe: Callable[[], T | None], timeout: float = 60.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.2)
