"""Names CloudFormation generates for resources, kept within each resource type's limits. Dev and test only.

moto names an unnamed resource `<stack name>-<logical id>-<random>` whatever its length, so with a
stack name CloudFormation accepts (up to 128 characters) moto builds names the service refuses:
an RDS DB instance identifier over 63 characters (`InvalidDBInstanceIdentifier`, already for the
nested cluster stack of `default-airflow`), a nested stack name over 128. CloudFormation
shortens the stack-name and logical-id part so that the generated name fits, and follows the
type's character rules (DB instance identifiers are lower case, start with a letter, have no
two consecutive hyphens). https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-name.html
"""

from __future__ import annotations

import re
from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.utils import random_suffix

# Types moto names with the default pattern and their maximum name length.
_LIMITS = {
    "AWS::RDS::DBInstance": 63,
    "AWS::RDS::DBSubnetGroup": 255,
    "AWS::CloudFormation::Stack": 128,
    "AWS::IAM::Role": 64,
    "AWS::IAM::InstanceProfile": 128,
    "AWS::Lambda::Function": 64,
    "AWS::SQS::Queue": 80,
    "AWS::AutoScaling::AutoScalingGroup": 255,
    "AWS::Logs::LogGroup": 512,
    "AWS::Events::Rule": 64,
    "AWS::CodeDeploy::Application": 100,
    "AWS::CodeDeploy::DeploymentGroup": 100,
    "AWS::EC2::LaunchTemplate": 128,
    "AWS::SecretsManager::Secret": 512,
}
_LOWER_CASE = {"AWS::RDS::DBInstance", "AWS::RDS::DBSubnetGroup"}


def fitting_name(resource_type: str, stack_name: str, logical_id: str, suffix: str) -> str:
    limit = _LIMITS[resource_type]
    budget = limit - len(suffix) - 2  # two hyphens
    # The stack name gives way first, as CloudFormation's own names keep the logical id readable.
    logical = logical_id[: max(budget // 2, budget - len(stack_name))]
    stack = stack_name[: budget - len(logical)].rstrip("-")
    name = f"{stack}-{logical}-{suffix}"
    if resource_type in _LOWER_CASE:
        name = re.sub("-{2,}", "-", name.lower())
        if not name[0].isalpha():
            name = f"a{name[1:]}"
    return name


def install() -> None:
    original = parsing.generate_resource_name
    if getattr(original, "fits_limits", False):
        return

    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        if resource_type not in _LIMITS:
            return str(original(resource_type, stack_name, logical_id))
        return fitting_name(resource_type, stack_name, logical_id, random_suffix())

    patched: Any = generate_resource_name
    patched.fits_limits = True
    parsing.generate_resource_name = patched
