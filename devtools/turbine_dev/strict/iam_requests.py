"""Which IAM action, on which resource, an AWS request asks for: what IAM evaluates (iam_evaluation).

The rehearsal's embedded AWS (turbine_dev.rehearsal.services.iam_enforcement) maps every request signed with
an instance role's or the Lambda role's credentials so, and evaluates the role's policies on it. The
mapping knows the services and operations the instances and the Lambda call; anything else raises
`Unmapped`, which the enforcement denies: the harsher reading, so that a new call in the scripts cannot
slip by unevaluated.

The action is the service's IAM prefix and the API operation's name (for these services IAM names its
actions after the operations: "Actions, resources, and condition keys", the Service Authorization Reference,
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html),
except for S3, whose REST operations map to actions by S3's own table (see _s3). The resource is the ARN of
what the operation acts on, or "*" where the action supports no resource-level permission.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any, Protocol

from turbine_dev.strict.iam_evaluation import Request

# Signature Version 4: "Credential=<access key id>/<date>/<region>/<service>/aws4_request", in the
# Authorization header or, presigned, in X-Amz-Credential
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
# The signing name of a service where it is not its IAM prefix (CloudWatch signs as "monitoring").
_IAM_PREFIX = {"monitoring": "cloudwatch"}


class Unmapped(LookupError):
    """A request this module cannot map to (action, resource): denied, never allowed unevaluated."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"{action}: {reason}")
        self.action = action
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str  # decoded, as WSGI's PATH_INFO
    query: str  # raw, as WSGI's QUERY_STRING
    headers: Mapping[str, str]  # names lower-case
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclasses.dataclass(frozen=True)
class Signature:
    access_key_id: str
    region: str
    service: str  # the signing name


def signature(request: HttpRequest) -> Signature | None:
    """Who signed the request, for which region and service; None for an unsigned request."""
    found = _CREDENTIAL.search(request.header("authorization"))
    if found is None:
        presigned = urllib.parse.parse_qs(request.query).get("X-Amz-Credential", [""])[0]
        found = _CREDENTIAL.search(f"Credential={presigned}")
    if found is None:
        return None
    return Signature(found.group(1), found.group(2), found.group(3))


class Resolver(Protocol):
    """What the mapping needs from the AWS the request reaches (ARNs carry generated parts)."""

    def secret_arn(self, region: str, secret_id: str) -> str | None: ...

    def group_arn(self, region: str, group_name: str) -> str | None: ...

    def group_of_instance(self, region: str, instance_id: str) -> str | None: ...

    def stack_arn(self, region: str, stack: str) -> str | None: ...

    def profile_association(self, region: str, association_id: str) -> tuple[str, str] | None:
        """(instance id, ARN of the profile associated now) of an instance profile association."""
        ...

    def profile_role(self, profile: str) -> tuple[str, str] | None:
        """(profile ARN, ARN of its role) of an instance profile, named or by ARN."""
        ...


def iam_requests(request: HttpRequest, account: str, resolver: Resolver) -> list[Request]:
    """The IAM requests `request` makes (all must be allowed), or Unmapped."""
    signed = signature(request)
    if signed is None:
        raise Unmapped("unknown", "an unsigned request")
    prefix = _IAM_PREFIX.get(signed.service, signed.service)
    if prefix == "s3":
        return _s3(request)
    operation, params = _operation(request, prefix)
    action = f"{prefix}:{operation}"
    handler = _SERVICES.get(prefix)
    if handler is None:
        raise Unmapped(action, f"the service {prefix} is not mapped")
    return handler(_Call(action, operation, params, signed.region, account, resolver))


def _operation(request: HttpRequest, prefix: str) -> tuple[str, dict[str, Any]]:
    """(operation, parameters) of a JSON-protocol (X-Amz-Target) or query-protocol (Action=) request."""
    target = request.header("x-amz-target")
    if target:
        operation = target.rpartition(".")[2]
        try:
            params = json.loads(request.body or b"{}")
        except ValueError as error:
            raise Unmapped(f"{prefix}:{operation}", "a JSON body that does not parse") from error
        return operation, dict(params) if isinstance(params, dict) else {}
    if "cbor" in request.header("content-type") or "/operation/" in request.path:
        raise Unmapped(f"{prefix}:{request.path.rpartition('/')[2]}", "the RPC v2 CBOR protocol is not read")
    form = urllib.parse.parse_qs(request.body.decode(errors="replace"), keep_blank_values=True)
    form.update(urllib.parse.parse_qs(request.query, keep_blank_values=True))
    params = {key: values[0] for key, values in form.items()}
    operation = params.pop("Action", "")
    if not operation:
        raise Unmapped(f"{prefix}:unknown", "no operation named (neither X-Amz-Target nor Action)")
    return operation, params


