"""The rehearsal's network: a bridge standing in for the VPC, one veth per instance.

Everything runs inside the rehearsal's own network namespace (see __main__), so the bridge,
the addresses and the servers bound to them are invisible to the rest of the machine.
"""

from __future__ import annotations

import subprocess

GATEWAY = "10.213.0.1"  # the embedded AWS and the database answer here
LOAD_BALANCER = "10.213.0.2"  # the load balancers' stand-in
PREFIX = 24
BRIDGE = "rehearsal0"
IMDS = "169.254.169.254"
PACKAGE_INDEX_PORT = 3141  # the stand-in for pypi.org (services.package_index), on the gateway


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


def create_vpc() -> None:
    _ip("link", "set", "lo", "up")
    _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "add", f"{GATEWAY}/{PREFIX}", "dev", BRIDGE)
    _ip("addr", "add", f"{LOAD_BALANCER}/{PREFIX}", "dev", BRIDGE)
    _ip("link", "set", BRIDGE, "up")


def instance_address(index: int) -> str:
    return f"10.213.0.{11 + index}"


def attach(pid: int, index: int) -> str:
    """Wires the network namespace of process `pid` to the VPC; returns its private address."""
    address = instance_address(index)
    host_side = f"veth{index}"
    _ip("link", "add", host_side, "type", "veth", "peer", "name", "eth0", "netns", str(pid))
    _ip("link", "set", host_side, "master", BRIDGE, "up")
    inside = (
        "ip link set lo up && ip link set eth0 up"
        f" && ip addr add {address}/{PREFIX} dev eth0 && ip route add default via {GATEWAY}"
        f" && ip addr add {IMDS}/32 dev lo"
    )
    subprocess.run(["nsenter", "-t", str(pid), "-n", "sh", "-c", inside], check=True)
    return address
