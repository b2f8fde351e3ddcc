"""The TurbineStack spec as typed, immutable values, parsed from the custom resource.

This mirrors `crds/turbinestacks.turbine.dev.yaml` (a unit test keeps the field sets and defaults
in step). The API server already enforces the schema; parsing checks it again because
`turbine-operator render` reads manifests that never went through an API server.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Mapping
from typing import Any

from turbine_operator.core.errors import SpecError
from turbine_operator.core.naming import stack_name_for

STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")
BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")
KEY_PREFIX = re.compile(r"^([0-9A-Za-z!_.*'()-]+/)*$")
INSTANCE_TYPE = re.compile(
    r"^[a-z][a-z0-9-]*\.([0-9]*(nano|micro|small|medium|large|xlarge)|metal(-[0-9]+xl)?)$"
)
CIDR = re.compile(
    r"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}"
    r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])/(3[0-2]|[12]?[0-9])$"
)
PARAMETER_NAME = re.compile(r"^[A-Za-z0-9]{1,255}$")
CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$")
IMAGE_ID = re.compile(r"^ami-[0-9a-f]{8,17}$")
CHANGE_SET_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
# Bounded like the CRD's pattern: the API server's CEL duration() fails on more than about 290 years.
DURATION = re.compile(r"^(?:(?P<h>[0-9]{1,5})h)?(?:(?P<m>[0-9]{1,6})m)?(?:(?P<s>[0-9]{1,7})s)?$")
SHORTEST_DRIFT_INTERVAL = 300.0
RESERVED_TAG_PREFIXES = ("aws:", "turbine.dev/")
OPERATOR_PARAMETERS = frozenset({"QSS3BucketName", "QSS3KeyPrefix"})
LOGICAL_ID = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")
OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
OBJECT_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
S3_URL = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>[^\s]+)$")
FILE_PATH = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$")
LARGEST_INLINE_FILE = 524288
LARGEST_INLINE_POLICY = 20480


class DeletionPolicy(enum.StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class UpdatePolicy(enum.StrEnum):
    AUTO = "Auto"
    MANUAL = "Manual"


@dataclasses.dataclass(frozen=True)
class TemplateBucket:
    name: str
    prefix: str = "turbine/"


@dataclasses.dataclass(frozen=True)
class SchedulerSpec:
    instance_type: str = "t3.large"


@dataclasses.dataclass(frozen=True)
class WebserverSpec:
    instance_type: str = "t3.medium"
    port: int = 8080
    allowed_cidr: str = "10.0.0.0/16"
    replicas: int = 2
    certificate_arn: str | None = None


@dataclasses.dataclass(frozen=True)
class WorkersSpec:
    instance_type: str = "t3.large"
    min_size: int = 0
    max_size: int = 10
    growth_threshold: float = 0.9
    shrink_threshold: float = 0.5


@dataclasses.dataclass(frozen=True)
class AirflowSpec:
    load_example_dags: bool = False
    load_default_connections: bool = False


@dataclasses.dataclass(frozen=True)
class DriftDetectionSpec:
    enabled: bool = True
    interval: float = 3600.0  # seconds; the CRD takes a duration string such as "1h"
    remediate: bool = False


class InstanceRole(enum.StrEnum):
    SCHEDULER = "scheduler"
    WEBSERVER = "webserver"
    WORKER = "worker"


@dataclasses.dataclass(frozen=True)
class KeyRef:
    """A key of a ConfigMap or Secret in the TurbineStack's own namespace."""

    name: str
    key: str


@dataclasses.dataclass(frozen=True)
class TemplateSource:
    inline: str | None = None
    config_map_key_ref: KeyRef | None = None
    s3_url: str | None = None


@dataclasses.dataclass(frozen=True)
class AdditionalFile:
    path: str
    inline: str | None = None
    config_map_key_ref: KeyRef | None = None


@dataclasses.dataclass(frozen=True)
class ParameterFrom:
    name: str
    config_map_key_ref: KeyRef | None = None
    secret_key_ref: KeyRef | None = None