@dataclasses.dataclass(frozen=True)
class _Call:
    action: str
    operation: str
    params: dict[str, Any]
    region: str
    account: str
    resolver: Resolver

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def param(self, name: str) -> str:
        value = self.params.get(name)
        if not isinstance(value, str) or not value:
            raise Unmapped(self.action, f"no {name} to build the resource from")
        return value

    def one(self, resource: str, context: Mapping[str, str] | None = None) -> list[Request]:
        return [Request(self.action, resource, dict(context or {}))]


# SQS: "Amazon SQS API permissions: Actions and resource reference"
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-api-permissions-reference.html):
# every action on a queue has the resource arn:aws:sqs:region:account_id:queue_name; ListQueues names no
# queue and is evaluated on "*". The queue URL is https://sqs.<region>.amazonaws.com/<account>/<name>
# ("Amazon SQS queue and message identifiers",
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-queue-message-identifiers.html).
def _sqs(call: _Call) -> list[Request]:
    if call.operation == "ListQueues":
        return call.one("*")
    if call.operation in ("GetQueueUrl", "CreateQueue"):
        owner = call.params.get("QueueOwnerAWSAccountId") or call.account
        return call.one(f"arn:aws:sqs:{call.region}:{owner}:{call.param('QueueName')}")
    path = urllib.parse.urlsplit(call.param("QueueUrl")).path.strip("/").split("/")
    if len(path) != 2:
        raise Unmapped(call.action, f"a queue URL without <account>/<name>: {call.params['QueueUrl']}")
    owner, name = path
    return call.one(f"arn:aws:sqs:{call.region}:{owner}:{name}")


# DynamoDB: "Actions, resources, and condition keys for Amazon DynamoDB"
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html): item and
# table actions act on arn:aws:dynamodb:region:account:table/<name>; a batch acts on each table it names;
# ListTables supports no resource-level permission.
def _dynamodb(call: _Call) -> list[Request]:
    if call.operation == "ListTables":
        return call.one("*")
    if call.operation in ("BatchGetItem", "BatchWriteItem"):
        tables = call.params.get("RequestItems")
        if not isinstance(tables, dict) or not tables:
            raise Unmapped(call.action, "a batch without RequestItems")
        return [Request(call.action, call.arn("dynamodb", f"table/{name}")) for name in sorted(tables)]
    return call.one(call.arn("dynamodb", f"table/{call.param('TableName')}"))


# Secrets Manager: "Actions, resources, and condition keys for AWS Secrets Manager"
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html): a secret's
# actions act on its ARN, arn:aws:secretsmanager:region:account:secret:<name>-<6 random characters>, whether
# the request names it by ARN or by name; ListSecrets and GetRandomPassword on "*".
def _secretsmanager(call: _Call) -> list[Request]:
    if call.operation in ("ListSecrets", "GetRandomPassword"):
        return call.one("*")
    secret_id = call.param("SecretId")
    arn = call.resolver.secret_arn(call.region, secret_id)
    if arn is None:
        raise Unmapped(call.action, f"no secret {secret_id}")
    return call.one(arn)


# Systems Manager Parameter Store: a parameter's ARN is arn:aws:ssm:region:account:parameter/<name>, the
# name's leading "/" not doubled ("Restricting access to Parameter Store parameters using IAM policies",
# https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html);
# DescribeParameters supports no resource-level permission
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssystemsmanager.html).
def _ssm(call: _Call) -> list[Request]:
    def parameter(name: str) -> str:
        return name if name.startswith("arn:") else call.arn("ssm", f"parameter/{name.lstrip('/')}")

    if call.operation == "DescribeParameters":
        return call.one("*")
    if call.operation in ("GetParameter", "PutParameter", "DeleteParameter", "GetParameterHistory"):
        return call.one(parameter(call.param("Name")))
    if call.operation == "GetParameters":
        names = call.params.get("Names") or []
        return [Request(call.action, parameter(str(name))) for name in names]
    if call.operation == "GetParametersByPath":
        return call.one(parameter(call.param("Path")))
    raise Unmapped(call.action, "an SSM operation not mapped")


