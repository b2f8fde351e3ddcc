"""The TurbineStack spec: the API's single source, as typed, immutable pydantic dataclasses.

Types, bounds, patterns, defaults and descriptions are declared here once. The operator and
`turbine-operator render` validate with these models (`parse_spec`), and `make crd` generates the
CRD's schema from them (core/api/crd.py), with the CEL rules each model declares beside its Python check:
the API server enforces the CRD, and `render` reads manifests that never went through one.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass
from pydantic.fields import FieldInfo

from turbine_operator.core.api.api_types import (
    AIRFLOW_OPTION_PATTERN,
    AIRFLOW_OPTION_VALUE_PATTERN,
    MANIFEST,
    PARAMETER_NAMES_RULE,
    AirflowOptionValue,
    ApiObject,
    BucketName,
    CertificateArn,
    ChangeSetName,
    Cidr,
    Duration,
    HostedZoneId,
    Hostname,
    ImageId,
    InstanceType,
    KeyPrefix,
    Parameter,
    ParameterValue,
    Region,
    RoleArn,
    StackName,
    TagValue,
    api,
    invalid,
    list_map,
    parameter_names,
    unique_by,
)
from turbine_operator.core.api.spec_additions import AdditionalPolicy, AdditionalTemplate
from turbine_operator.core.api.spec_airflow import AirflowUsers, DagSource, OutputsConfigMap
from turbine_operator.core.api.spec_errors import spec_error, spec_errors
from turbine_operator.core.errors import SpecError
from turbine_operator.core.naming import default_stack_name

SHORTEST_DRIFT_INTERVAL = 300.0
RESERVED_TAG_PREFIXES = ("aws:", "turbine.dev/")
OPERATOR_PARAMETERS = frozenset({"QSS3BucketName", "QSS3KeyPrefix"})
# The network stack's subnets: each holds an Application Load Balancer's nodes (the internal one in the
# private subnets, the internet-facing one in the public subnets), and ELB documents "at least a /27
# bitmask (for example, 10.0.0.0/27) and at least 8 free IP addresses per subnet" ("Subnets for your
# load balancer", https://docs.aws.amazon.com/elasticloadbalancing/latest/application/application-load-balancers.html).
# The templates' AllowedPattern says the same.
SUBNET_CIDR_PARAMETERS = (
    "PublicSubnet1Cidr",
    "PublicSubnet2Cidr",
    "PrivateSubnet1Cidr",
    "PrivateSubnet2Cidr",
)
# A VPC is /16 to /28 ("VPC CIDR blocks", https://docs.aws.amazon.com/vpc/latest/userguide/vpc-cidr-blocks.html),
# but one that holds four /27 subnets is at least a /25.
VPC_CIDR_PARAMETER = "VpcCidr"
_OCTET = r"([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])"
# Checked by parse_spec, not by a CEL rule: a regular expression on a parameter value (4096 characters at
# most) exceeds the API server's cost budget for a CRD's rules, which then refuses the whole CRD.
SUBNET_CIDR_PATTERN = rf"^({_OCTET}[.]){{3}}{_OCTET}/(1[6-9]|2[0-7])$"
VPC_CIDR_PATTERN = rf"^({_OCTET}[.]){{3}}{_OCTET}/(1[6-9]|2[0-5])$"


class DeletionPolicy(enum.StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class UpdatePolicy(enum.StrEnum):
    AUTO = "Auto"
    MANUAL = "Manual"


@dataclass(frozen=True, config=api())
class TemplateBucket(ApiObject):
    """Existing S3 bucket, in the stack's region, where the operator uploads templates, scripts and Lambda
    code under content-addressed keys (the Turbine QSS3BucketName and QSS3KeyPrefix)."""

    name: BucketName
    """Name of the S3 bucket (no dots, so HTTPS virtual-hosted URLs work)."""
    prefix: KeyPrefix = "turbine/"
    """Key prefix below which everything is uploaded; empty, or ends with a slash."""


@dataclass(frozen=True, config=api())
class SchedulerSpec(ApiObject):
    """The Airflow scheduler instance (with the DAG processor and triggerer)."""

    instance_type: Annotated[InstanceType, Parameter("SchedulerInstanceType")] = "t3.large"
    """EC2 instance type of the scheduler (SchedulerInstanceType)."""


@dataclass(
    frozen=True,
    config=api(
        {
            "rule": "!has(self.hostname) || has(self.certificateArn)",
            "message": "hostname needs certificateArn: the webserver's URL is then https://<hostname>",
            "fieldPath": ".hostname",
        },
        {
            "rule": "!has(self.hostedZoneId) || has(self.hostname)",
            "message": "hostedZoneId needs hostname, the name of the record it creates",
            "fieldPath": ".hostedZoneId",
        },
    ),
)
class WebserverSpec(ApiObject):
    """The Airflow webserver (API server and UI)."""

    instance_type: Annotated[InstanceType, Parameter("WebserverInstanceType")] = "t3.medium"
    """EC2 instance type of the webserver (WebserverInstanceType)."""
    port: Annotated[StrictInt, Field(ge=1, le=65535), Parameter("WebServerPort")] = 8080
    """TCP port the webserver listens on (WebServerPort); 80 is allowed."""
    allowed_cidr: Annotated[Cidr, Parameter("AllowHTTPAccessCIDR")] = "10.0.0.0/16"
    """IPv4 CIDR block allowed to reach the webserver (AllowHTTPAccessCIDR)."""
    replicas: Annotated[StrictInt, Field(ge=2, le=10), Parameter("WebserverCount")] = 2
    """Webserver (API server) instances behind the load balancer (WebserverCount). Running tasks report to
    them, so there are at least two, and updates replace them one at a time."""
    certificate_arn: Annotated[CertificateArn | None, Parameter("CertificateArn")] = None
    """ACM certificate ARN of the name users reach Airflow by (CertificateArn). Given, the user-facing load
    balancer serves HTTPS on 443 and redirects HTTP to it. Without spec.webserver.hostname the URL is the
    load balancer's own DNS name, which no certificate a user can get covers, so TLS cannot verify it."""
    hostname: Annotated[Hostname | None, Parameter("WebserverHostname")] = None
    """DNS name users reach Airflow by, lowercase, such as airflow.example.com (WebserverHostname): the
    webserver's URL and Airflow's base_url become https://<hostname>. Needs certificateArn, whose
    certificate must cover the name (exactly, or by a wildcard of one label such as *.example.com)."""
    hosted_zone_id: Annotated[HostedZoneId | None, Parameter("WebserverHostedZoneId")] = None
    """Route 53 hosted zone (such as Z0123456789ABCDEFGHIJ) in which the stack creates an alias A record
    from hostname to the user-facing load balancer (WebserverHostedZoneId); the name must lie within the
    zone. Omitted, the name is left to the user's DNS."""

    @model_validator(mode="after")
    def _named(self) -> WebserverSpec:
        if self.hostname is not None and self.certificate_arn is None:
            raise invalid("needs spec.webserver.certificateArn: the webserver's URL is then https://<hostname>",
                          "hostname")  # fmt: skip
        if self.hosted_zone_id is not None and self.hostname is None:
            raise invalid("needs spec.webserver.hostname, the name of the record it creates", "hostedZoneId")
        return self


