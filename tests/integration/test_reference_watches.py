"""Referenced Secrets are watched by name only, on the real API server: a change to one still reconciles
at once, unrelated Secrets never reach the operator, and a Secret no longer referenced is no longer watched.

What the operator watches and receives is read from both sides: the API server's own count of the watch
requests on Secrets it holds open, and the operator's turbine_reference_watches and
turbine_reference_watch_events_total.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import turbine_stack
from turbine_operator.core.naming import default_stack_name

pytestmark = [
    pytest.mark.integration,
    pytest.mark.usefixtures("crd_installed", "kubeconfig_environment", "small_templates"),
]

EXTRA = """\
Parameters:
  QueueSuffix: {Type: String, AllowedPattern: "[a-z0-9-]+", NoEcho: true}
  QSS3KeyPrefix: {Type: String}
Resources:
  ExtraQueue:
    Type: AWS::SQS::Queue
    Properties:
      # The stack's unique id, then the suffix: SQS takes at most 80 characters, fewer than the nested stack's
      # name and the suffix can make.
      QueueName: !Join ["-", [!Select [2, !Split ["/", !Ref "AWS::StackId"]], !Ref QueueSuffix]]
"""
UNRELATED = 40


@pytest.fixture(autouse=True)
def _no_resync(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the watch can then notice a change within these tests' waits.
    monkeypatch.setenv("TURBINE_RESYNC_INTERVAL", "600")


def _stack(bucket: str, suffix_from: dict[str, Any]) -> dict[str, Any]:
    return turbine_stack(
        "extras",
        bucket,
        deletionPolicy="Delete",
        additionalTemplates=[
            {
                "name": "Extra",
                "template": {"configMapKeyRef": {"name": "extras", "key": "extra.yaml"}},
                "parametersFrom": [{"name": "QueueSuffix", **suffix_from}],
            }
        ],
    )


def _from_secret() -> dict[str, Any]:
    return {"secretKeyRef": {"name": "suffix", "key": "value"}}


def _operator_events(kind: str) -> float:
    return REGISTRY.get_sample_value("turbine_reference_watch_events_total", {"kind": kind}) or 0.0


def _watched(kind: str) -> float:
    return REGISTRY.get_sample_value("turbine_reference_watches", {"kind": kind}) or 0.0


def _secret_watches(kube: KubeApi) -> float:
    """Watch requests on Secrets the API server holds open right now, anyone's."""
    return kube.server_metric("apiserver_longrunning_requests", resource="secrets", verb="WATCH")


def _applied(kube: KubeApi, namespace: str) -> str:
    return str((kube.get_stack(namespace, "extras") or {})["status"]["lastAppliedHash"])


def _wait_applied_after(kube: KubeApi, namespace: str, applied: str, timeout: float) -> None:
    wait_for(
        lambda: (
            (status := (kube.get_stack(namespace, "extras") or {}).get("status", {}))
            and status.get("lastAppliedHash") not in (None, applied)
            and status.get("stackStatus") in ("UPDATE_COMPLETE", "CREATE_COMPLETE")
            and status.get("observedGeneration")
            == (kube.get_stack(namespace, "extras") or {})["metadata"]["generation"]
        ),
        timeout,
        "the change to be applied",
    )


def _queue_suffix(aws: EmbeddedAws, namespace: str) -> str:
    """The suffix of the extra template's queue, which the referenced Secret names."""
    cloudformation = aws.client("cloudformation")
    resources = cloudformation.describe_stack_resources(StackName=default_stack_name(namespace, "extras"))[
        "StackResources"
    ]
    nested = next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "Extra")
    queues = cloudformation.describe_stack_resources(StackName=nested)["StackResources"]
    return ",".join(r["PhysicalResourceId"].rsplit("-", 1)[-1] for r in queues)


def test_a_referenced_secret_change_reconciles_at_once_and_unrelated_secrets_never_reach_the_operator(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    kube.put_config_map(namespace, "extras", {"extra.yaml": EXTRA})
    kube.put_secret(namespace, "suffix", {"value": "first"})
    watches_before = _secret_watches(kube)
    with running_operator([namespace]):
        kube.create_stack(namespace, _stack(template_bucket, _from_secret()))
        kube.wait_condition(namespace, "extras", "Ready", timeout=60)
        # One watch, on the one referenced Secret.
        assert _watched("Secret") == 1
        assert _secret_watches(kube) == watches_before + 1

        # Unrelated Secrets in the very namespace the operator serves, created and changed: the API server
        # sends the operator's only Secret watch none of their events, so no reconcile either.
        events = _operator_events("Secret")
        applied = _applied(kube, namespace)
        for round_ in ("a", "b"):
            for index in range(UNRELATED):
                kube.put_secret(namespace, f"unrelated-{index}", {"value": round_ * 1024})
        time.sleep(2)
        assert _operator_events("Secret") == events
        assert _secret_watches(kube) == watches_before + 1
        assert _applied(kube, namespace) == applied

        # The referenced Secret changes: the watch asks for the reconcile, long before any resync would.
        changed_at = time.monotonic()
        kube.put_secret(namespace, "suffix", {"value": "second"})
        _wait_applied_after(kube, namespace, applied, timeout=30)
        assert time.monotonic() - changed_at < 30
        annotations = (kube.get_stack(namespace, "extras") or {})["metadata"]["annotations"]
        assert annotations["references.turbine.dev/changed"].startswith("Secret/suffix@")
        assert _operator_events("Secret") == events + 1
        wait_for(lambda: _queue_suffix(aws_environment, namespace) == "second", 30, "the new queue")

        kube.delete_stack(namespace, "extras")
        wait_for(lambda: kube.get_stack(namespace, "extras") is None, 60, "the stack to be deleted")
        assert _watched("Secret") == 0


def test_a_secret_no_longer_referenced_is_no_longer_watched(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    kube.put_config_map(namespace, "extras", {"extra.yaml": EXTRA, "suffix": "plain"})
    kube.put_secret(namespace, "suffix", {"value": "first"})
    watches_before = _secret_watches(kube)
    with running_operator([namespace]):
        kube.create_stack(namespace, _stack(template_bucket, _from_secret()))
        kube.wait_condition(namespace, "extras", "Ready", timeout=60)
        assert _secret_watches(kube) == watches_before + 1

        # The parameter now comes from the ConfigMap: the Secret's watch ends, at the API server too.
        applied = _applied(kube, namespace)
        kube.patch_stack(
            namespace,
            "extras",
            {
                "spec": {
                    "additionalTemplates": _stack(
                        template_bucket, {"configMapKeyRef": {"name": "extras", "key": "suffix"}}
                    )["spec"]["additionalTemplates"]
                }
            },
        )
        _wait_applied_after(kube, namespace, applied, timeout=30)
        wait_for(lambda: _secret_watches(kube) == watches_before, 10, "the Secret's watch to end")
        assert _watched("Secret") == 0
        assert _watched("ConfigMap") == 1

        # A change to the Secret it no longer reads reaches nobody.
        events, applied = _operator_events("Secret"), _applied(kube, namespace)
        kube.put_secret(namespace, "suffix", {"value": "second"})
        time.sleep(2)
        assert _operator_events("Secret") == events
        assert _applied(kube, namespace) == applied

        kube.delete_stack(namespace, "extras")
        wait_for(lambda: kube.get_stack(namespace, "extras") is None, 60, "the stack to be deleted")
