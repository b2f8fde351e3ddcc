"""One rehearsal instance: `python -m turbine_dev.rehearsal.host.instance STATE_DIR`.

Started by the harness inside fresh mount and network namespaces. It waits for the harness to
wire its network, mounts its root (an overlay of this machine's root: the stand-in for the AMI,
with what the harness wrote into the upper layer), chroots into it and then does what the
instance's boot would: the metadata service answers, systemd (the stand-in) manages units, and
cloud-init (the stand-in) runs the user data from the metadata service as root. The user data's
exit status is written to meta/user-data-exit. SIGTERM stops every unit, as a shutdown would.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from turbine_dev.rehearsal.host import imds
from turbine_dev.rehearsal.host.systemd import Manager, default_environment, systemctl

SOCKET = "/run/systemd/standin.sock"
META = Path("/run/rehearsal/meta")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def mount_root(state: Path, config: dict[str, str]) -> Path:
    root = state / "root"
    _mount("-t", "overlay", "overlay", "-o",
           f"lowerdir=/,upperdir={state / 'upper'},workdir={state / 'work'}", str(root))  # fmt: skip
    for path in ("dev", "proc", "sys"):
        _mount("--rbind", f"/{path}", str(root / path))
    _mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", str(root / "run"))
    _mount("-t", "tmpfs", "-o", "mode=1777", "tmpfs", str(root / "tmp"))
    for name, source in (("meta", state / "meta"), ("efs", Path(config["efs_dir"]))):
        target = root / "run" / "rehearsal" / name
        target.mkdir(parents=True)
        _mount("--bind", str(source), str(target))
    # The Airflow the lock describes, installed once per lock (see airflow_venv): the bootstrap's
    # own install then finds every locked requirement satisfied.
    venv = root / "opt" / "airflow" / "venv"
    venv.mkdir(parents=True, exist_ok=True)
    (state / "venv-upper").mkdir(exist_ok=True)
    (state / "venv-work").mkdir(exist_ok=True)
    _mount("-t", "overlay", "overlay", "-o",
           f"lowerdir={config['venv']},upperdir={state / 'venv-upper'},workdir={state / 'venv-work'}",
           str(venv))  # fmt: skip
    return root


def serve_systemctl(manager: Manager) -> None:
    Path(SOCKET).parent.mkdir(parents=True, exist_ok=True)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(SOCKET)
    server.listen(16)

    def handle(connection: socket.socket) -> None:
        with connection, connection.makefile("rwb") as stream:
            argv = json.loads(stream.readline())
            try:
                code, out, err = systemctl(manager, argv)
            except Exception as error:
                code, out, err = 1, "", f"systemctl stand-in: {error!r}\n"
            stream.write(json.dumps({"code": code, "stdout": out, "stderr": err}).encode() + b"\n")

    def accept() -> None:
        while True:
            connection, _ = server.accept()
            threading.Thread(target=handle, args=(connection,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()


def fetch_user_data() -> bytes:
    base = f"http://{imds.ADDRESS}/latest"
    request = urllib.request.Request(  # noqa: S310 - the metadata service's fixed address
        f"{base}/api/token", method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        token = reply.read().decode()
    request = urllib.request.Request(  # noqa: S310
        f"{base}/user-data", headers={"X-aws-ec2-metadata-token": token}
    )
    with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
        return bytes(reply.read())


def run_user_data() -> int:
    script = Path("/var/lib/cloud/instance/scripts/part-001")
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_bytes(fetch_user_data())
    script.chmod(0o700)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "LANG": "C.UTF-8",
        **default_environment(),
    }
    with Path("/var/log/cloud-init-output.log").open("ab") as log:
        return subprocess.run(
            [str(script)], env=env, stdout=log, stderr=subprocess.STDOUT, check=False, cwd="/"
        ).returncode


def main(state: Path) -> None:
    config = json.loads((state / "config.json").read_text())
    deadline = time.monotonic() + 60
    while not (state / "meta" / "network-ready").exists():
        if time.monotonic() > deadline:
            sys.exit("network never wired")
        time.sleep(0.1)
    if config.get("hostname"):  # EC2's default host name, in the instance's own UTS namespace
        socket.sethostname(config["hostname"])
    root = mount_root(state, config)
    os.chroot(root)
    os.chdir("/")
    imds.serve(META)
    manager = Manager()
    serve_systemctl(manager)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    started = time.time()
    (META / "boot-started").write_text(f"{started}\n")
    code = run_user_data()
    (META / "user-data-exit").write_text(f"{code} {time.time() - started:.1f}\n")
    stopping.wait()
    manager.stop_all()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