_Size = Annotated[StrictInt, Field(ge=0, le=1000)]
# At least one: the worker group's rolling update keeps MinInstancesInService 0, which CloudFormation requires
# to be less than the group's MaxSize ("UpdatePolicy attribute", AutoScalingRollingUpdate,
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatepolicy.html),
# and a Celery cluster that may run no worker runs no task.
_MaxSize = Annotated[StrictInt, Field(ge=1, le=1000)]
_Load = Annotated[StrictFloat, Field(ge=0, le=1)]


@dataclass(
    frozen=True,
    config=api(
        {
            "rule": "self.minSize <= self.maxSize",
            "message": "minSize must not exceed maxSize",
            "fieldPath": ".minSize",
        },
        {
            "rule": "self.shrinkThreshold < self.growthThreshold",
            "message": "shrinkThreshold must be below growthThreshold",
            "fieldPath": ".shrinkThreshold",
        },
    ),
)
class WorkersSpec(ApiObject):
    """The autoscaling group of Celery workers."""

    instance_type: Annotated[InstanceType, Parameter("WorkerInstanceType")] = "t3.large"
    """EC2 instance type of the workers (WorkerInstanceType)."""
    min_size: Annotated[_Size, Parameter("MinGroupSize")] = 0
    """Fewest workers the group scales in to (MinGroupSize)."""
    max_size: Annotated[_MaxSize, Parameter("MaxGroupSize")] = 10
    """Most workers the group scales out to, at least 1 (MaxGroupSize)."""
    growth_threshold: Annotated[_Load, Parameter("GrowthThreshold")] = 0.9
    """Target (0 to 1) of the scale-out policy, task slots wanted per task slot launched: above it the worker
    group grows in proportion, as many workers as the backlog needs in one step (GrowthThreshold)."""
    shrink_threshold: Annotated[_Load, Parameter("ShrinkThreshold")] = 0.5
    """An idle worker is removed when the others keep the cluster load (0 to 1) at or below it
    (ShrinkThreshold)."""

    @model_validator(mode="after")
    def _consistent(self) -> WorkersSpec:
        if self.min_size > self.max_size:
            raise invalid("must not exceed spec.workers.maxSize", "minSize")
        if self.shrink_threshold >= self.growth_threshold:
            raise invalid("must be below spec.workers.growthThreshold", "shrinkThreshold")
        return self