# EC2 Auto Scaling: "Actions, resources, and condition keys for Amazon EC2 Auto Scaling"
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html): the
# Describe actions support no resource-level permission; the others act on the group,
# arn:aws:autoscaling:region:account:autoScalingGroup:<uuid>:autoScalingGroupName/<name>. SetInstanceHealth
# names only the instance: it acts on the group the instance is in.
def _autoscaling(call: _Call) -> list[Request]:
    if call.operation.startswith("Describe"):
        return call.one("*")
    name = call.params.get("AutoScalingGroupName")
    if not name and call.operation == "SetInstanceHealth":
        name = call.resolver.group_of_instance(call.region, call.param("InstanceId"))
    if not name:
        raise Unmapped(call.action, "no Auto Scaling group named")
    arn = call.resolver.group_arn(call.region, name)
    if arn is None:
        raise Unmapped(call.action, f"no Auto Scaling group {name}")
    return call.one(arn)


# CloudFormation: "Actions, resources, and condition keys for AWS CloudFormation"
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscloudformation.html):
# SignalResource and the Describe actions on one stack act on the stack's ARN,
# arn:aws:cloudformation:region:account:stack/<name>/<id>.
def _cloudformation(call: _Call) -> list[Request]:
    if call.operation not in ("SignalResource", "DescribeStackResource", "DescribeStackResources",
                              "DescribeStacks"):  # fmt: skip
        raise Unmapped(call.action, "a CloudFormation operation not mapped")
    stack = call.param("StackName")
    arn = call.resolver.stack_arn(call.region, stack)
    if arn is None:
        raise Unmapped(call.action, f"no stack {stack}")
    return call.one(arn)


# CloudWatch: "Actions, resources, and condition keys for Amazon CloudWatch"
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html):
# PutMetricData, GetMetricData, GetMetricStatistics and ListMetrics support no resource-level permission;
# PutMetricData carries the condition key cloudwatch:namespace
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html).
def _cloudwatch(call: _Call) -> list[Request]:
    if call.operation == "PutMetricData":
        return call.one("*", {"cloudwatch:namespace": call.param("Namespace")})
    if call.operation in ("GetMetricData", "GetMetricStatistics", "ListMetrics"):
        return call.one("*")
    raise Unmapped(call.action, "a CloudWatch operation not mapped")


# Elastic Load Balancing: the Describe actions support no resource-level permission ("Actions, resources, and
# condition keys for Elastic Load Balancing V2",
# https://docs.aws.amazon.com/service-authorization/latest/reference/list_awselasticloadbalancingv2.html).
def _elasticloadbalancing(call: _Call) -> list[Request]:
    if call.operation.startswith("Describe"):
        return call.one("*")
    raise Unmapped(call.action, "an Elastic Load Balancing operation not mapped")


# CloudWatch Logs: CreateLogStream and PutLogEvents act on the log stream,
# arn:aws:logs:region:account:log-group:<group>:log-stream:<stream>; CreateLogGroup on the group
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html).
def _logs(call: _Call) -> list[Request]:
    group = call.param("logGroupName")
    if call.operation in ("CreateLogStream", "PutLogEvents"):
        return call.one(call.arn("logs", f"log-group:{group}:log-stream:{call.param('logStreamName')}"))
    if call.operation == "CreateLogGroup":
        return call.one(call.arn("logs", f"log-group:{group}"))
    raise Unmapped(call.action, "a CloudWatch Logs operation not mapped")


# STS: GetCallerIdentity needs no permission ("No permissions are required to perform this operation",
# https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html): it maps to no IAM request.
def _sts(call: _Call) -> list[Request]:
    if call.operation == "GetCallerIdentity":
        return []
    raise Unmapped(call.action, "an STS operation not mapped")


