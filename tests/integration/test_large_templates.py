"""A large inline template through plain `kubectl apply`: kopf's record of the handled spec stays small.

The API server caps an object's annotations at 256 KiB together. Client-side `kubectl apply` keeps the
whole object in its own last-applied annotation, and kopf kept the whole spec in its last-handled one (then
an annotation): with a 150 KiB template the two together were refused, so kopf could never record that it
handled the object (and handled it again at every event). (A template over about 250 KiB fills kubectl's
annotation alone, and needs `kubectl apply --server-side` or `kubectl create`; the second test shows that
300 KiB then works.)
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import turbine_stack
from turbine_operator.handlers.diffbase import STATUS_FIELD

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("crd_installed", "aws_environment", "small_templates"),
]


def _large_template(size: int) -> str:
    """A valid template of about `size` bytes: one topic, padded by template metadata."""
    head = "Metadata:\n  Padding: "
    resources = "\nResources:\n  Topic:\n    Type: AWS::SNS::Topic\n"
    return head + "x" * (size - len(head) - len(resources)) + resources


def _kubectl(kubeconfig: Path, manifest: dict[str, object], *arguments: str) -> None:
    subprocess.run(
        ["kubectl", "--kubeconfig", str(kubeconfig), *arguments, "-f", "-"],
        input=json.dumps(manifest),
        text=True,
        check=True,
        capture_output=True,
    )


@pytest.mark.parametrize(
    ("size", "arguments"),
    [(150 * 1024, ("apply",)), (300 * 1024, ("apply", "--server-side"))],
    ids=["150KiB-client-side-apply", "300KiB-server-side-apply"],
)
def test_a_large_inline_template_is_handled(
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    kubeconfig_environment: Path,
    size: int,
    arguments: tuple[str, ...],
) -> None:
    template = {"name": "Big", "template": {"inline": _large_template(size)}}
    manifest = turbine_stack("large", template_bucket, additionalTemplates=[template])
    manifest["metadata"]["namespace"] = namespace

    with running_operator([namespace]):
        _kubectl(kubeconfig_environment, manifest, *arguments)

        def handled() -> dict[str, object] | None:
            stack = kube.get_stack(namespace, "large")
            status = (stack or {}).get("status") or {}
            return stack if status.get("observedGeneration") == 1 else None

        stack = wait_for(handled, timeout=60, what="the operator to handle the TurbineStack")

    recorded = stack["status"][STATUS_FIELD]  # type: ignore[index]
    assert len(recorded) < 4096
    assert "sha256:" in recorded