# CEL's string literal takes the pattern's backslash doubled.
_CEL_OPTION_PATTERN = AIRFLOW_OPTION_PATTERN.replace("\\", "\\\\")
_AIRFLOW_OPTIONS_RULE = {
    "rule": f"self.all(key, size(key) <= 128 && key.matches('{_CEL_OPTION_PATTERN}'))",
    "message": "options are section.option in lower case, as Airflow names them (core.default_timezone)",
}


def _airflow_options(config: Mapping[str, str]) -> Mapping[str, str]:
    for key, value in config.items():
        if len(key) > 128 or not re.fullmatch(AIRFLOW_OPTION_PATTERN, key):
            raise invalid("is not section.option in lower case, as Airflow names options", key)
        if not re.fullmatch(AIRFLOW_OPTION_VALUE_PATTERN, value):
            raise invalid("may not hold a single quote, a backslash or a control character", key)
    return config


@dataclass(
    frozen=True,
    config=api(
        {
            "rule": "!has(self.users) "
            "|| self.users.all(u, self.users.filter(v, v.email == u.email).size() == 1)",
            "message": "two users have one email; Airflow needs one per user",
            "fieldPath": ".users",
        },
        {
            "rule": "!has(self.users) || self.users.all(u, "
            "self.users.filter(v, v.username.lowerAscii() == u.username.lowerAscii()).size() == 1)",
            "message": "two usernames differ only in case; Airflow finds users by name in any case",
            "fieldPath": ".users",
        },
    ),
)
class AirflowSpec(ApiObject):
    """Airflow settings applied on every node."""

    load_example_dags: Annotated[StrictBool, Parameter("LoadExampleDags")] = False
    """Load Airflow's example DAGs (LoadExampleDags)."""
    load_default_connections: Annotated[StrictBool, Parameter("LoadDefaultCons")] = False
    """Create Airflow's default connections (LoadDefaultCons)."""
    users: AirflowUsers | None = None
    """Airflow users the cluster converges to, with passwords from Secrets: listed users are created and
    their role, names, email and password kept as declared; a user removed from the list is deleted.
    Users created in Airflow outside the list are left alone and reported in status.airflowUsers.unmanaged.
    Omitted, the operator does not manage users; an empty list deletes every user it created."""
    dags: DagSource | None = None
    """Where the DAGs come from (a git repository or an S3 location), deployed as an Airflow DAG bundle to
    the scheduler, DAG processor, triggerer and workers. Omitted, DAGs come only from /airflow/dags
    (CodeDeploy). Changing the source or its ref updates the stack and replaces the instances one group at
    a time; new commits on a followed branch need no update."""
    config: Annotated[
        Mapping[str, AirflowOptionValue],
        Field(max_length=50, json_schema_extra={"x-kubernetes-validations": [_AIRFLOW_OPTIONS_RULE]}),
        AfterValidator(_airflow_options),
    ] = dataclasses.field(default_factory=dict)
    """Airflow options for every role, as "section.option": "value" (core.default_timezone: Europe/Amsterdam),
    at most 50. Each must be an option of the stack's Airflow; options the stack sets itself (executor,
    database, broker, secrets backend, parallelism and the other options autoscaling sizes, logging, URLs)
    and options Airflow marks sensitive are refused with the reason. Values may not hold a single quote, a
    backslash or a control character. A change updates the stack and replaces the instances one group at a
    time."""


