"""A private git server for the rehearsal: git's smart HTTP protocol (`git http-backend`) behind HTTP basic
authentication, as a company's git host serves a repository to a token.

Requests without the token get 401, so a DAG bundle that clones through it proves the credentials travelled
from the TurbineStack's Secret to the instances (the operator's connection secret, Airflow's Secrets Manager
backend, the git hook's credential helper). Every request is logged with whether it was authenticated.
"""

from __future__ import annotations

import base64
import hmac
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

USER = "x-access-token"


def _handler(root: Path, token: str, requests: list[tuple[str, bool]]) -> type[BaseHTTPRequestHandler]:
    expected = "Basic " + base64.b64encode(f"{USER}:{token}".encode()).decode()

    class GitHttp(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            return

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            authorized = hmac.compare_digest(self.headers.get("Authorization", ""), expected)
            requests.append((self.path, authorized))
            if not authorized:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="rehearsal"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            env = {
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": USER,
                "PATH": "/usr/bin:/bin",
            }
            done = subprocess.run(
                ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
            )
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            status = 200
            headers = []
            for line in head.decode(errors="replace").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return GitHttp


class GitHttpServer:
    def __init__(self, root: Path, address: str, port: int, token: str) -> None:
        self.requests: list[tuple[str, bool]] = []
        self._server = ThreadingHTTPServer((address, port), _handler(root, token, self.requests))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def authenticated_fetches(self) -> int:
        return sum(1 for path, authorized in self.requests if authorized and "git-upload-pack" in path)
