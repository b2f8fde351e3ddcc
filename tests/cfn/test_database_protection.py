"""The metadata database outlives a deletion of its stack unless the TurbineStack is to delete the stack.

RDS refuses to delete a DB instance with deletion protection ("Deleting a DB instance",
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_DeleteInstance.html), so a stack holding one
fails to delete; the embedded AWS refuses it as RDS does (turbine_dev.aws.moto_cfn_resources).
"""

from __future__ import annotations

from typing import Any

import pytest
from test_stack_in_embedded_aws import create_master_stack, wait_for_stack

pytestmark = pytest.mark.integration


def _database(aws: Any, stack_name: str) -> str:
    cloudformation = aws.client("cloudformation")
    cluster = cloudformation.describe_stack_resource(StackName=stack_name, LogicalResourceId="ClusterStack")
    database = cloudformation.describe_stack_resource(
        StackName=cluster["StackResourceDetail"]["PhysicalResourceId"], LogicalResourceId="Database"
    )
    return str(database["StackResourceDetail"]["PhysicalResourceId"])


@pytest.mark.parametrize(("protection", "deleted"), [("true", False), ("false", True)])
def test_a_protected_database_keeps_its_stack_from_being_deleted(
    embedded_aws: Any, protection: str, deleted: bool
) -> None:
    _, stack_name = create_master_stack(embedded_aws, {"DatabaseDeletionProtection": protection})
    rds = embedded_aws.client("rds")
    identifier = _database(embedded_aws, stack_name)
    (instance,) = rds.describe_db_instances(DBInstanceIdentifier=identifier)["DBInstances"]
    assert instance["DeletionProtection"] is (protection == "true")

    cloudformation = embedded_aws.client("cloudformation")
    stack_id = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]["StackId"]
    cloudformation.delete_stack(StackName=stack_id)
    stack = wait_for_stack(cloudformation, stack_id)

    remaining = [db["DBInstanceIdentifier"] for db in rds.describe_db_instances()["DBInstances"]]
    assert (identifier not in remaining) is deleted
    assert (stack["StackStatus"] == "DELETE_COMPLETE") is deleted, stack.get("StackStatusReason")
    if not deleted:
        assert stack["StackStatus"] == "DELETE_FAILED"
        reason = cloudformation.describe_stack_events(StackName=stack_id)["StackEvents"][0][
            "ResourceStatusReason"
        ]
        assert reason.startswith("The following resource(s) failed to delete: [")
        assert (
            "Cannot delete protected DB Instance, please disable deletion protection and try again" in reason
        )