@dataclass(
    frozen=True,
    config=api(
        # The pattern guards duration(): the API server runs this rule even when the pattern fails, and
        # duration() of too many digits fails with a message about protobuf.
        {
            "rule": "!self.interval.matches('^([0-9]{1,5}h)?([0-9]{1,6}m)?([0-9]{1,7}s)?$') "
            "|| duration(self.interval) >= duration('5m')",
            "message": "interval must be at least 5m",
            "fieldPath": ".interval",
        }
    ),
)
class DriftDetectionSpec(ApiObject):
    """How the operator looks for drift: changes to the stack made outside the operator (spec drift,
    checked at every resync) and changes to its resources made outside CloudFormation (resource drift,
    CloudFormation drift detection on this interval)."""

    enabled: StrictBool = True
    """Run CloudFormation resource drift detection."""
    interval: Duration = 21600.0
    """How often resource drift detection runs, as a duration such as 6h, 30m or 1h30m (at least 5m; at
    most 5 digits of hours, 6 of minutes and 7 of seconds, so it fits a duration). Detections start at
    an operator-wide rate (TURBINE_DRIFT_DETECTIONS_PER_MINUTE), the stalest stack first: a fleet larger
    than that rate covers in one interval is checked less often (turbine_drift_detection_backlog_seconds)."""
    remediate: StrictBool = False
    """Re-apply the desired state through a change set when the stack drifted from the spec. Resource
    drift is reported, not remediated (see the README for why)."""

    @field_validator("interval")
    @classmethod
    def _long_enough(cls, seconds: float) -> float:
        if seconds < SHORTEST_DRIFT_INTERVAL:
            raise invalid("must be at least 5m")
        return seconds


def _tag_keys(tags: Mapping[str, str]) -> Mapping[str, str]:
    """Keys as CloudFormation's Tag type takes them, 1 to 128 characters; AWS reserves aws: in any case
    ("AWS:" and "Aws:" are refused too; https://github.com/awsdocs/amazon-ecs-developer-guide/issues/72).

    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Tag.html
    """
    for key in tags:
        if key.lower().startswith(RESERVED_TAG_PREFIXES) or not 1 <= len(key) <= 128:
            raise invalid("tag keys are 1 to 128 characters and not aws: or turbine.dev/", key)
    return tags


def _no_operator_parameters(parameters: Mapping[str, str]) -> Mapping[str, str]:
    for name in parameters:
        if name in OPERATOR_PARAMETERS:
            raise invalid("is set by the operator from spec.templateBucket", name)
    parameters = parameter_names(parameters)
    for name in SUBNET_CIDR_PARAMETERS:
        if name in parameters and not re.fullmatch(SUBNET_CIDR_PATTERN, parameters[name]):
            raise invalid(_SUBNET_CIDR_MESSAGE, name)
    if VPC_CIDR_PARAMETER in parameters and not re.fullmatch(
        VPC_CIDR_PATTERN, parameters[VPC_CIDR_PARAMETER]
    ):
        raise invalid(_VPC_CIDR_MESSAGE, VPC_CIDR_PARAMETER)
    return parameters


_SUBNET_CIDR_MESSAGE = (
    "must be an IPv4 CIDR block from /16 to /27: an Application Load Balancer needs at least a /27 subnet"
    " with 8 free addresses"
)
_VPC_CIDR_MESSAGE = "must be an IPv4 CIDR block from /16 to /25, large enough for four /27 subnets"


_TAGS_RULE = {
    "rule": "self.all(key, !key.lowerAscii().startsWith('aws:')"
    " && !key.lowerAscii().startsWith('turbine.dev/') && size(key) >= 1 && size(key) <= 128)",
    "message": "tag keys must be 1 to 128 characters and must not start with aws: or turbine.dev/",
}
_OPERATOR_PARAMETERS_RULE = {
    "rule": "!('QSS3BucketName' in self) && !('QSS3KeyPrefix' in self)",
    "message": "QSS3BucketName and QSS3KeyPrefix are set by the operator from templateBucket",
}
# Filled in by parse_spec from the resource's name and the operator's region; never a CRD default.
_FROM_CONTEXT: Any = None


