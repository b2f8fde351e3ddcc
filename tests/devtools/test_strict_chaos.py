"""Injected faults (seeded, reproducible), lost responses, and the kill-after-mutation hook.

https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/CommonErrors.html
"""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from turbine_dev.aws.embedded_aws import EmbeddedAws

from .helpers import eventually, no_retries
from .templates import queue_template


def _outcomes(aws: EmbeddedAws, calls: int) -> list[str]:
    cloudformation = no_retries(aws, "cloudformation")
    outcomes = []
    for _ in range(calls):
        try:
            cloudformation.list_stacks()
            outcomes.append("ok")
        except ClientError as error:
            outcomes.append(
                f"{error.response['ResponseMetadata']['HTTPStatusCode']} {error.response['Error']['Code']}"
            )
    return outcomes


def test_faults_follow_the_rate_and_the_seed(strict_aws: EmbeddedAws) -> None:
    kinds = ["throttling", "internal", "unavailable"]
    strict_aws.configure(fault_rate=0.3, fault_seed=42, fault_kinds=kinds)
    first = _outcomes(strict_aws, 60)
    strict_aws.configure(fault_rate=0.3, fault_seed=42)
    again = _outcomes(strict_aws, 60)
    assert first == again
    assert set(first) == {"ok", "400 Throttling", "500 InternalFailure", "503 ServiceUnavailable"}
    assert 0 < first.count("ok") < 60
    assert strict_aws.stats()["faults_total"] == 2 * (60 - first.count("ok"))
    strict_aws.configure(fault_rate=0.3, fault_seed=43)
    assert _outcomes(strict_aws, 60) != first


def test_a_throttled_mutation_never_happened(strict_aws: EmbeddedAws) -> None:
    strict_aws.configure(fault_rate=1.0, fault_kinds=["throttling"])
    with pytest.raises(ClientError, match="Rate exceeded"):
        no_retries(strict_aws, "cloudformation").create_stack(StackName="thr", TemplateBody=queue_template())
    strict_aws.configure(fault_rate=0.0)
    with pytest.raises(ClientError, match="does not exist"):
        strict_aws.client("cloudformation").describe_stacks(StackName="thr")


@pytest.mark.parametrize("lost", [0.0, 1.0])
def test_a_5xx_mutation_happened_only_when_its_response_was_lost(
    strict_aws: EmbeddedAws, lost: float
) -> None:
    strict_aws.configure(fault_rate=1.0, fault_kinds=["internal"], lose_response_rate=lost)
    with pytest.raises(ClientError, match="InternalFailure"):
        no_retries(strict_aws, "cloudformation").create_stack(StackName="lost", TemplateBody=queue_template())
    strict_aws.configure(fault_rate=0.0)
    names = {s["StackName"] for s in strict_aws.client("cloudformation").list_stacks()["StackSummaries"]}
    assert ("lost" in names) is bool(lost)
    assert strict_aws.stats()["responses_lost"] == int(lost)


def test_a_dropped_connection_gives_no_response(strict_aws: EmbeddedAws) -> None:
    strict_aws.configure(fault_rate=1.0, fault_kinds=["connection"], lose_response_rate=1.0)
    with pytest.raises(ConnectionClosedError):
        no_retries(strict_aws, "cloudformation").create_stack(StackName="drop", TemplateBody=queue_template())
    strict_aws.configure(fault_rate=0.0)
    assert strict_aws.client("cloudformation").describe_stacks(StackName="drop")["Stacks"]
    assert strict_aws.stats()["faults"]["connection"] >= 1


def test_faults_can_be_limited_to_some_services(strict_aws: EmbeddedAws) -> None:
    strict_aws.configure(fault_rate=1.0, fault_kinds=["throttling"], fault_services=["cloudformation"])
    no_retries(strict_aws, "s3").list_buckets()
    with pytest.raises(ClientError, match="Rate exceeded"):
        no_retries(strict_aws, "cloudformation").list_stacks()


def test_kill_after_mutation_kills_the_process_once_the_call_is_applied(strict_aws: EmbeddedAws) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        strict_aws.kill_after_mutation(sleeper.pid, probability=1.0, seed=1)
        cloudformation = strict_aws.client("cloudformation")
        cloudformation.list_stacks()
        assert strict_aws.stats()["kills"] == 0
        cloudformation.create_stack(StackName="killer", TemplateBody=queue_template())
        assert sleeper.wait(timeout=60) == -9
        assert cloudformation.describe_stacks(StackName="killer")["Stacks"]
        assert eventually(lambda: strict_aws.stats()["kills"] or None) == 1
    finally:
        sleeper.kill()
        sleeper.wait()


def test_control_endpoint_answers_json(strict_aws: EmbeddedAws) -> None:
    request = urllib.request.Request(  # noqa: S310 - the loopback endpoint of the fixture
        f"{strict_aws.endpoint_url}/_turbine/config",
        data=json.dumps({"operation_seconds": 0.25}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
        assert json.loads(reply.read())["operation_seconds"] == 0.25
    bad = urllib.request.Request(  # noqa: S310
        f"{strict_aws.endpoint_url}/_turbine/config", data=b'{"no_such_setting": 1}', method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(bad, timeout=30)  # noqa: S310
    assert refused.value.code == 400
