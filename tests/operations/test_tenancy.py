"""A TurbineStack outside its tenant's grant is Stalled, or its deletion retains, with no AWS call."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest
import yaml

from stubbed.aws import ACCOUNT, BUCKET, NAMESPACE, REGION, SERVICE_ROLE, SOURCES, STACK_ID, STACK_NAME, spec
from stubbed.cluster import ObjectsInMemory
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.access.tenancy import TENANTS_KEY
from turbine_operator.core.errors import ClusterError
from turbine_operator.core.render.references import SourceKind, StoredObject
from turbine_operator.operations.stack.deletion import Deleter
from turbine_operator.operations.stack.reconcile import Reconciler
from turbine_operator.operations.stack.tenancy import RECHECK_REFUSED_SECONDS

from .harness import NOW, StubbedAws, conditions, stack_resource

CONFIG_MAP = ("turbine-system", "turbine-tenants")
GRANTED_ROLE = f"arn:aws:iam::{ACCOUNT}:role/turbine-airflow"
TENANT = {
    "name": "airflow-team",
    "namespaces": [NAMESPACE],
    "roleArns": [GRANTED_ROLE],
    "serviceRoleArns": [SERVICE_ROLE],
    "regions": [REGION],
    "templateBuckets": [BUCKET],
}


def governed(
    aws: StubbedAws, objects: ObjectsInMemory, *, required: bool = False
) -> tuple[Reconciler, Deleter]:
    settings = OperatorSettings(
        default_region=REGION, tenants_config_map="/".join(CONFIG_MAP), require_tenants=required
    )
    return (
        Reconciler(aws.sessions, SOURCES, settings, objects, clock=lambda: NOW),
        Deleter(aws.sessions, settings, objects, clock=lambda: NOW),
    )


def stored(objects: ObjectsInMemory, text: bytes) -> None:
    objects.objects[(SourceKind.CONFIG_MAP, *CONFIG_MAP)] = StoredObject("uid", "1", {TENANTS_KEY: text})


def grant(objects: ObjectsInMemory, *tenants: Mapping[str, object]) -> None:
    text = yaml.safe_dump({"tenants": list(tenants)}).encode()
    stored(objects, text)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"roleArn": f"arn:aws:iam::{ACCOUNT}:role/someone-elses"}, "spec.roleArn"),
        ({"serviceRoleArn": f"arn:aws:iam::{ACCOUNT}:role/admin"}, "spec.serviceRoleArn"),
        ({"region": "eu-west-1"}, "spec.region"),
        ({"templateBucket": {"name": "other-bucket"}}, "spec.templateBucket.name"),
        ({"adopt": True}, "spec.adopt"),
        ({"allowAdministratorPolicies": True}, "spec.allowAdministratorPolicies"),
    ],
)
def test_a_turbinestack_outside_its_grant_stalls_without_any_aws_call(
    aws: StubbedAws, objects: ObjectsInMemory, fields: dict[str, object], field: str
) -> None:
    grant(objects, TENANT)
    reconciler, _ = governed(aws, objects)

    outcome = reconciler.reconcile(stack_resource(spec(**fields)))

    assert aws.calls == []
    stalled = conditions(outcome)["Stalled"]
    assert (stalled["status"], stalled["reason"]) == ("True", "OutsideTenantGrant")
    assert stalled["message"].startswith(f"{field}: ")
    assert "tenant airflow-team of ConfigMap turbine-system/turbine-tenants" in stalled["message"]
    assert outcome.announcement is not None
    assert outcome.announcement.warning
    # A refused TurbineStack looks again soon, so a grant the administrator adds reaches it.
    assert outcome.retry_after == RECHECK_REFUSED_SECONDS


def test_tenants_required_refuse_a_namespace_no_tenant_lists(
    aws: StubbedAws, objects: ObjectsInMemory
) -> None:
    grant(objects, {**TENANT, "namespaces": ["someone-else"]})
    reconciler, _ = governed(aws, objects, required=True)

    outcome = reconciler.reconcile(stack_resource(spec()))

    assert aws.calls == []
    assert conditions(outcome)["Stalled"]["message"].startswith("metadata.namespace: no tenant in ConfigMap")


def test_a_broken_policy_refuses_rather_than_opens(aws: StubbedAws, objects: ObjectsInMemory) -> None:
    stored(objects, b"tenants: [{name: x}]")
    reconciler, _ = governed(aws, objects)

    outcome = reconciler.reconcile(stack_resource(spec()))

    assert aws.calls == []
    assert conditions(outcome)["Stalled"]["reason"] == "TenantPolicyInvalid"
    assert "tenants.yaml.tenants[0].namespaces" in conditions(outcome)["Stalled"]["message"]


def test_an_unreadable_policy_is_retried(aws: StubbedAws, objects: ObjectsInMemory) -> None:
    @dataclasses.dataclass
    class Unavailable(ObjectsInMemory):
        def read(self, kind: SourceKind, namespace: str, name: str) -> StoredObject | None:
            raise ClusterError("reading ConfigMap: HTTP 503", transient=True)

    reconciler, _ = governed(aws, Unavailable())

    outcome = reconciler.reconcile(stack_resource(spec()))

    assert aws.calls == []
    assert conditions(outcome)["Reconciling"]["reason"] == "Retrying"
    assert outcome.retry_after is not None


def test_deleting_a_turbinestack_outside_its_grant_retains_its_stack_without_any_aws_call(
    aws: StubbedAws, objects: ObjectsInMemory
) -> None:
    grant(objects, TENANT)
    _, deleter = governed(aws, objects)
    outsider = spec(deletionPolicy="Delete", roleArn="arn:aws:iam::999988887777:role/turbine-airflow")
    status = {"stackName": STACK_NAME, "stackId": STACK_ID, "region": REGION}

    outcome = deleter.delete(stack_resource(outsider, status=status), attempt=0)

    assert aws.calls == []
    assert outcome.finished
    assert outcome.announcement is not None
    assert outcome.announcement.reason == "StackRetained"
    assert "is in account 999988887777" not in outcome.announcement.message  # accounts are not bounded here
    assert "spec.roleArn" in outcome.announcement.message
    assert "any stack it created stays in AWS" in outcome.announcement.message