@dataclass(
    frozen=True,
    config=api(
        {
            "rule": "!has(self.additionalTemplates) || !has(self.additionalPolicies) "
            "|| self.additionalTemplates.all(t, !self.additionalPolicies.exists(p, p.name == t.name))",
            "message": "additional templates and additional policies need distinct names"
            " (both become logical IDs)",
            "fieldPath": ".additionalPolicies",
        }
    ),
)
class TurbineStackSpec(ApiObject):
    """The desired Airflow deployment and how the operator manages its CloudFormation stack."""

    template_bucket: TemplateBucket
    """Existing S3 bucket, in the stack's region, where the operator uploads templates, scripts and Lambda
    code under content-addressed keys (the Turbine QSS3BucketName and QSS3KeyPrefix)."""
    stack_name: StackName = _FROM_CONTEXT
    """Name of the CloudFormation stack. Defaults to <prefix>t<length of namespace>-<namespace>-<name>
    (docs/tenants.md), where the prefix is the stackNamePrefix of the namespace's tenant; a TurbineStack made
    by an earlier operator keeps the name it recorded in status.stackName. Must start with a letter and
    contain only letters, digits and hyphens (at most 128 characters). Immutable."""
    region: Region = _FROM_CONTEXT
    """AWS region of the stack, for example eu-west-1. Defaults to the operator's region. Immutable."""
    image_id: Annotated[ImageId | None, Parameter("ImageId")] = None
    """Amazon Linux 2023 x86_64 AMI of every instance (ImageId). Omitted, the operator resolves the latest
    AL2023 AMI once, when the stack is created, and keeps it: an update replaces instances for a new image
    only when you set this field."""
    role_arn: RoleArn | None = None
    """IAM role the operator assumes (through STS, refreshed automatically) for every AWS call of this
    stack, for stacks in another account. Omit to use the operator's own credentials. Once the stack exists,
    a role of another account than the stack's (status.stackId) is refused: a stack cannot move accounts."""
    service_role_arn: RoleArn | None = None
    """IAM role CloudFormation itself uses to create, update and delete the stack's resources
    (CloudFormation's service role), of the stack's account. Omit to let CloudFormation use the caller's
    permissions."""
    tags: Annotated[
        Mapping[str, TagValue],
        Field(max_length=40, json_schema_extra={"x-kubernetes-validations": [_TAGS_RULE]}),
    ] = dataclasses.field(default_factory=dict)
    """Tags for the stack, which CloudFormation propagates to the resources that support tags. Keys are 1
    to 128 characters, values 1 to 256 (CloudFormation's Tag type); keys starting with aws: (in any case)
    or turbine.dev/ are reserved."""
    scheduler: SchedulerSpec = SchedulerSpec()
    """The Airflow scheduler instance (with the DAG processor and triggerer)."""
    webserver: WebserverSpec = WebserverSpec()
    """The Airflow webserver (API server and UI)."""
    workers: WorkersSpec = WorkersSpec()
    """The autoscaling group of Celery workers."""
    airflow: AirflowSpec = AirflowSpec()
    """Airflow settings applied on every node."""
    parameters: Annotated[
        Mapping[str, ParameterValue],
        Field(
            max_length=60,
            json_schema_extra={
                "x-kubernetes-validations": [
                    PARAMETER_NAMES_RULE,
                    _OPERATOR_PARAMETERS_RULE,
                ]
            },
        ),
    ] = dataclasses.field(default_factory=dict)
    """Escape hatch: further master template parameters by name. Each must be declared by the master
    template and must not repeat a typed field above; QSS3BucketName and QSS3KeyPrefix are set by the
    operator."""
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    """What happens to the stack when the TurbineStack is deleted: Retain leaves it in AWS, Delete deletes
    it and waits until it is gone. It also sets the metadata database's RDS deletion protection: on with
    Retain, so that neither a deletion of the stack nor an update that would replace the database can
    delete it; off with Delete, so that the stack can go. Deleting the stack always keeps a final snapshot
    of the database and its master and Fernet key secrets. Switch to Delete and wait for Ready before
    deleting the TurbineStack."""
    termination_protection: StrictBool = False
    """Enables CloudFormation termination protection on the stack. While it is on, deleting the
    TurbineStack with deletionPolicy Delete is refused (Stalled) until it is turned off."""
    suspend: StrictBool = False
    """Stops all AWS calls for this TurbineStack until set back to false."""
    update_policy: UpdatePolicy = UpdatePolicy.AUTO
    """Auto executes each change set as soon as it is ready. Manual shows the change set in
    status.pendingChangeSet and executes it only once approvedChangeSet names it."""
    approved_change_set: ChangeSetName | None = None
    """With updatePolicy Manual, the name of the change set (from status.pendingChangeSet) to execute."""
    drift_detection: DriftDetectionSpec = DriftDetectionSpec()
    """How the operator looks for drift: changes to the stack made outside the operator (spec drift,
    checked at every resync) and changes to its resources made outside CloudFormation (resource drift,
    CloudFormation drift detection on this interval)."""
    adopt: StrictBool = False
    """Take over an existing stack with this name that Turbine Operator did not create. Without it, a stack
    that belongs to someone else is never modified or deleted (Stalled, reason StackNotOwned); one being
    deleted is waited for, and this TurbineStack's own stack created once it is gone. Only a Turbine stack is
    taken, one whose template's Metadata carries turbine.dev/template: master (adopting replaces the template,
    which would delete another stack's resources; Stalled, reason StackNotTurbine), and never one whose
    TurbineStack still exists. Where the namespace's tenant is governed (docs/tenants.md), honoured only if
    the tenant allows adoption."""
    additional_templates: Annotated[
        tuple[AdditionalTemplate, ...], list_map("name", 20), unique_by("name")
    ] = ()
    """Your own CloudFormation templates, each deployed as one nested stack of the master template (the
    seed's additional template). The operator uploads each one, with its files, under
    <QSS3KeyPrefix>templates/additional_templates/ and passes well-known parameters it declares
    (QSS3BucketName, QSS3KeyPrefix, VpcId, PrivateSubnetIds, PublicSubnetIds, InstanceSecurityGroupId,
    SchedulerRoleName, WebserverRoleName, WorkerRoleName, QueueName, QueueURL, LogsBucketName,
    DeploymentsBucketName) unless parameters sets them."""
    additional_policies: Annotated[tuple[AdditionalPolicy, ...], list_map("name", 9), unique_by("name")] = ()
    """IAM policies for the Airflow instances (the seed's policies folder), each rendered into the master
    template as a managed policy attached to the chosen roles. IAM attaches at most 10 managed policies to
    a role by default and Turbine uses one, hence at most 9."""
    outputs_config_map: OutputsConfigMap | None = None
    """Publishes the stack's outputs (webserver URL, buckets, queue, database endpoint, role names, ...) as
    a ConfigMap in the TurbineStack's namespace, owned by the TurbineStack and kept in sync with the
    stack, for other workloads to read (envFrom, volumes). Omitted, no ConfigMap is written."""
    allow_administrator_policies: StrictBool = False
    """Allow additional policies and additional templates that grant administrator access: every action (or
    a NotAction) on every resource, or an action with which a role can give itself more (iam:PutRolePolicy,
    iam:PassRole, sts:AssumeRole, lambda:UpdateFunctionCode, ssm:SendCommand, ...) on any role, user, group,
    policy, function or instance. Off by default, so administrator access is always a visible choice; where
    the namespace's tenant is governed (docs/tenants.md), honoured only if the tenant allows it."""

    @field_validator("tags")
    @classmethod
    def _tag_keys(cls, tags: Mapping[str, str]) -> Mapping[str, str]:
        return _tag_keys(tags)

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, parameters: Mapping[str, str]) -> Mapping[str, str]:
        return _no_operator_parameters(parameters)

    @model_validator(mode="after")
    def _distinct_logical_ids(self) -> TurbineStackSpec:
        templates = {template.name for template in self.additional_templates}
        for policy in self.additional_policies:
            if policy.name in templates:
                raise invalid(
                    "is also the name of an additional template; both become logical IDs,"
                    " so they must differ",
                    f"additionalPolicies[{policy.name}].name",
                )
        return self


