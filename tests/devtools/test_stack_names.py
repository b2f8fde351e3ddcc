"""Every stack name CloudFormation accepts works, nested stacks and databases included.

https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-name.html
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.aws.moto_resource_names import fitting_name

from .helpers import eventually

DATABASE = {
    "Type": "AWS::RDS::DBInstance",
    "Properties": {
        "Engine": "postgres",
        "DBInstanceClass": "db.t3.micro",
        "AllocatedStorage": "20",
        "MasterUsername": "airflow",
        "MasterUserPassword": "not-a-secret-1",
    },
}
DB_IDENTIFIER = re.compile(r"^[a-z](?!.*--)[a-z0-9-]{0,61}[a-z0-9]$")


@pytest.mark.parametrize("length", [15, 16, 64, 128])
def test_generated_names_fit(length: int) -> None:
    stack = ("Stack-Name-" * 20)[:length].rstrip("-") + "x"
    name = fitting_name("AWS::RDS::DBInstance", stack, "DatabaseInstance", "ABCDEFGHIJKL")
    assert DB_IDENTIFIER.match(name), name
    assert len(fitting_name("AWS::CloudFormation::Stack", stack, "ClusterStack", "ABCDEFGHIJKL")) <= 128


def test_a_database_in_a_nested_stack_of_a_128_character_stack(strict_aws: EmbeddedAws) -> None:
    strict_aws.configure(operation_seconds=0.1)
    s3 = strict_aws.client("s3")
    bucket = f"names-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(
        Bucket=bucket, Key="db.json", Body=json.dumps({"Resources": {"Database": DATABASE}}).encode()
    )
    parent = {
        "Resources": {
            "ClusterStack": {
                "Type": "AWS::CloudFormation::Stack",
                "Properties": {"TemplateURL": f"https://{bucket}.s3.amazonaws.com/db.json"},
            }
        }
    }
    name = ("a-long-namespace-" * 8)[:127] + "x"
    assert len(name) == 128
    cloudformation = strict_aws.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(parent))

    def settled() -> str | None:
        status = str(cloudformation.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
        return None if status.endswith("_IN_PROGRESS") else status

    assert eventually(settled) == "CREATE_COMPLETE"
    [database] = strict_aws.client("rds").describe_db_instances()["DBInstances"]
    assert DB_IDENTIFIER.match(database["DBInstanceIdentifier"])
    assert all(len(s["StackName"]) <= 128 for s in cloudformation.describe_stacks()["Stacks"])
