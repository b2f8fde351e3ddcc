"""Session-wide real components: the local control plane and the embedded AWS.

Both are started at most once per session, only when a test asks for them, and always torn
down (also on failures and Ctrl-C). A missing control plane is an error, never a skip.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.aws.embedded_aws import embedded_aws as start_embedded_aws
from turbine_dev.k8s.controlplane import ControlPlane, garbage_collector, local_control_plane
from turbine_dev.k8s.kube import KubeApi

# Slow suites that passed on exactly these inputs are not run again (TURBINE_REUSE_PASSES=0 runs them).
pytest_plugins = ("turbine_dev.tooling.pass_cache",)

REPO_ROOT = Path(__file__).resolve().parents[1]
SMALL_CFN = REPO_ROOT / "tests" / "fixtures" / "small-cfn"
TEMPLATE_BUCKET = "turbine-test-templates"
IN_PROCESS_REGION = "us-east-1"

# Read when the handlers module is imported (kopf timers take their interval at registration),
# so it must be set before any test imports turbine_operator.handlers.
os.environ.setdefault("TURBINE_POLL_INTERVAL", "0.5")
os.environ.setdefault("TURBINE_RESYNC_INTERVAL", "30")
os.environ.setdefault("TURBINE_LISTING_INTERVAL", "1")
os.environ.setdefault("TURBINE_METRICS_PORT", "0")
os.environ.setdefault("TURBINE_REGION", "us-east-1")
os.environ.setdefault("TURBINE_WORKERS_INTERVAL", "0.5")


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with local_control_plane(tmp_path_factory.mktemp("control-plane")) as plane:
        yield plane


@pytest.fixture
def collecting_garbage(control_plane: ControlPlane) -> Iterator[None]:
    """Kubernetes' garbage collector on the session's control plane, for this test only: the other tests
    keep a control plane where ownerReferences never cascade."""
    with garbage_collector(control_plane):
        yield


@pytest.fixture(scope="session")
def embedded_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedAws]:
    with start_embedded_aws(tmp_path_factory.mktemp("embedded-aws")) as aws:
        yield aws


@pytest.fixture(scope="session")
def kube(control_plane: ControlPlane) -> KubeApi:
    return KubeApi(control_plane.kubeconfig)


@pytest.fixture
def namespace(kube: KubeApi, request: pytest.FixtureRequest) -> str:
    """A fresh namespace per test; never deleted, since no controller-manager would finish it."""
    stem = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower().replace("_", "-"))[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:6]}"
    kube.create_namespace(name)
    return name


@pytest.fixture
def aws_environment(embedded_aws: EmbeddedAws, monkeypatch: pytest.MonkeyPatch) -> EmbeddedAws:
    """Points everything in this process (the in-process operator included) at the embedded AWS."""
    for key, value in embedded_aws.environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return embedded_aws


@pytest.fixture
def moto_in_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto inside the test's own process, for tests of one service's rules or of the Lambda: fake keys,
    us-east-1, and no AWS_ENDPOINT_URL or profile through which a call could leave the process."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": IN_PROCESS_REGION,
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def kubeconfig_environment(control_plane: ControlPlane, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig))
    return control_plane.kubeconfig


def pytest_report_header() -> list[str]:
    return [f"turbine: repo {REPO_ROOT}"]


@pytest.fixture
def template_bucket(aws_environment: EmbeddedAws) -> str:
    s3 = aws_environment.client("s3")
    if TEMPLATE_BUCKET not in {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}:
        s3.create_bucket(Bucket=TEMPLATE_BUCKET)
    return TEMPLATE_BUCKET


@pytest.fixture
def small_templates(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Makes the operator deploy the small stand-in master template instead of the real stack."""
    monkeypatch.setenv("TURBINE_CFN_DIR", str(SMALL_CFN))
    return SMALL_CFN


@pytest.fixture
def crd_installed(kube: KubeApi) -> None:
    kube.install_crd()