# EC2 (the instance profile of a running instance): "Actions, resources, and condition keys for Amazon EC2"
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2.html):
# DescribeIamInstanceProfileAssociations supports no resource-level permission;
# ReplaceIamInstanceProfileAssociation acts on the instance, arn:aws:ec2:region:account:instance/<id>. The
# context carries ec2:InstanceProfile (the profile associated now) and ec2:NewInstanceProfile (the one it asks
# for), which the templates do not rely on (docs/aws-rules.md, IAM and CodeDeploy). It also passes the new
# profile's role to EC2: "Grant permissions to attach an IAM role to an instance"
# (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/permission-to-pass-iam-roles.html) lists
# iam:PassRole, evaluated with iam:PassedToService ec2.amazonaws.com
# (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html).
def _ec2(call: _Call) -> list[Request]:
    if call.operation == "DescribeIamInstanceProfileAssociations":
        return call.one("*")
    if call.operation != "ReplaceIamInstanceProfileAssociation":
        raise Unmapped(call.action, "an EC2 operation not mapped")
    association = call.resolver.profile_association(call.region, call.param("AssociationId"))
    if association is None:
        raise Unmapped(call.action, f"no association {call.params['AssociationId']}")
    instance, current = association
    asked = call.params.get("IamInstanceProfile.Arn") or call.params.get("IamInstanceProfile.Name")
    profile = call.resolver.profile_role(str(asked or ""))
    if profile is None:
        raise Unmapped(call.action, f"no instance profile {asked}")
    new_profile, role = profile
    context = {"ec2:InstanceProfile": current, "ec2:NewInstanceProfile": new_profile}
    return [
        Request(call.action, call.arn("ec2", f"instance/{instance}"), context),
        Request("iam:PassRole", role, {"iam:PassedToService": "ec2.amazonaws.com"}),
    ]


_SERVICES = {
    "sqs": _sqs,
    "dynamodb": _dynamodb,
    "secretsmanager": _secretsmanager,
    "ssm": _ssm,
    "autoscaling": _autoscaling,
    "cloudformation": _cloudformation,
    "cloudwatch": _cloudwatch,
    "elasticloadbalancing": _elasticloadbalancing,
    "logs": _logs,
    "sts": _sts,
    "ec2": _ec2,
}

# S3: "Required permissions for Amazon S3 API operations"
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/using-with-s3-policy-actions.html) and each
# operation's API reference: ListObjects/ListObjectsV2 and HeadBucket need s3:ListBucket on the bucket
# (arn:aws:s3:::<bucket>), with the request's prefix as the condition key s3:prefix
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/amazon-s3-policy-keys.html); GetObject and HeadObject
# need s3:GetObject on the object (arn:aws:s3:::<bucket>/<key>), s3:GetObjectVersion with a versionId
# (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html); PutObject and the multipart upload's
# CreateMultipartUpload, UploadPart and CompleteMultipartUpload need s3:PutObject
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions),
# AbortMultipartUpload s3:AbortMultipartUpload, ListParts s3:ListMultipartUploadParts.
# Requests are path-style (http://<endpoint>/<bucket>/<key>), as the SDKs send them to an endpoint URL; any
# other sub-resource (?acl, ?tagging, ...) or a copy is not mapped.
_S3_BUCKET_LISTINGS = {"list-type", "prefix", "delimiter", "encoding-type", "max-keys", "marker",
                       "continuation-token", "start-after", "fetch-owner"}  # fmt: skip


def _s3(request: HttpRequest) -> list[Request]:
    query = urllib.parse.parse_qs(request.query, keep_blank_values=True)
    bucket, _, key = request.path.lstrip("/").partition("/")
    if not bucket:
        raise Unmapped("s3:ListAllMyBuckets", "not mapped")
    method = request.method.upper()
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if not key:
        if method == "GET" and set(query) <= _S3_BUCKET_LISTINGS:
            context = {"s3:prefix": query["prefix"][0]} if "prefix" in query else {}
            return [Request("s3:ListBucket", bucket_arn, context)]
        if method == "HEAD" and not query:
            return [Request("s3:ListBucket", bucket_arn)]
        raise Unmapped(f"s3:{method} bucket", f"a bucket request not mapped (?{request.query})")
    object_arn = f"{bucket_arn}/{key}"
    if request.header("x-amz-copy-source"):
        raise Unmapped("s3:PutObject", "a copy is not mapped")
    subresources = set(query) - {"versionId", "partNumber", "uploadId", "uploads", "x-id"}
    signed_url = {name for name in query if name.startswith("X-Amz-")}
    if subresources - signed_url:
        raise Unmapped(f"s3:{method} object", f"an object sub-resource not mapped (?{request.query})")
    if method in ("GET", "HEAD"):
        if "uploadId" in query:
            return [Request("s3:ListMultipartUploadParts", object_arn)]
        return [Request("s3:GetObjectVersion" if "versionId" in query else "s3:GetObject", object_arn)]
    if method in ("PUT", "POST"):
        return [Request("s3:PutObject", object_arn)]
    if method == "DELETE":
        if "uploadId" in query:
            return [Request("s3:AbortMultipartUpload", object_arn)]
        return [Request("s3:DeleteObjectVersion" if "versionId" in query else "s3:DeleteObject", object_arn)]
    raise Unmapped(f"s3:{method} object", "not mapped")
