"""What RDS, Secrets Manager, EFS, Systems Manager and DynamoDB refuse of the stack's data stores."""

from __future__ import annotations

import re
from collections.abc import Iterator

from turbine_dev.aws_rules.refusals import Refusal, out_of_range
from turbine_dev.aws_rules.rendered import RenderedStack, known, resources
from turbine_dev.aws_rules.template_values import ACCOUNT_ID

DB_INSTANCE = "https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html"
RDS_STORAGE = "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/CHAP_Storage.html"
CREATE_SECRET = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_CreateSecret.html"  # noqa: S105 - a URL
GENERATE = "https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetRandomPassword.html"
MOUNT_TARGETS = "https://docs.aws.amazon.com/efs/latest/ug/API_CreateMountTarget.html"
SSM_PARAMETER = "https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html"
DYNAMODB_NAMES = (
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html"
)

# RDS for PostgreSQL master passwords: 8 to 128 printable ASCII characters other than /, ", @ and space.
MASTER_PASSWORD_REFUSED = set('/"@ ')
# A dynamic reference to the password of a secret of this template: {{resolve:secretsmanager:${Secret}:...}}
SECRET_REFERENCE = re.compile(
    r"\{\{resolve:secretsmanager:\$\{(?P<secret>[A-Za-z0-9]+)\}:SecretString:password\}\}"
)
PUNCTUATION = set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


def check_databases(stack: RenderedStack) -> Iterator[Refusal]:
    """RDS for PostgreSQL: gp3 storage of 20 to 65,536 GiB; DBName 1 to 63 letters, digits or underscores
    starting with a letter (CreateDBInstance; "Amazon RDS DB instance storage")."""
    for path, scope in stack.scopes():
        for logical_id, database in resources(scope, "AWS::RDS::DBInstance"):
            properties = database["Properties"]
            where = f"{path} {logical_id}"
            storage = known(scope, properties.get("AllocatedStorage"))
            if storage is not None and str(known(scope, properties.get("StorageType"))) in ("gp3", "gp2"):
                message = out_of_range(int(storage), "allocatedStorage", 20, 65_536)
                if message:
                    yield Refusal("check_databases", f"{where} AllocatedStorage", message, RDS_STORAGE)
            name = known(scope, properties.get("DBName"))
            if name is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,62}", str(name)):
                yield Refusal(
                    "check_databases",
                    f"{where} DBName",
                    "InvalidParameterValue: DBName must begin with a letter and contain only alphanumeric "
                    "characters (1 to 63 for PostgreSQL).",
                    DB_INSTANCE,
                )


def check_master_passwords(stack: RenderedStack) -> Iterator[Refusal]:
    """A master password Secrets Manager generates must be one RDS accepts: 8 to 128 characters, none of
    /, ", @ or a space (CreateDBInstance MasterUserPassword; GetRandomPassword's options)."""
    for path, scope in stack.scopes():
        for logical_id, database in resources(scope, "AWS::RDS::DBInstance"):
            text = str(scope.template["Resources"][logical_id]["Properties"].get("MasterUserPassword", ""))
            reference = database["Properties"].get("MasterUserPassword")
            sub = reference.get("Fn::Sub") if isinstance(reference, dict) else None
            match = SECRET_REFERENCE.fullmatch(str(sub)) if sub else None
            if match is None:
                continue
            secret = scope.template["Resources"][match["secret"]]["Properties"]
            options = known(scope, secret.get("GenerateSecretString")) or {}
            length = int(options.get("PasswordLength", 32))
            allowed = set() if str(options.get("ExcludePunctuation")).lower() == "true" else set(PUNCTUATION)
            if str(options.get("IncludeSpace")).lower() == "true":
                allowed.add(" ")
            allowed -= set(str(options.get("ExcludeCharacters", "")))
            refused = "".join(sorted(allowed & MASTER_PASSWORD_REFUSED))
            where = f"{path} {logical_id} MasterUserPassword"
            if not 8 <= length <= 128:
                yield Refusal(
                    "check_master_passwords",
                    where,
                    "InvalidParameterValue: The parameter MasterUserPassword is not a valid password "
                    "because it "
                    f"is {length} characters; PostgreSQL takes 8 to 128",
                    DB_INSTANCE,
                )
            if refused:
                yield Refusal(
                    "check_master_passwords",
                    where,
                    "InvalidParameterValue: The parameter MasterUserPassword is not a valid password. Only "
                    f"printable ASCII characters besides '/', '@', '\"', ' ' may be used. ({text} may "
                    f"hold {refused})",
                    DB_INSTANCE,
                )


