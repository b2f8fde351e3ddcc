"""Where dev tooling caches what it builds: $XDG_CACHE_HOME/turbine-operator/<name> (~/.cache by default).

Read at each call, so a run with another XDG_CACHE_HOME (a cold run, a CI job) starts from nothing.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(name: str) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "turbine-operator" / name