_SPEC = TypeAdapter(TurbineStackSpec)


def parse_spec(
    raw: object, *, namespace: str, name: str, default_region: str, stack_name: str | None = None
) -> TurbineStackSpec:
    """Validates the raw spec into the model; raises SpecError naming the first offending field.

    `stack_name` is the name when spec.stackName is not set: the one the TurbineStack recorded, or the default
    with its tenant's prefix (operations/turbine_stack.py); omitted, the default without a prefix.
    """
    raw = _with_defaults(raw, namespace, name, default_region, stack_name)
    try:
        return _validated(raw)
    except ValidationError as error:
        raise spec_error(TurbineStackSpec, raw, error) from None


def spec_problems(raw: object, *, namespace: str, name: str, default_region: str) -> list[SpecError]:
    """Every error parse_spec would find in the raw spec (none when it is valid), each naming its field,
    so that one look shows them all as the API server's reply does."""
    raw = _with_defaults(raw, namespace, name, default_region)
    try:
        _validated(raw)
    except ValidationError as error:
        return spec_errors(TurbineStackSpec, raw, error)
    return []


def _validated(raw: object) -> TurbineStackSpec:
    # by_name=False: a manifest names fields as the CRD does; `max_size` is not `maxSize` there.
    return _SPEC.validate_python(raw, context=MANIFEST, by_alias=True, by_name=False)


