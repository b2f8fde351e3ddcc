"""The systemd stand-in of one rehearsal instance: runs the product's units as processes.

Each unit's processes form one process group (the stand-in for its cgroup). Start runs
ExecStartPre then ExecStart (Type=simple) as the unit's User with its Environment and
EnvironmentFile; Restart= and RestartSec= are honoured; stop follows KillMode= (control-group,
mixed, process) with KillSignal= and, after TimeoutStopSec=, SIGKILL (systemd.kill(5)). Manager
defaults come from /etc/systemd/system.conf (DefaultEnvironment=). Output goes to
/var/log/journal/<unit>.log, the stand-in for the journal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import signal
import subprocess
import threading
import time
from pathlib import Path

from turbine_dev.rehearsal.host.units import Unit, expand, load_unit, parse_sections, read_environment_file

JOURNAL_DIR = Path("/var/log/journal")
ENABLED_DIR = Path("/etc/systemd/system/multi-user.target.wants")


@dataclasses.dataclass
class UnitState:
    name: str
    active: str = "inactive"  # inactive, activating, active, deactivating, failed
    main: subprocess.Popen[bytes] | None = None
    stopping: bool = False
    result: str = "success"
    restarts: int = 0
    thread: threading.Thread | None = None
    # Set once ExecStart is forked or the start failed: what `systemctl start` waits for (Type=simple).
    started: threading.Event = dataclasses.field(default_factory=threading.Event)


def default_environment() -> dict[str, str]:
    path = Path("/etc/systemd/system.conf")
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    import shlex  # noqa: PLC0415

    for value in parse_sections(path.read_text()).get("Manager", {}).get("DefaultEnvironment", []):
        for item in shlex.split(value):
            key, _, val = item.partition("=")
            values[key] = val
    return values


class Manager:
    def __init__(self, root: Path = Path("/")) -> None:
        """`root`: where the instance's file system is (the instance itself is chrooted: /)."""
        self.root = root
        self.units: dict[str, UnitState] = {}
        self.lock = threading.Lock()
        self.journal_dir = root / str(JOURNAL_DIR).lstrip("/")
        self.enabled_dir = root / str(ENABLED_DIR).lstrip("/")
        self.journal_dir.mkdir(parents=True, exist_ok=True)

    def load(self, name: str) -> Unit | None:
        return load_unit(name, self.root)

    def state(self, name: str) -> UnitState:
        with self.lock:
            return self.units.setdefault(name, UnitState(name))

    # -- commands -------------------------------------------------------------------------------
    def enable(self, name: str) -> bool:
        if self.load(name) is None:
            return False
        self.enabled_dir.mkdir(parents=True, exist_ok=True)
        link = self.enabled_dir / name
        if not link.exists():
            link.symlink_to(f"/etc/systemd/system/{name}")
        return True

    def is_enabled(self, name: str) -> bool:
        return (self.enabled_dir / name).exists()

    def start(self, name: str, wait: bool = True) -> bool:
        unit = self.load(name)
        if unit is None:
            return False
        state = self.state(name)
        with self.lock:
            if state.active in ("active", "activating"):
                return True
            state.active, state.stopping, state.result = "activating", False, "success"
            state.started.clear()
            state.thread = threading.Thread(target=self._run, args=(unit, state), daemon=True)
            state.thread.start()
        if wait:
            state.started.wait()
            return state.active == "active"
        return True

    def stop(self, name: str, wait: bool = True) -> None:
        state = self.state(name)
        unit = self.load(name)
        if state.active in ("inactive", "failed") or unit is None:
            return
        state.stopping = True
        state.active = "deactivating"
        stopper = threading.Thread(target=self._stop, args=(unit, state), daemon=True)
        stopper.start()
        if wait:
            stopper.join()

    def stop_all(self) -> None:
        for name in list(self.units):
            self.stop(name, wait=False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(s.active == "deactivating" for s in self.units.values()):
            time.sleep(0.2)
        for state in self.units.values():
            if state.main is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(state.main.pid, signal.SIGKILL)

    # -- running --------------------------------------------------------------------------------
    def _environment(self, unit: Unit) -> tuple[dict[str, str], bool]:
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
        env.update(default_environment())
        for item in unit.environment:
            key, _, value = item.partition("=")
            env[key] = value
        for path, optional in unit.environment_files:
            file = Path(path)
            if not file.is_file():
                if optional:
                    continue
                self._journal(unit.name, f"Failed to load environment files: {path}: No such file")
                return env, False
            env.update(read_environment_file(file.read_text()))
        user = unit.last("User")
        if user:
            record = pwd.getpwnam(user)
            env.update({"USER": user, "LOGNAME": user, "HOME": record.pw_dir, "SHELL": record.pw_shell})
        else:
            env.update({"USER": "root", "LOGNAME": "root", "HOME": "/root"})
        return env, True

    def _journal(self, name: str, message: str) -> None:
        with (self.journal_dir / f"{name}.log").open("a") as journal:
            journal.write(f"{time.strftime('%FT%TZ', time.gmtime())} systemd: {message}\n")

    def _spawn(self, unit: Unit, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        user = unit.last("User")
        group = unit.last("Group")
        record = pwd.getpwnam(user) if user else None
        journal = (self.journal_dir / f"{unit.name}.log").open("ab")
        try:
            return subprocess.Popen(
                argv,
                env=env,
                cwd=unit.last("WorkingDirectory") or "/",
                stdin=subprocess.DEVNULL,
                stdout=journal,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=record.pw_uid if record else None,
                group=_gid(group) if group else (record.pw_gid if record else None),
                extra_groups=[] if record else None,
            )
        finally:
            journal.close()

    def _run(self, unit: Unit, state: UnitState) -> None:
        restart = unit.last("Restart", "no")
        delay = unit.seconds("RestartSec", 0.1)
        while True:
            code = self._run_once(unit, state)
            state.started.set()
            if state.stopping:
                return
            failed = code != 0
            state.result = "exit-code" if failed else "success"
            if restart == "always" or (restart == "on-failure" and failed):
                state.active, state.restarts = "activating", state.restarts + 1
                self._journal(unit.name, f"Scheduled restart job, restart counter is at {state.restarts}.")
                time.sleep(delay)
                if _stopping(state):  # stop may have come while waiting
                    return
                continue
            state.active = "failed" if failed else "inactive"
            return

    def _run_once(self, unit: Unit, state: UnitState) -> int:
        env, ok = self._environment(unit)
        if not ok:
            return 1
        for line in unit.execs("ExecStartPre"):
            try:
                process = self._spawn(unit, expand(line.argv, env), env)
            except OSError as error:
                self._journal(unit.name, f"Failed to execute {line.argv[0]}: {error} (203/EXEC)")
                return 203
            state.main = process
            code = process.wait()
            if state.stopping:
                return code
            if code != 0 and not line.ignore_failure:
                self._journal(unit.name, f"Control process exited, code=exited, status={code}")
                return code
        [main] = unit.execs("ExecStart")[-1:]
        try:
            process = self._spawn(unit, expand(main.argv, env), env)
        except OSError as error:
            self._journal(unit.name, f"Failed at step EXEC spawning {main.argv[0]}: {error} (203/EXEC)")
            return 203
        state.main = process
        state.active = "active"
        state.started.set()
        self._journal(unit.name, f"Started {unit.name} (pid {process.pid}).")
        code = process.wait()
        self._journal(unit.name, f"Main process exited, code={code}")
        # Whatever the main process left behind dies with it, as its cgroup would.
        if unit.last("KillMode", "control-group") in ("control-group", "mixed"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        return code

    def _stop(self, unit: Unit, state: UnitState) -> None:
        process = state.main
        mode = unit.last("KillMode", "control-group")
        signum = signal.Signals[unit.last("KillSignal", "SIGTERM")]
        timeout = unit.seconds("TimeoutStopSec", 90.0)
        self._journal(unit.name, f"Stopping {unit.name} (KillMode={mode}, timeout {timeout:.0f}s)...")
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                if mode == "control-group":
                    os.killpg(process.pid, signum)
                else:
                    process.send_signal(signum)
            try:
                process.wait(timeout=None if timeout == float("inf") else timeout)
            except subprocess.TimeoutExpired:
                self._journal(unit.name, "State 'stop-sigterm' timed out. Killing.")
            if mode != "process":
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        if state.thread is not None:
            state.thread.join(timeout=5)
        state.active = "inactive"
        self._journal(unit.name, f"Stopped {unit.name}.")


def _stopping(state: UnitState) -> bool:
    return state.stopping


def _gid(group: str) -> int:
    import grp  # noqa: PLC0415

    return grp.getgrnam(group).gr_gid


def systemctl(  # noqa: PLR0912 - one branch per systemctl command
    manager: Manager, argv: list[str]
) -> tuple[int, str, str]:
    """`systemctl ARGV` against the manager: (exit code, stdout, stderr), as systemctl(1) answers."""
    options = [arg for arg in argv if arg.startswith("-")]
    words = [arg for arg in argv if not arg.startswith("-")]
    if not words:
        return 1, "", "systemctl stand-in: no command\n"
    command, names = words[0], [_unit_name(name) for name in words[1:]]
    no_block = "--no-block" in options
    if command == "daemon-reload":
        return 0, "", ""
    if command in ("enable", "start", "restart"):
        for name in names:
            if manager.load(name) is None:
                return (
                    5 if command != "enable" else 1,
                    "",
                    f"Failed to {command} unit: Unit {name} not found.\n",
                )
        if command == "enable":
            for name in names:
                manager.enable(name)
            if "--now" not in options:
                return 0, "", ""
        if command == "restart":
            for name in names:
                manager.stop(name)
        # Like systemd, `start` of a service that fails only later (Restart=) still returns 0.
        for name in names:
            manager.start(name, wait=not no_block)
        return 0, "", ""
    if command == "stop":
        for name in names:
            manager.stop(name, wait=not no_block)
        return 0, "", ""
    if command == "is-active":
        states = [manager.state(name).active for name in names]
        return (0 if all(s == "active" for s in states) else 3), "".join(f"{s}\n" for s in states), ""
    if command == "is-enabled":
        enabled = [manager.is_enabled(name) for name in names]
        text = "".join("enabled\n" if e else "disabled\n" for e in enabled)
        return (0 if all(enabled) else 1), text, ""
    if command == "show":
        return _show(manager, names, options)
    if command == "status":
        text = "".join(f"{n}: {manager.state(n).active}\n" for n in names)
        return (0 if all(manager.state(n).active == "active" for n in names) else 3), text, ""
    return 1, "", f"systemctl stand-in: unsupported command {command}\n"


def _show(manager: Manager, names: list[str], options: list[str]) -> tuple[int, str, str]:
    wanted = [o.split("=", 1)[1] for o in options if o.startswith("--property=")]
    value_only = "--value" in options
    lines = []
    for name in names:
        state = manager.state(name)
        main = state.main.pid if state.main is not None and state.main.poll() is None else 0
        props = {"ActiveState": state.active, "MainPID": str(main), "Result": state.result}
        for key in wanted or list(props):
            value = props.get(key, "")
            lines.append(value if value_only else f"{key}={value}")
    return 0, "".join(f"{line}\n" for line in lines), ""


def _unit_name(name: str) -> str:
    return name if "." in name else f"{name}.service"
