"""The load balancers' stand-in: a TCP forwarder to the webserver instances, round robin.

A target that refuses a connection is skipped, as an unhealthy target would be.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from collections.abc import Callable


def _pipe(source: socket.socket, target: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            target.sendall(data)
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)


def listen(address: str, port: int, targets: Callable[[], list[tuple[str, int]]]) -> socket.socket:
    server = socket.create_server((address, port))
    counter = itertools.count()

    def handle(client: socket.socket) -> None:
        candidates = targets()
        start = next(counter)
        for offset in range(len(candidates)):
            try:
                upstream = socket.create_connection(candidates[(start + offset) % len(candidates)], timeout=5)
            except OSError:
                continue
            upstream.settimeout(None)
            threading.Thread(target=_pipe, args=(client, upstream), daemon=True).start()
            _pipe(upstream, client)
            upstream.close()
            break
        client.close()

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                client, _ = server.accept()
                threading.Thread(target=handle, args=(client,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return server
