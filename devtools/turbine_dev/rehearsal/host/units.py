"""systemd unit files read the way systemd reads them, for the systemd stand-in.

Only what the product's units use is understood; anything else in [Service] is kept and ignored.
Follows systemd.service(5), systemd.exec(5) and systemd.kill(5).
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

UNIT_DIRS = ("/etc/systemd/system", "/usr/lib/systemd/system")
_TIME = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|min|m|h)?\s*$")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclasses.dataclass
class ExecLine:
    argv: list[str]
    ignore_failure: bool  # the '-' prefix


@dataclasses.dataclass
class Unit:
    name: str
    service: dict[str, list[str]]

    def last(self, key: str, default: str = "") -> str:
        values = self.service.get(key) or []
        return values[-1] if values else default

    def execs(self, key: str) -> list[ExecLine]:
        lines: list[ExecLine] = []
        for value in self.service.get(key, []):
            if not value:  # an empty assignment resets the list
                lines.clear()
                continue
            lines.append(_exec_line(value))
        return lines

    @property
    def environment(self) -> list[str]:
        return [item for value in self.service.get("Environment", []) for item in shlex.split(value)]

    @property
    def environment_files(self) -> list[tuple[str, bool]]:
        """(path, optional) pairs; a '-' prefix makes a missing file fine."""
        return [
            (value.lstrip("-"), value.startswith("-")) for value in self.service.get("EnvironmentFile", [])
        ]

    def seconds(self, key: str, default: float) -> float:
        value = self.last(key)
        if not value or value == "infinity":
            return default if not value else float("inf")
        match = _TIME.match(value)
        if not match:
            raise ValueError(f"{self.name}: cannot read {key}={value}")
        number, suffix = float(match.group(1)), match.group(2) or "s"
        return number * {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}[suffix]


def _exec_line(value: str) -> ExecLine:
    ignore = False
    while value and value[0] in "-@:+!":
        ignore = ignore or value[0] == "-"
        value = value[1:]
    return ExecLine(argv=shlex.split(value), ignore_failure=ignore)


def parse_sections(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif current is not None and "=" in line:
            key, _, value = line.partition("=")
            current.setdefault(key.strip(), []).append(value.strip())
    return sections


def load_unit(name: str, root: Path = Path("/")) -> Unit | None:
    """The unit with its drop-ins (`<unit>.d/*.conf`, in name order), or None if no such unit."""
    for folder in UNIT_DIRS:
        path = root / folder.lstrip("/") / name
        if path.is_file():
            service = parse_sections(path.read_text()).get("Service", {})
            for drop_in in sorted((path.parent / f"{name}.d").glob("*.conf")):
                for key, values in parse_sections(drop_in.read_text()).get("Service", {}).items():
                    service.setdefault(key, []).extend(values)
            return Unit(name=name, service=service)
    return None


def read_environment_file(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd reads an EnvironmentFile: quotes removed, comments skipped."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def expand(argv: list[str], environment: Mapping[str, str]) -> list[str]:
    """$VAR and ${VAR} in command lines, as systemd expands them."""
    return [_VARIABLE.sub(lambda m: environment.get(m.group(1) or m.group(2), ""), word) for word in argv]