def check_secrets(stack: RenderedStack) -> Iterator[Refusal]:
    """A secret's name: 1 to 512 ASCII letters, digits and /_+=.@- (CreateSecret); a generated password 1 to
    4,096 characters (GetRandomPassword)."""
    for path, scope in stack.scopes():
        for logical_id, secret in resources(scope, "AWS::SecretsManager::Secret"):
            properties = secret["Properties"]
            name = known(scope, properties.get("Name"))
            if name is not None and not re.fullmatch(r"[A-Za-z0-9/_+=.@-]{1,512}", str(name)):
                yield Refusal(
                    "check_secrets",
                    f"{path} {logical_id} Name",
                    "ValidationException: Invalid name. Must be a valid name containing alphanumeric "
                    "characters, "
                    "or any of the following: -/_+=.@!",
                    CREATE_SECRET,
                )
            options = known(scope, properties.get("GenerateSecretString")) or {}
            message = out_of_range(int(options.get("PasswordLength", 32)), "passwordLength", 1, 4096)
            if message:
                yield Refusal("check_secrets", f"{path} {logical_id} GenerateSecretString", message, GENERATE)


def check_mount_targets(stack: RenderedStack) -> Iterator[Refusal]:
    """One mount target per Availability Zone for a file system ("CreateMountTarget"): the mount targets of a
    file system must be in different subnets, which the stack takes from different zones."""
    for path, scope in stack.scopes():
        by_system: dict[str, list[str]] = {}
        for _, target in resources(scope, "AWS::EFS::MountTarget"):
            system = str(target["Properties"]["FileSystemId"])
            subnet = known(scope, target["Properties"]["SubnetId"])
            if subnet is not None:
                by_system.setdefault(system, []).append(str(subnet))
        for system, subnets in by_system.items():
            if len(set(subnets)) < len(subnets):
                yield Refusal(
                    "check_mount_targets",
                    f"{path} {system}",
                    "MountTargetConflict: mount target already exists in this AZ",
                    MOUNT_TARGETS,
                )


def check_parameters(stack: RenderedStack) -> Iterator[Refusal]:
    """A Systems Manager parameter's name, with its ARN, is at most 1,011 characters; a Standard value 4 KB
    (PutParameter)."""
    for path, scope in stack.scopes():
        for logical_id, parameter in resources(scope, "AWS::SSM::Parameter"):
            name = known(scope, parameter["Properties"].get("Name"))
            if name is not None:
                arn = f"arn:aws:ssm:{stack.region}:{ACCOUNT_ID}:parameter/{str(name).lstrip('/')}"
                if len(arn) > 1011:
                    yield Refusal(
                        "check_parameters",
                        f"{path} {logical_id} Name",
                        'ValidationException: Parameter name: can\'t be prefixed with "aws" or "ssm" '
                        "(case-insensitive) and must be 1011 characters or fewer, including the ARN",
                        SSM_PARAMETER,
                    )
            value = known(scope, parameter["Properties"].get("Value"))
            if value is not None and len(str(value).encode()) > 4096:
                yield Refusal(
                    "check_parameters",
                    f"{path} {logical_id} Value",
                    "ValidationException: Standard tier parameters support a value of up to 4 KB",
                    SSM_PARAMETER,
                )


def check_tables(stack: RenderedStack) -> Iterator[Refusal]:
    """A DynamoDB table name: 3 to 255 of a-z, A-Z, 0-9, _ - . ("Supported data types and naming rules")."""
    for path, scope in stack.scopes():
        for logical_id, table in resources(scope, "AWS::DynamoDB::Table"):
            name = known(scope, table["Properties"].get("TableName"))
            if name is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{3,255}", str(name)):
                yield Refusal(
                    "check_tables",
                    f"{path} {logical_id} TableName",
                    "ValidationException: TableName must be at least 3 characters long and at most 255 "
                    "characters "
                    "long, and contain only a-z, A-Z, 0-9, _, - and .",
                    DYNAMODB_NAMES,
                )


CHECKS = (
    check_databases,
    check_master_passwords,
    check_secrets,
    check_mount_targets,
    check_parameters,
    check_tables,
)
