"""The newest Amazon Linux 2023 AMI per region, read from SSM at most once an hour operator-wide.

A stack in review has no ImageId parameter yet, so every look at it needs the newest AMI: asking SSM
each time would cost a call per look (every half second while young), and an AMI published while the
stack is in review would change its desired state under it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

NEWEST_IMAGE_SECONDS = 3600.0  # AL2023 releases are weeks apart


class ImageSource(Protocol):
    region: str

    def latest_image_id(self) -> str: ...


class NewestImages:
    def __init__(
        self, seconds: float = NEWEST_IMAGE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._seconds, self._clock = seconds, clock
        self._lock = threading.Lock()
        self._known: dict[str, tuple[float, str]] = {}  # region -> (when read, AMI id)

    def newest(self, source: ImageSource) -> str:
        now = self._clock()
        with self._lock:
            known = self._known.get(source.region)
        if known is not None and now - known[0] < self._seconds:
            return known[1]
        image = source.latest_image_id()
        with self._lock:
            self._known[source.region] = (now, image)
        return image
