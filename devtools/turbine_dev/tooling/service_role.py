"""The CloudFormation service role a TurbineStack names in spec.serviceRoleArn, derived from the templates.

The permissions are what AWS publishes for each resource type the Turbine templates declare: the create,
read, update and delete handlers' `permissions` in the CloudFormation registry's resource provider schemas
("Resource type schema", https://docs.aws.amazon.com/cloudformation-cli/latest/userguide/resource-type-schema.html),
which cfn-lint ships. Schemas also name API operations that are no IAM action (s3:DeleteBucketCors is
granted by s3:PutBucketCORS); those are left out, judged by the Service Authorization Reference's action
list, which cfn-lint ships too. Nothing else is granted, so a template change that adds a resource type
fails tests/cfn/test_service_role.py until `make service-role` writes the role again.

IAM refuses a managed policy over 6,144 characters ("IAM and AWS STS quotas"), so the actions are split by
service into as few policies as fit. IAM actions are limited to the roles, instance profiles and policies
whose names start with the stack-name prefix the role is made for: CloudFormation names a stack's roles
`<stack>-<logical id>-<suffix>`, nested stacks' after their parent, so the service role cannot give a role
outside its own stacks any permission.

`python -m turbine_dev.tooling.service_role` writes docs/cloudformation-service-role.yaml.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from turbine_operator.core.render.templates import load_template

REPO_ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = REPO_ROOT / "cfn" / "templates"
OUTPUT = REPO_ROOT / "docs" / "cloudformation-service-role.yaml"
MANAGED_POLICY_MAX_CHARACTERS = 6144
# Resource types whose registry schema has no handlers: CloudFormation itself provides them and needs no
# permission of the caller for them ("AWS::CloudFormation::WaitConditionHandle": a presigned URL it makes).
NO_PERMISSIONS_NEEDED = frozenset({"AWS::CloudFormation::WaitConditionHandle"})
HANDLERS = ("create", "read", "update", "delete")
_IAM_RESOURCES = [
    {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:" + kind + "/${StackNamePrefix}*"}
    for kind in ("role", "instance-profile", "policy")
]


def template_resource_types(folder: Path = TEMPLATES) -> set[str]:
    types: set[str] = set()
    for path in sorted(folder.glob("*.yaml")):
        template = load_template(path.read_bytes(), path.name)
        types |= {str(resource["Type"]) for resource in template["Resources"].values()}
    return types


@functools.cache
def _cfn_lint_data() -> Path:
    """cfn-lint's data: AWS's registry schemas and IAM action catalogue, as its release shipped them."""
    found = importlib.util.find_spec("cfnlint")
    if found is None or found.origin is None:
        raise RuntimeError("cfn-lint is not installed (make installs it)")
    return Path(found.origin).parent / "data"


@functools.cache
def _providers() -> Mapping[str, str]:
    providers: dict[str, str] = json.loads(
        (_cfn_lint_data() / "schemas/providers/us-east-1.json").read_text()
    )
    return providers


@functools.cache
def _iam_actions() -> Mapping[str, frozenset[str]]:
    catalogue = json.loads((_cfn_lint_data() / "AdditionalSpecs" / "Policies.json").read_text())
    return {service: frozenset(entry.get("Actions", {})) for service, entry in catalogue.items()}


def grantable(action: str) -> bool:
    """Whether IAM knows the action (case-insensitively, as IAM matches actions)."""
    service, _, name = action.lower().partition(":")
    return name in _iam_actions().get(service, frozenset())


def handler_permissions(resource_type: str) -> set[str]:
    """The actions AWS's registry schema lists for the type's create, read, update and delete handlers."""
    if resource_type in NO_PERMISSIONS_NEEDED:
        return set()
    schema = json.loads(
        (_cfn_lint_data() / "schemas/resources" / f"{_providers()[resource_type]}.json").read_text()
    )
    handlers = schema.get("handlers") or {}
    if not handlers:
        raise ValueError(f"{resource_type} has no handlers in its registry schema; say what it needs")
    listed = {action for name in HANDLERS for action in (handlers.get(name) or {}).get("permissions", [])}
    return {action for action in listed if grantable(action)}


def required_actions(types: Iterable[str]) -> dict[str, set[str]]:
    """Service prefix -> the actions the resource types need."""
    by_service: dict[str, set[str]] = {}
    for resource_type in sorted(types):
        for action in handler_permissions(resource_type):
            by_service.setdefault(action.split(":", 1)[0].lower(), set()).add(action)
    return by_service


def _statement(service: str, actions: set[str]) -> dict[str, Any]:
    resource: object = _IAM_RESOURCES if service == "iam" else "*"
    return {
        "Sid": service.title().replace("-", ""),
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": resource,
    }


def _size(statements: list[dict[str, Any]]) -> int:
    return len(json.dumps({"Version": "2012-10-17", "Statement": statements}, separators=(",", ":")))


def policy_documents(by_service: Mapping[str, set[str]]) -> list[dict[str, Any]]:
    """The statements, one per service, packed into documents of at most MANAGED_POLICY_MAX_CHARACTERS
    (measured with the Fn::Sub unresolved, which is longer than the ARNs it resolves to)."""
    documents: list[list[dict[str, Any]]] = []
    for service in sorted(by_service, key=lambda name: -_size([_statement(name, by_service[name])])):
        statement = _statement(service, by_service[service])
        if _size([statement]) > MANAGED_POLICY_MAX_CHARACTERS:
            raise ValueError(f"{service}'s actions alone exceed a managed policy; split them")
        fitting = next(
            (d for d in documents if _size([*d, statement]) <= MANAGED_POLICY_MAX_CHARACTERS), None
        )
        if fitting is None:
            documents.append([statement])
        else:
            fitting.append(statement)
    return [{"Version": "2012-10-17", "Statement": sorted(d, key=lambda s: s["Sid"])} for d in documents]


def service_role_template(types: Iterable[str] | None = None) -> dict[str, Any]:
    documents = policy_documents(required_actions(template_resource_types() if types is None else types))
    policies = {
        f"Permissions{index + 1}": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": {"Fn::Sub": f"Turbine stacks ${{StackNamePrefix}}*, part {index + 1}"},
                "PolicyDocument": document,
            },
        }
        for index, document in enumerate(documents)
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": (
            "CloudFormation service role for TurbineStacks (spec.serviceRoleArn): the permissions AWS's "
            "registry schemas list for each resource type of the Turbine templates. Generated by make "
            "service-role."
        ),
        "Parameters": {
            "StackNamePrefix": {
                "Type": "String",
                "AllowedPattern": "^[A-Za-z][-A-Za-z0-9]*$",
                "Description": "The stacks this role serves start with it (a tenant's stackNamePrefix).",
            }
        },
        "Resources": {
            "ServiceRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudformation.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "ManagedPolicyArns": [{"Ref": name} for name in policies],
                },
            },
            **policies,
        },
        "Outputs": {"ServiceRoleArn": {"Value": {"Fn::GetAtt": ["ServiceRole", "Arn"]}}},
    }


def rendered() -> str:
    return (
        "# Generated by `make service-role` (devtools/turbine_dev/tooling/service_role.py): do not edit.\n"
        + yaml.safe_dump(service_role_template(), sort_keys=False, width=110)
    )


def main() -> None:
    OUTPUT.write_text(rendered())
    print(f"wrote {OUTPUT.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