@dataclasses.dataclass(frozen=True)
class AdditionalTemplate:
    name: str
    template: TemplateSource
    files: tuple[AdditionalFile, ...] = ()
    parameters: Mapping[str, str] = dataclasses.field(default_factory=dict)
    parameters_from: tuple[ParameterFrom, ...] = ()


@dataclasses.dataclass(frozen=True)
class PolicySource:
    inline: str | None = None
    config_map_key_ref: KeyRef | None = None


ALL_ROLES = (InstanceRole.SCHEDULER, InstanceRole.WEBSERVER, InstanceRole.WORKER)


@dataclasses.dataclass(frozen=True)
class AdditionalPolicy:
    name: str
    document: PolicySource
    roles: tuple[InstanceRole, ...] = ALL_ROLES


@dataclasses.dataclass(frozen=True)
class TurbineStackSpec:
    stack_name: str
    region: str
    template_bucket: TemplateBucket
    role_arn: str | None = None
    service_role_arn: str | None = None
    image_id: str | None = None  # None: the operator resolves the latest AL2023 image once and keeps it
    tags: Mapping[str, str] = dataclasses.field(default_factory=dict)
    scheduler: SchedulerSpec = SchedulerSpec()
    webserver: WebserverSpec = WebserverSpec()
    workers: WorkersSpec = WorkersSpec()
    airflow: AirflowSpec = AirflowSpec()
    parameters: Mapping[str, str] = dataclasses.field(default_factory=dict)
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    termination_protection: bool = False
    suspend: bool = False
    update_policy: UpdatePolicy = UpdatePolicy.AUTO
    approved_change_set: str | None = None
    drift_detection: DriftDetectionSpec = DriftDetectionSpec()
    adopt: bool = False
    additional_templates: tuple[AdditionalTemplate, ...] = ()
    additional_policies: tuple[AdditionalPolicy, ...] = ()
    allow_administrator_policies: bool = False


