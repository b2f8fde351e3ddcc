"""Default stack names across an operator upgrade: what an earlier operator named keeps its name, only
TurbineStacks that never had a stack take the new default (core.naming, operations.stack.stack_names)."""

from __future__ import annotations

from stubbed.aws import (
    LEGACY_STACK_NAME,
    NAME,
    NAMESPACE,
    OWNER_UID,
    STACK_ID,
    STACK_NAME,
    spec,
    stack_description,
)
from stubbed.cluster import ObjectsInMemory
from turbine_operator.core.naming import client_request_token, default_stack_name, ownership_tags
from turbine_operator.operations.stack.deletion import Deleter
from turbine_operator.operations.stack.reconcile import Reconciler

from .harness import (
    StubbedAws,
    change_set_for,
    change_set_token,
    conditions,
    desired_for,
    stack_resource,
)
from .test_tenancy import TENANT, governed, grant

LEGACY_STACK_ID = STACK_ID.replace(f"stack/{STACK_NAME}/", f"stack/{LEGACY_STACK_NAME}/")


def _legacy_stack(aws: StubbedAws, tags: dict[str, str], status: str = "UPDATE_IN_PROGRESS") -> None:
    """The stack an earlier operator made under `<namespace>-<name>`, with the given owner tags."""
    described = stack_description(status, name=LEGACY_STACK_NAME, stack_id=LEGACY_STACK_ID, tags=tags)
    aws.cloudformation.add_response(
        "describe_stacks", {"Stacks": [described]}, {"StackName": LEGACY_STACK_NAME}
    )


def test_the_default_differs_from_the_name_earlier_operators_gave() -> None:
    # Without that, nothing below would tell an upgrade apart.
    assert STACK_NAME != LEGACY_STACK_NAME


def test_an_upgraded_operator_keeps_the_stack_name_an_earlier_one_recorded(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    aws.stack("UPDATE_IN_PROGRESS", requested_as=LEGACY_STACK_NAME, named=LEGACY_STACK_NAME)
    recorded = {"stackName": LEGACY_STACK_NAME, "stackId": LEGACY_STACK_ID, "region": "us-east-1"}

    outcome = reconciler.reconcile(stack_resource(status=recorded))

    aws.verify()  # DescribeStacks asked for the recorded name, not the new default
    assert aws.calls == ["DescribeStacks"]
    assert outcome.status["stackName"] == LEGACY_STACK_NAME
    assert conditions(outcome)["Reconciling"]["reason"] == "StackOperationInProgress"


def test_a_turbinestack_whose_status_was_lost_finds_its_stack_by_the_legacy_name(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    aws.no_stack()  # nothing under the new default
    _legacy_stack(aws, ownership_tags(NAMESPACE, NAME, OWNER_UID))

    outcome = reconciler.reconcile(stack_resource())

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeStacks"]
    assert aws.mutating_calls == []  # no second stack beside its own
    assert outcome.status["stackName"] == LEGACY_STACK_NAME
    assert outcome.status["stackId"] == LEGACY_STACK_ID


def test_a_legacy_named_stack_of_another_turbinestack_is_left_to_it(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    # `air/flow-demo` made `airflow-demo` under the old default, as `airflow/demo` would have: the new
    # default tells them apart, and airflow/demo creates its own stack.
    aws.no_stack()
    _legacy_stack(aws, ownership_tags("air", "flow-demo", "another-uid"))
    resource = stack_resource()
    desired = desired_for(resource)
    name = change_set_for(desired, in_review=True)
    aws.bundle_listing(desired, present=True)
    aws.create_change_set(desired, name, "CREATE", change_set_token(name, "CREATE"))  # by STACK_NAME

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.mutating_calls == ["CreateChangeSet"]
    assert outcome.status["stackName"] == STACK_NAME == default_stack_name(NAMESPACE, NAME)


def test_a_deletion_without_status_finds_the_stack_by_the_legacy_name(
    aws: StubbedAws, deleter: Deleter
) -> None:
    aws.no_stack()
    _legacy_stack(aws, ownership_tags(NAMESPACE, NAME, OWNER_UID), status="UPDATE_COMPLETE")
    token = client_request_token(OWNER_UID, "delete", LEGACY_STACK_ID)
    aws.cloudformation.add_response(
        "delete_stack", {}, {"StackName": LEGACY_STACK_ID, "ClientRequestToken": token}
    )

    outcome = deleter.delete(stack_resource(spec(deletionPolicy="Delete")), attempt=0)

    aws.verify()
    assert aws.mutating_calls == ["DeleteStack"]
    assert not outcome.finished  # released only once the stack is gone, never orphaned


def test_a_governed_namespace_names_new_stacks_with_its_tenant_prefix(
    aws: StubbedAws, objects: ObjectsInMemory
) -> None:
    grant(objects, {**TENANT, "stackNamePrefix": "airflow-team-"})
    reconciler, _ = governed(aws, objects)
    prefixed = default_stack_name(NAMESPACE, NAME, "airflow-team-")
    aws.stack("UPDATE_IN_PROGRESS", requested_as=prefixed, named=prefixed)

    outcome = reconciler.reconcile(stack_resource())

    aws.verify()
    assert prefixed == "airflow-team-t7-airflow-demo"
    assert outcome.status["stackName"] == prefixed


def test_a_refused_turbinestack_records_no_default_name(aws: StubbedAws, objects: ObjectsInMemory) -> None:
    # Once recorded a name is kept (parsed_spec): a default chosen while refused would pin one never used.
    grant(objects, {**TENANT, "stackNamePrefix": "airflow-team-"})
    reconciler, _ = governed(aws, objects)

    outcome = reconciler.reconcile(stack_resource(spec(region="eu-west-1")))

    assert aws.calls == []
    assert conditions(outcome)["Stalled"]["reason"] == "OutsideTenantGrant"
    assert "stackName" not in outcome.status
