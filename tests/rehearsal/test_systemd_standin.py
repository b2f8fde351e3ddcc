"""The systemd stand-in runs units as systemd would, so that the rehearsal sees what AWS would."""

from __future__ import annotations

import time
from pathlib import Path

from turbine_dev.rehearsal.host.systemd import Manager, systemctl


def install(root: Path, name: str, exec_start: str) -> None:
    unit = root / "etc/systemd/system" / name
    unit.parent.mkdir(parents=True, exist_ok=True)
    unit.write_text(f"[Service]\nExecStart={exec_start}\nRestart=always\nRestartSec=0.2\n")


def synced_script(root: Path) -> Path:
    """A script as `aws s3 sync` leaves it: no execute bit."""
    script = root / "opt/turbine/drain.sh"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/bash\nexec sleep 30\n")
    script.chmod(0o644)
    return script


def wait_for(condition: object, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.1)
    return False


def test_a_unit_executing_a_synced_script_fails_with_203_exec_and_restarts(tmp_path: Path) -> None:
    install(tmp_path, "drain.service", str(synced_script(tmp_path)))
    manager = Manager(tmp_path)

    # As with systemd, `enable --now` succeeds: the failure shows only in the unit's state and journal.
    assert systemctl(manager, ["enable", "--now", "drain.service"])[0] == 0
    assert wait_for(lambda: manager.state("drain.service").restarts >= 2)
    assert "203/EXEC" in (tmp_path / "var/log/journal/drain.service.log").read_text()
    manager.stop_all()


def test_a_unit_running_a_synced_script_through_bash_stays_active_until_stopped(tmp_path: Path) -> None:
    install(tmp_path, "drain.service", f"/bin/bash {synced_script(tmp_path)}")
    manager = Manager(tmp_path)

    assert systemctl(manager, ["enable", "--now", "drain.service"])[0] == 0
    time.sleep(1)
    assert systemctl(manager, ["show", "--property=ActiveState", "--value", "drain.service"])[1] == "active\n"
    assert manager.state("drain.service").restarts == 0
    systemctl(manager, ["stop", "drain.service"])
    assert systemctl(manager, ["is-active", "drain.service"])[0] == 3