def _with_defaults(
    raw: object, namespace: str, name: str, default_region: str, stack_name: str | None = None
) -> object:
    raw = {} if raw is None else raw
    if isinstance(raw, Mapping):
        # The two defaults that depend on where the spec lives, not on the spec.
        raw = {
            **raw,
            "stackName": (stack_name or default_stack_name(namespace, name))
            if raw.get("stackName") is None
            else raw["stackName"],
            "region": default_region if raw.get("region") is None else raw["region"],
        }
    return raw


@functools.cache
def _field_adapter(name: str) -> tuple[str, TypeAdapter[Any], Any]:
    fields: dict[str, FieldInfo] = getattr(TurbineStackSpec, "__pydantic_fields__")  # noqa: B009 - untyped
    info = fields[name]
    field_type: Any = Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
    return info.alias or name, TypeAdapter(field_type), info.default


# The fields read on their own: scalar fields whose type is their whole validation (no model or field
# validator applies to them), so reading one alone checks it as fully as parse_spec would.
READ_ALONE = frozenset({"suspend", "role_arn"})


def field_of(raw: object, name: str) -> Any:
    """One top-level field of a raw spec (one of READ_ALONE), validated by its model type (its default when
    absent); raises SpecError when that field is invalid.

    For the few readers that must work when another field of the spec is wrong: a suspended stack is left
    alone, and its worker figures are read with its role.
    """
    if name not in READ_ALONE:
        raise ValueError(f"{name} is not checked by its type alone; read it from parse_spec")
    alias, adapter, default = _field_adapter(name)
    value = raw.get(alias) if isinstance(raw, Mapping) else None
    if value is None:
        return default
    try:
        return adapter.validate_python(value, context=MANIFEST)
    except ValidationError as error:
        raise SpecError(f"spec.{alias}", spec_error(TurbineStackSpec, value, error).message) from None


def parameter_fields(model: type[Any] = TurbineStackSpec, path: str = "spec") -> Iterator[ParameterField]:
    """The spec fields that set a master template parameter, in declaration order, nested ones included."""
    fields: dict[str, FieldInfo] = getattr(model, "__pydantic_fields__")  # noqa: B009 - untyped
    for name, info in fields.items():
        field_path = f"{path}.{info.alias or name}"
        for marker in info.metadata:
            if isinstance(marker, Parameter):
                yield ParameterField(field_path, name, marker.name)
        nested: Any = info.annotation
        if hasattr(nested, "__pydantic_fields__"):
            yield from (
                dataclasses.replace(field, attributes=f"{name}.{field.attributes}")
                for field in parameter_fields(nested, field_path)
            )


@dataclasses.dataclass(frozen=True)
class ParameterField:
    path: str  # as users write it: spec.workers.maxSize
    attributes: str  # on the model: workers.max_size
    parameter: str  # MaxGroupSize

    def value_in(self, spec: TurbineStackSpec) -> object:
        value: object = spec
        for attribute in self.attributes.split("."):
            value = getattr(value, attribute)
        return value


def spec_schema() -> dict[str, Any]:
    """The JSON schema of the spec, by CRD names (core/api/crd.py turns it into the CRD's structural schema).

    In serialisation mode, so that defaults are written as the fields serialise them (a duration as "1h").
    """
    return _SPEC.json_schema(by_alias=True, mode="serialization")
