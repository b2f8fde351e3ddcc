"""The Airflow options a stack may set through spec.airflow.config, read from the locked Airflow itself.

`make lock` writes cfn/airflow/airflow-<version>.options.json from the Airflow the lock installs (the
rehearsal's cached copy of it): Airflow's own config description (airflow/config_templates/config.yml) and
each installed provider's `config` (its provider info), as {section: {option: sensitive}}. The operator reads
that file and never imports Airflow; a test in the rehearsal keeps it equal to what the lock installs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from turbine_dev.rehearsal.host.image import airflow_venv, shipped_lock

# Run by the locked Airflow's own interpreter: its packages, not ours.
_EXTRACT = """
import json, sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import yaml

def sections(described):
    found = {}
    for section, body in (described or {}).items():
        options = body.get("options") or {}
        found[section] = {option: bool((about or {}).get("sensitive")) for option, about in options.items()}
    return found

description = Path(airflow.__file__).parent / "config_templates" / "config.yml"
options = sections(yaml.safe_load(description.read_text()))
for provider in entry_points(group="apache_airflow_provider"):
    for section, found in sections(provider.load()().get("config")).items():
        options.setdefault(section, {}).update(found)
json.dump(options, sys.stdout, sort_keys=True)
"""


def extract(python: Path) -> dict[str, dict[str, bool]]:
    found = subprocess.run([str(python), "-c", _EXTRACT], check=True, capture_output=True, text=True)
    options: dict[str, dict[str, bool]] = json.loads(found.stdout)
    return options


def options_file(lock: Path) -> Path:
    """cfn/airflow/airflow-<version>.options.json, for cfn/scripts/airflow-<version>.lock."""
    return lock.parents[1] / "airflow" / f"{lock.stem}.options.json"


def render(options: dict[str, Any]) -> str:
    return json.dumps(options, indent=1, sort_keys=True) + "\n"


def main() -> int:
    lock = shipped_lock()
    target = options_file(lock)
    options = extract(airflow_venv(lock) / "bin" / "python")
    target.write_text(render(options))
    print(f"wrote {target}: {sum(map(len, options.values()))} options in {len(options)} sections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
