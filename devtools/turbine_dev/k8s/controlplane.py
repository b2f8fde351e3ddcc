"""A real kube-apiserver backed by a real etcd, started as local processes on loopback.

There is no scheduler or kubelet, and no controller-manager unless a test asks for the garbage
collector (`garbage_collector`): namespaces never finish deleting and Deployments create no Pods.
Everything an operator talks to (CRDs, CEL validation, RBAC, admission, status subresources,
watches, TokenRequest) is the real thing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import ssl
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from turbine_dev.k8s.binaries import ControlPlaneBinaries, ensure_binaries, ensure_kube_controller_manager
from turbine_dev.k8s.kubeconfigs import write_kubeconfig
from turbine_dev.k8s.pki import CertificateAuthority, KeyPair, service_account_signing_key
from turbine_dev.runs.processes import ManagedProcess, free_port

READY_TIMEOUT = 120.0


@dataclasses.dataclass
class ControlPlane:
    """A running control plane; `kubeconfig` is an admin (system:masters) kubeconfig."""

    workdir: Path
    server: str
    kubeconfig: Path
    client_ca: CertificateAuthority
    serving_ca_pem: bytes
    processes: list[ManagedProcess]
    started_in_seconds: float

    def user_kubeconfig(self, user: str, groups: Sequence[str] = ()) -> Path:
        """A kubeconfig for a certificate user with no rights beyond what RBAC grants them."""
        pair = self.client_ca.issue(user, organizations=groups)
        return write_kubeconfig(
            self.workdir / f"kubeconfig-{user}",
            server=self.server,
            ca_pem=self.serving_ca_pem,
            user=user,
            client_cert_pem=pair.cert_pem,
            client_key_pem=pair.key_pem,
        )

    def service_account_kubeconfig(self, namespace: str, name: str, token: str) -> Path:
        """A kubeconfig that authenticates as a ServiceAccount with a TokenRequest token."""
        return write_kubeconfig(
            self.workdir / f"kubeconfig-sa-{namespace}-{name}",
            server=self.server,
            ca_pem=self.serving_ca_pem,
            user=f"system:serviceaccount:{namespace}:{name}",
            token=token,
            namespace=namespace,
        )

    def request_token(self, namespace: str, name: str, expiration_seconds: int = 3600) -> str:
        """Mints a ServiceAccount token through the TokenRequest API, with the admin identity."""
        body = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenRequest",
            "spec": {"expirationSeconds": expiration_seconds},
        }
        path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
        response = self.admin_request("POST", path, body)
        return str(response["status"]["token"])

    def admin_request(self, method: str, path: str, body: object | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the URL is our own loopback server
            self.server + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, context=self._admin_ssl(), timeout=30) as reply:  # noqa: S310
            return json.loads(reply.read())

    def _admin_ssl(self) -> ssl.SSLContext:
        config = _read_kubeconfig_credentials(self.kubeconfig)
        context = ssl.create_default_context(cadata=self.serving_ca_pem.decode())
        context.load_cert_chain(str(config["cert"]), str(config["key"]))
        return context

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def _read_kubeconfig_credentials(kubeconfig: Path) -> dict[str, Path]:
    folder = kubeconfig.parent
    return {"cert": folder / "admin.crt", "key": folder / "admin.key"}


def _write(path: Path, data: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _https_ok(url: str, context: ssl.SSLContext) -> bool:
    with urllib.request.urlopen(url, context=context, timeout=5) as reply:  # noqa: S310
        return bool(reply.status == 200)


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310
        return bool(reply.status == 200)


def _etcd(binaries: ControlPlaneBinaries, workdir: Path) -> tuple[ManagedProcess, str]:
    client_port, peer_port = free_port(), free_port()
    client_url = f"http://127.0.0.1:{client_port}"
    process = ManagedProcess(
        "etcd",
        [
            str(binaries.etcd),
            f"--data-dir={workdir / 'etcd-data'}",
            f"--listen-client-urls={client_url}",
            f"--advertise-client-urls={client_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=default=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync",
            "--listen-metrics-urls=",
            "--log-level=warn",
        ],
        workdir / "etcd.log",
    )
    process.wait_until(lambda: _http_ok(f"{client_url}/health"), READY_TIMEOUT, "etcd /health")
    return process, client_url


def _apiserver(
    binaries: ControlPlaneBinaries, workdir: Path, etcd_url: str, client_ca: CertificateAuthority
) -> tuple[ManagedProcess, str, bytes]:
    port = free_port()
    server = f"https://127.0.0.1:{port}"
    serving_ca = CertificateAuthority("turbine-local-serving-ca")
    serving = serving_ca.issue(
        "kube-apiserver",
        dns_names=["localhost", "kubernetes", "kubernetes.default"],
        ip_addresses=["127.0.0.1"],
        server=True,
    )
    certs = workdir / "certs"
    certs.mkdir()
    _write(certs / "apiserver.crt", serving.cert_pem)
    _write(certs / "apiserver.key", serving.key_pem)
    _write(certs / "client-ca.crt", client_ca.cert_pem)
    signing = service_account_signing_key()
    _write(certs / "sa.key", signing.key_pem)
    _write(certs / "sa.pub", signing.cert_pem)
    process = ManagedProcess(
        "kube-apiserver",
        [
            str(binaries.kube_apiserver),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={port}",
            f"--cert-dir={certs}",
            f"--tls-cert-file={certs / 'apiserver.crt'}",
            f"--tls-private-key-file={certs / 'apiserver.key'}",
            f"--client-ca-file={certs / 'client-ca.crt'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={server}",
            f"--service-account-key-file={certs / 'sa.pub'}",
            f"--service-account-signing-key-file={certs / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            # Without a controller-manager nobody creates the per-namespace `default` ServiceAccount.
            "--disable-admission-plugins=ServiceAccount",
            # As strict as OpenShift about ownerReferences: blockOwnerDeletion needs the right to update the
            # owner's finalizers, so the RBAC tests show what an operator setting it must be granted.
            "--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            "--v=0",
        ],
        workdir / "kube-apiserver.log",
    )
    anonymous = ssl.create_default_context(cadata=serving_ca.cert_pem.decode())
    process.wait_until(lambda: _https_ok(f"{server}/readyz", anonymous), READY_TIMEOUT, "/readyz")
    return process, server, serving_ca.cert_pem


def start_control_plane(workdir: Path, binaries: ControlPlaneBinaries | None = None) -> ControlPlane:
    binaries = binaries or ensure_binaries()
    started = time.monotonic()
    processes: list[ManagedProcess] = []
    try:
        etcd, etcd_url = _etcd(binaries, workdir)
        processes.append(etcd)
        client_ca = CertificateAuthority("turbine-local-client-ca")
        apiserver, server, serving_ca_pem = _apiserver(binaries, workdir, etcd_url, client_ca)
        processes.append(apiserver)
        admin = client_ca.issue("turbine-admin", organizations=["system:masters"])
        _write_admin_credentials(workdir, admin)
        kubeconfig = write_kubeconfig(
            workdir / "kubeconfig",
            server=server,
            ca_pem=serving_ca_pem,
            user="turbine-admin",
            client_cert_pem=admin.cert_pem,
            client_key_pem=admin.key_pem,
        )
        plane = ControlPlane(
            workdir=workdir,
            server=server,
            kubeconfig=kubeconfig,
            client_ca=client_ca,
            serving_ca_pem=serving_ca_pem,
            processes=processes,
            started_in_seconds=0.0,
        )
        apiserver.wait_until(
            lambda: plane.admin_request("GET", "/api/v1/namespaces/default")["metadata"]["name"] == "default",
            READY_TIMEOUT,
            "namespace default",
        )
        plane.started_in_seconds = time.monotonic() - started
        return plane
    except BaseException:
        for process in reversed(processes):
            process.stop()
        raise


def _write_admin_credentials(workdir: Path, admin: KeyPair) -> None:
    _write(workdir / "admin.crt", admin.cert_pem)
    _write(workdir / "admin.key", admin.key_pem)


@contextlib.contextmanager
def local_control_plane(workdir: Path | None = None, *, keep_workdir: bool = False) -> Iterator[ControlPlane]:
    """Starts etcd and kube-apiserver, yields the running plane, and always tears both down."""
    own_dir = workdir is None
    folder = workdir or Path(tempfile.mkdtemp(prefix="turbine-control-plane-"))
    plane = start_control_plane(folder)
    try:
        yield plane
    finally:
        plane.stop()
        if own_dir and not keep_workdir:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def garbage_collector(plane: ControlPlane) -> Iterator[ManagedProcess]:
    """kube-controller-manager against `plane` with its garbage collector and no other controller, so that
    ownerReferences cascade as in a cluster; stopped when the block ends.

    Only tests that show garbage collection start it: without it, what they own is never deleted for the
    others. It reads the API with the admin kubeconfig and serves nothing itself (no port).
    """
    process = ManagedProcess(
        "kube-controller-manager",
        [
            str(ensure_kube_controller_manager()),
            f"--kubeconfig={plane.kubeconfig}",
            "--controllers=garbagecollector",
            "--use-service-account-credentials=false",
            "--leader-elect=false",
            "--secure-port=0",
            "--v=0",
        ],
        plane.workdir / f"kube-controller-manager-{uuid.uuid4().hex[:6]}.log",
    )
    try:
        _wait_until_collecting(plane, process)
        yield process
    finally:
        process.stop()


def _wait_until_collecting(plane: ControlPlane, process: ManagedProcess) -> None:
    """Ready once it has collected something: a probe ConfigMap owned by another that is deleted (its
    informers must have synced first, which /healthz would not tell)."""
    probe = f"garbage-collector-probe-{uuid.uuid4().hex[:6]}"
    path = "/api/v1/namespaces/default/configmaps"
    owner = plane.admin_request("POST", path, {"metadata": {"name": f"{probe}-owner"}})
    reference = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": f"{probe}-owner",
        "uid": owner["metadata"]["uid"],
    }
    plane.admin_request("POST", path, {"metadata": {"name": probe, "ownerReferences": [reference]}})
    plane.admin_request("DELETE", f"{path}/{probe}-owner")
    process.wait_until(lambda: not _exists(plane, f"{path}/{probe}"), READY_TIMEOUT, "garbage collection")


def _exists(plane: ControlPlane, path: str) -> bool:
    try:
        plane.admin_request("GET", path)
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise
    return True


@contextlib.contextmanager
def admission_policy_type_checker(plane: ControlPlane) -> Iterator[ManagedProcess]:
    """kube-controller-manager against `plane` with only the controller that type-checks
    ValidatingAdmissionPolicies (their status.typeChecking, against the schemas of what they match and of
    their params), stopped when the block ends. The API server enforces policies without it; only the
    status that reports expressions naming fields the schema lacks needs it."""
    process = ManagedProcess(
        "kube-controller-manager",
        [
            str(ensure_kube_controller_manager()),
            f"--kubeconfig={plane.kubeconfig}",
            "--controllers=validatingadmissionpolicy-status-controller",
            "--use-service-account-credentials=false",
            "--leader-elect=false",
            "--secure-port=0",
            "--v=0",
        ],
        plane.workdir / f"kube-controller-manager-{uuid.uuid4().hex[:6]}.log",
    )
    try:
        yield process
    finally:
        process.stop()