class _Fields:
    """Reads one object of the raw spec, naming the full field path in every error."""

    def __init__(self, raw: object, path: str) -> None:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise SpecError(path, "must be an object")
        self.raw: Mapping[str, Any] = raw
        self.path = path

    def field(self, key: str) -> str:
        return f"{self.path}.{key}"

    def string(
        self,
        key: str,
        default: str | None = None,
        pattern: re.Pattern[str] | None = None,
        max_length: int | None = None,
    ) -> str | None:
        value = self.raw.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str):
            raise SpecError(self.field(key), f"must be a string, not {type(value).__name__}")
        if max_length is not None and len(value) > max_length:
            raise SpecError(self.field(key), f"is longer than {max_length} characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise SpecError(self.field(key), f"{value!r} does not match {pattern.pattern}")
        return value

    def required_string(self, key: str, pattern: re.Pattern[str] | None = None) -> str:
        value = self.string(key, pattern=pattern)
        if value is None:
            raise SpecError(self.field(key), "is required")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecError(self.field(key), f"must be an integer, not {value!r}")
        if not low <= value <= high:
            raise SpecError(self.field(key), f"{value} is outside [{low}, {high}]")
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SpecError(self.field(key), f"must be a number, not {value!r}")
        if not low <= value <= high:
            raise SpecError(self.field(key), f"{value} is outside [{low}, {high}]")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw.get(key, default)
        if not isinstance(value, bool):
            raise SpecError(self.field(key), f"must be true or false, not {value!r}")
        return value

    def string_map(self, key: str, max_items: int, max_value_length: int) -> dict[str, str]:
        value = self.raw.get(key) or {}
        if not isinstance(value, Mapping):
            raise SpecError(self.field(key), "must be a map of strings")
        if len(value) > max_items:
            raise SpecError(self.field(key), f"has more than {max_items} entries")
        result: dict[str, str] = {}
        for item_key, item_value in value.items():
            if not isinstance(item_value, str):
                raise SpecError(f"{self.field(key)}.{item_key}", "must be a string")
            if len(item_value) > max_value_length:
                raise SpecError(
                    f"{self.field(key)}.{item_key}", f"is longer than {max_value_length} characters"
                )
            result[str(item_key)] = item_value
        return result

    def nested(self, key: str) -> _Fields:
        return _Fields(self.raw.get(key), self.field(key))

    def optional_nested(self, key: str) -> _Fields | None:
        return None if self.raw.get(key) is None else self.nested(key)

    def entries(self, key: str, max_items: int, identity: str) -> list[_Fields]:
        """The objects of a list, each addressed by its `identity` field (or index) in error paths."""
        value = self.raw.get(key) or []
        if not isinstance(value, list):
            raise SpecError(self.field(key), "must be a list")
        if len(value) > max_items:
            raise SpecError(self.field(key), f"has more than {max_items} entries")
        entries: list[_Fields] = []
        seen: set[object] = set()
        for index, item in enumerate(value):
            label = item.get(identity) if isinstance(item, Mapping) else None
            if not isinstance(label, str) or not label:
                label = str(index)
            if label in seen:
                raise SpecError(f"{self.field(key)}[{label}]", f"repeats the {identity} {label!r}")
            seen.add(label)
            entries.append(_Fields(item, f"{self.field(key)}[{label}]"))
        return entries

    def key_ref(self, key: str) -> KeyRef | None:
        if self.raw.get(key) is None:
            return None
        ref = self.nested(key)
        name = ref.required_string("name", OBJECT_NAME)
        key_name = ref.required_string("key", OBJECT_KEY)
        if len(name) > 253 or len(key_name) > 253:
            raise SpecError(ref.path, "names and keys are at most 253 characters")
        return KeyRef(name=name, key=key_name)

    def exactly_one_of(self, *keys: str) -> None:
        present = [key for key in keys if self.raw.get(key) is not None]
        if len(present) != 1:
            raise SpecError(self.path, f"set exactly one of {', '.join(keys)}")

    def content(self, key: str, max_length: int) -> str | None:
        value = self.string(key, max_length=max_length)
        if value == "":
            raise SpecError(self.field(key), "must not be empty")
        return value

    def enum(self, key: str, kind: type[enum.StrEnum], default: enum.StrEnum) -> Any:
        value = self.raw.get(key, default.value)
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise SpecError(self.field(key), f"{value!r} is not one of {allowed}") from None


def parse_spec(raw: object, *, namespace: str, name: str, default_region: str) -> TurbineStackSpec:
    """Parses and validates the raw spec; raises SpecError naming the first offending field."""
    spec = _Fields(raw, "spec")
    bucket = spec.nested("templateBucket")
    if "templateBucket" not in spec.raw:
        raise SpecError("spec.templateBucket", "is required")
    workers = spec.nested("workers")
    webserver = spec.nested("webserver")
    airflow = spec.nested("airflow")
    defaults_workers = WorkersSpec()
    defaults_webserver = WebserverSpec()
    parsed_workers = WorkersSpec(
        instance_type=workers.string("instanceType", defaults_workers.instance_type, INSTANCE_TYPE) or "",
        min_size=workers.integer("minSize", defaults_workers.min_size, 0, 1000),
        max_size=workers.integer("maxSize", defaults_workers.max_size, 0, 1000),
        growth_threshold=workers.number("growthThreshold", defaults_workers.growth_threshold, 0.0, 1.0),
        shrink_threshold=workers.number("shrinkThreshold", defaults_workers.shrink_threshold, 0.0, 1.0),
    )
    if parsed_workers.min_size > parsed_workers.max_size:
        raise SpecError("spec.workers.minSize", "must not exceed spec.workers.maxSize")
    if parsed_workers.shrink_threshold >= parsed_workers.growth_threshold:
        raise SpecError("spec.workers.shrinkThreshold", "must be below spec.workers.growthThreshold")
    tags = _tags(spec)
    parameters = spec.string_map("parameters", max_items=60, max_value_length=4096)
    for key in parameters:
        if not PARAMETER_NAME.fullmatch(key):
            raise SpecError(f"spec.parameters.{key}", "parameter names are alphanumeric")
        if key in OPERATOR_PARAMETERS:
            raise SpecError(f"spec.parameters.{key}", "is set by the operator from spec.templateBucket")
    return TurbineStackSpec(
        stack_name=spec.string("stackName", pattern=STACK_NAME) or stack_name_for(namespace, name),
        region=spec.string("region", pattern=REGION) or default_region,
        role_arn=spec.string("roleArn", pattern=ROLE_ARN),
        service_role_arn=spec.string("serviceRoleArn", pattern=ROLE_ARN),
        image_id=spec.string("imageId", pattern=IMAGE_ID),
        template_bucket=TemplateBucket(
            name=bucket.required_string("name", BUCKET_NAME),
            prefix=bucket.string("prefix", "turbine/", KEY_PREFIX, max_length=200) or "",
        ),
        tags=tags,
        scheduler=SchedulerSpec(
            instance_type=spec.nested("scheduler").string(
                "instanceType", SchedulerSpec().instance_type, INSTANCE_TYPE
            )
            or "",
        ),
        webserver=WebserverSpec(
            instance_type=webserver.string("instanceType", defaults_webserver.instance_type, INSTANCE_TYPE)
            or "",
            port=webserver.integer("port", defaults_webserver.port, 1, 65535),
            allowed_cidr=webserver.string("allowedCidr", defaults_webserver.allowed_cidr, CIDR) or "",
            replicas=webserver.integer("replicas", defaults_webserver.replicas, 2, 10),
            certificate_arn=webserver.string("certificateArn", pattern=CERTIFICATE_ARN, max_length=2048),
        ),
        workers=parsed_workers,
        airflow=AirflowSpec(
            load_example_dags=airflow.boolean("loadExampleDags", False),
            load_default_connections=airflow.boolean("loadDefaultConnections", False),
        ),
        parameters=parameters,
        deletion_policy=spec.enum("deletionPolicy", DeletionPolicy, DeletionPolicy.RETAIN),
        termination_protection=spec.boolean("terminationProtection", False),
        suspend=spec.boolean("suspend", False),
        update_policy=spec.enum("updatePolicy", UpdatePolicy, UpdatePolicy.AUTO),
        approved_change_set=spec.string("approvedChangeSet", pattern=CHANGE_SET_NAME),
        drift_detection=_drift_detection(spec.nested("driftDetection")),
        adopt=spec.boolean("adopt", False),
        **_additions(spec),
    )


def _additions(spec: _Fields) -> dict[str, Any]:
    templates = tuple(
        _additional_template(entry) for entry in spec.entries("additionalTemplates", 20, identity="name")
    )
    policies = tuple(
        _additional_policy(entry) for entry in spec.entries("additionalPolicies", 9, identity="name")
    )
    policy_names = {policy.name for policy in policies}
    for template in templates:
        if template.name in policy_names:
            raise SpecError(
                f"spec.additionalPolicies[{template.name}].name",
                "is also the name of an additional template; both become logical IDs, so they must differ",
            )
    return {
        "additional_templates": templates,
        "additional_policies": policies,
        "allow_administrator_policies": spec.boolean("allowAdministratorPolicies", False),
    }


def _additional_template(entry: _Fields) -> AdditionalTemplate:
    name = entry.required_string("name", LOGICAL_ID)
    source = entry.nested("template")
    if "template" not in entry.raw:
        raise SpecError(entry.field("template"), "is required")
    source.exactly_one_of("inline", "configMapKeyRef", "s3Url")
    template = TemplateSource(
        inline=source.content("inline", LARGEST_INLINE_FILE),
        config_map_key_ref=source.key_ref("configMapKeyRef"),
        s3_url=source.string("s3Url", pattern=S3_URL, max_length=1024),
    )
    files = []
    for item in entry.entries("files", 50, identity="path"):
        item.exactly_one_of("inline", "configMapKeyRef")
        path = item.required_string("path", FILE_PATH)
        if len(path) > 512:
            raise SpecError(item.field("path"), "is longer than 512 characters")
        files.append(
            AdditionalFile(
                path=path,
                inline=item.content("inline", LARGEST_INLINE_FILE),
                config_map_key_ref=item.key_ref("configMapKeyRef"),
            )
        )
    parameters = entry.string_map("parameters", max_items=60, max_value_length=4096)
    for key in parameters:
        if not PARAMETER_NAME.fullmatch(key):
            raise SpecError(f"{entry.field('parameters')}.{key}", "parameter names are alphanumeric")
    parameters_from = []
    for item in entry.entries("parametersFrom", 60, identity="name"):
        item.exactly_one_of("configMapKeyRef", "secretKeyRef")
        parameter = item.required_string("name", PARAMETER_NAME)
        if parameter in parameters:
            raise SpecError(item.path, f"{parameter} is also set in parameters; set it in one place")
        parameters_from.append(
            ParameterFrom(
                name=parameter,
                config_map_key_ref=item.key_ref("configMapKeyRef"),
                secret_key_ref=item.key_ref("secretKeyRef"),
            )
        )
    return AdditionalTemplate(
        name=name,
        template=template,
        files=tuple(files),
        parameters=parameters,
        parameters_from=tuple(parameters_from),
    )


def _additional_policy(entry: _Fields) -> AdditionalPolicy:
    name = entry.required_string("name", LOGICAL_ID)
    if "document" not in entry.raw:
        raise SpecError(entry.field("document"), "is required")
    document = entry.nested("document")
    document.exactly_one_of("inline", "configMapKeyRef")
    return AdditionalPolicy(
        name=name,
        document=PolicySource(
            inline=document.content("inline", LARGEST_INLINE_POLICY),
            config_map_key_ref=document.key_ref("configMapKeyRef"),
        ),
        roles=_roles(entry),
    )


def _roles(entry: _Fields) -> tuple[InstanceRole, ...]:
    raw = entry.raw.get("roles", [role.value for role in ALL_ROLES])
    field = entry.field("roles")
    if not isinstance(raw, list) or not 1 <= len(raw) <= len(ALL_ROLES):
        raise SpecError(field, "must list one to three of scheduler, webserver and worker")
    roles: list[InstanceRole] = []
    for value in raw:
        try:
            role = InstanceRole(value)
        except ValueError:
            raise SpecError(field, f"{value!r} is not one of scheduler, webserver, worker") from None
        if role in roles:
            raise SpecError(field, f"lists {role.value} twice")
        roles.append(role)
    return tuple(role for role in ALL_ROLES if role in roles)


def _tags(spec: _Fields) -> dict[str, str]:
    """Tags as CloudFormation's Tag type takes them: keys of 1 to 128 characters, values of 1 to 256.

    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_Tag.html
    """
    tags = spec.string_map("tags", max_items=40, max_value_length=256)
    for key, value in tags.items():
        # AWS reserves aws: in any case: "AWS:" and "Aws:" are refused too (tag keys are otherwise
        # case-sensitive; https://github.com/awsdocs/amazon-ecs-developer-guide/issues/72).
        if key.lower().startswith(RESERVED_TAG_PREFIXES) or not 1 <= len(key) <= 128:
            raise SpecError(
                f"spec.tags.{key}", "tag keys are 1 to 128 characters and not aws: or turbine.dev/"
            )
        if not value:
            raise SpecError(f"spec.tags.{key}", "tag values are 1 to 256 characters (not empty)")
    return tags


def parse_duration(text: str) -> float | None:
    """Seconds in a duration such as "1h30m" (None if it is not one)."""
    match = DURATION.fullmatch(text)
    if not text or match is None:
        return None
    hours, minutes, seconds = (int(match.group(unit) or 0) for unit in "hms")
    return float(hours * 3600 + minutes * 60 + seconds)


def _drift_detection(fields: _Fields) -> DriftDetectionSpec:
    text = fields.string("interval", "1h", max_length=20) or ""
    interval = parse_duration(text)
    if interval is None:
        raise SpecError(fields.field("interval"), f"{text!r} is not a duration such as 1h, 30m or 1h30m")
    if interval < SHORTEST_DRIFT_INTERVAL:
        raise SpecError(fields.field("interval"), "must be at least 5m")
    return DriftDetectionSpec(
        enabled=fields.boolean("enabled", True),
        interval=interval,
        remediate=fields.boolean("remediate", False),
    )
