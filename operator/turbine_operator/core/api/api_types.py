"""The building blocks of the TurbineStack API models (core/api/spec.py): constrained types and rules.

Each type carries its bounds and pattern once; pydantic enforces them in Python and core/api/crd.py writes
the same ones into the CRD. Patterns are anchored and run by pydantic's Rust regex engine, whose `$`
matches only at the very end, as the API server's does (Python's `$` would accept a trailing newline).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PlainSerializer,
    StrictStr,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass
from pydantic_core import PydanticCustomError


def api(*rules: dict[str, str]) -> ConfigDict:
    """The configuration of every API model: camelCase names as in the CRD, unknown fields ignored (the
    API server prunes them), descriptions from the attribute docstrings (they become `kubectl explain`),
    and the CEL rules of the model's object, which the CRD carries."""
    validations: list[JsonValue] = [dict(rule) for rule in rules]
    return ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        use_attribute_docstrings=True,
        json_schema_extra={"x-kubernetes-validations": validations} if rules else None,
    )


@dataclasses.dataclass(frozen=True)
class Parameter:
    """Metadata of a spec field: the master template parameter it sets (see core/render/rendering.py)."""

    name: str


# The error type whose `field` context names a part below the failing object (see core/api/spec_errors.py).
FIELD_ERROR = "turbine_field"


def invalid(message: str, field: str | None = None) -> PydanticCustomError:
    """A validation error about `field` (a key, `[label]` or `name.sub`) of the object validated, or about
    the object itself when `field` is None."""
    return PydanticCustomError(FIELD_ERROR, message, None if field is None else {"field": field})


def text(pattern: str | None = None, min_length: int | None = None, max_length: int | None = None) -> Any:
    return Field(pattern=pattern, min_length=min_length, max_length=max_length)


STACK_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9-]*$"
PARAMETER_NAME_PATTERN = r"^[A-Za-z0-9]+$"
_ROLE_ARN = text(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")
_INSTANCE_TYPE = text(r"^[a-z][a-z0-9-]*\.([0-9]*(nano|micro|small|medium|large|xlarge)|metal(-[0-9]+xl)?)$")
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"

StackName = Annotated[StrictStr, text(STACK_NAME_PATTERN, 1, 128)]
Region = Annotated[StrictStr, text(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-[0-9]$")]
RoleArn = Annotated[StrictStr, _ROLE_ARN]
ImageId = Annotated[StrictStr, text(r"^ami-[0-9a-f]{8,17}$")]
BucketName = Annotated[StrictStr, text(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$", 3, 63)]
KeyPrefix = Annotated[StrictStr, text(r"^([0-9A-Za-z!_.*'()-]+/)*$", max_length=200)]
InstanceType = Annotated[StrictStr, _INSTANCE_TYPE]
Cidr = Annotated[StrictStr, text(rf"^({_OCTET}\.){{3}}{_OCTET}/(3[0-2]|[12]?[0-9])$")]
CertificateArn = Annotated[
    StrictStr, text(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", max_length=2048)
]
# A DNS name of at least two labels, each 1 to 63 lowercase letters, digits or inner hyphens (RFC 1035;
# a wildcard certificate covers one label, so no label may be "*" here).
Hostname = Annotated[
    StrictStr, text(r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", 4, 253)
]
# Route 53 hosted zone ids: "Z" and uppercase letters and digits, 32 characters at most (API_HostedZone).
HostedZoneId = Annotated[StrictStr, text(r"^Z[A-Z0-9]{1,31}$")]
ChangeSetName = Annotated[StrictStr, text(STACK_NAME_PATTERN, max_length=128)]
LogicalId = Annotated[StrictStr, text(r"^[A-Za-z][A-Za-z0-9]*$", 1, 64)]
ParameterName = Annotated[StrictStr, text(PARAMETER_NAME_PATTERN, 1, 255)]
ObjectName = Annotated[StrictStr, text(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", 1, 253)]
ObjectKey = Annotated[StrictStr, text(r"^[-._a-zA-Z0-9]+$", 1, 253)]
S3Url = Annotated[StrictStr, text(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/[^\s]+$", max_length=1024)]
FilePath = Annotated[
    StrictStr, text(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*$", 1, 512)
]
LARGEST_INLINE_FILE = 524288
LARGEST_INLINE_POLICY = 20480
InlineFile = Annotated[StrictStr, text(min_length=1, max_length=LARGEST_INLINE_FILE)]
InlinePolicy = Annotated[StrictStr, text(min_length=1, max_length=LARGEST_INLINE_POLICY)]
ParameterValue = Annotated[StrictStr, text(max_length=4096)]
TagValue = Annotated[StrictStr, text(min_length=1, max_length=256)]
# "section.option" as Airflow names its options: lower case, sections may hold dots (common.io).
AIRFLOW_OPTION_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
# No quote, backslash or control character: the value is written single-quoted into an environment file
# that both bash and systemd read (core/render/airflow_config.py). The API server checks the pattern; the
# spec's own check (spec.py) words the refusal for a user.
AIRFLOW_OPTION_VALUE_PATTERN = r"^[^'\\\x00-\x1f\x7f]*$"
AirflowOptionValue = Annotated[
    StrictStr, Field(max_length=1024, json_schema_extra={"pattern": AIRFLOW_OPTION_VALUE_PATTERN})
]

# --- durations --------------------------------------------------------------------------------------

# Bounded digits: the API server's CEL duration() fails on more than about 290 years.
DURATION_PATTERN = r"^([0-9]{1,5}h)?([0-9]{1,6}m)?([0-9]{1,7}s)?$"
_DURATION = re.compile(r"(?:(?P<h>[0-9]{1,5})h)?(?:(?P<m>[0-9]{1,6})m)?(?:(?P<s>[0-9]{1,7})s)?")


def parse_duration(text: str) -> float | None:
    """Seconds in a duration such as "1h30m" (None if it is not one)."""
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        return None
    hours, minutes, seconds = (int(match.group(unit) or 0) for unit in "hms")
    return float(hours * 3600 + minutes * 60 + seconds)


def format_duration(seconds: float) -> str:
    """The shortest duration text for whole seconds: 3600 is "1h", 5400 "1h30m"."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{value}{unit}" for value, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if value)
    return text or "0s"


# parse_spec validates with this context; code that builds a model directly passes seconds.
MANIFEST = {"manifest": True}


def _seconds(value: object, info: ValidationInfo) -> float:
    if info.context is None and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise invalid("must be a duration string such as 1h, 30m or 1h30m")
    if not 2 <= len(value) <= 20:
        raise invalid("must be 2 to 20 characters")
    seconds = parse_duration(value) if re.fullmatch(DURATION_PATTERN, value) else None
    if seconds is None:
        raise invalid(f"{value!r} is not a duration such as 1h, 30m or 1h30m")
    return seconds


# Seconds in the model; in the CRD (and in serialised defaults) a duration string such as "1h".
Duration = Annotated[
    float,
    BeforeValidator(_seconds),
    PlainSerializer(format_duration, return_type=str),
    Field(json_schema_extra={"type": "string", "minLength": 2, "maxLength": 20, "pattern": DURATION_PATTERN}),
]


# --- lists and maps ---------------------------------------------------------------------------------


def _unique_by(key: str) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    def check(items: tuple[Any, ...]) -> tuple[Any, ...]:
        seen: set[str] = set()
        for item in items:
            label = getattr(item, key)
            if label in seen:
                raise invalid(f"repeats the {key} {label!r}", f"[{label}]")
            seen.add(label)
        return items

    return check


def list_map(key: str, max_items: int) -> Any:
    """A list of objects keyed by `key`, as the CRD declares it (server-side apply merges entries by key)."""
    return Field(
        max_length=max_items,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": [key]},
    )


def unique_by(key: str) -> AfterValidator:
    """Python's side of list_map(): two entries with one key are refused, naming the entry."""
    return AfterValidator(_unique_by(key))


def parameter_names(parameters: Mapping[str, str]) -> Mapping[str, str]:
    for name in parameters:
        if not re.fullmatch(PARAMETER_NAME_PATTERN, name) or len(name) > 255:
            raise invalid("parameter names are alphanumeric", name)
    return parameters


PARAMETER_NAMES_RULE = {
    "rule": "self.all(key, key.matches('^[A-Za-z0-9]{1,255}$'))",
    "message": "parameter names are alphanumeric",
}


def exactly_one(*aliases: str) -> dict[str, str]:
    """The CEL rule that exactly one of the fields `aliases` is set."""
    counted = " + ".join(f"(has(self.{alias}) ? 1 : 0)" for alias in aliases)
    return {"rule": f"{counted} == 1", "message": f"set exactly one of {_listed(aliases)}"}


def check_exactly_one(values: Mapping[str, object]) -> None:
    """Python's side of exactly_one(): `values` maps each alias to the field's value."""
    if sum(value is not None for value in values.values()) != 1:
        raise invalid(f"set exactly one of {_listed(tuple(values))}")


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + f" and {names[-1]}" if len(names) > 1 else names[0]


# --- nulls ------------------------------------------------------------------------------------------


def without_nulls(cls: type[Any], value: Any) -> Any:
    """`value` for the model `cls` with null read as absent, as the API server prunes it; a null nested
    object reads as an empty one, so its fields take their defaults and a missing required one is named."""
    if not isinstance(value, Mapping):
        return value
    objects = {
        (field.alias or name)
        for name, field in cls.__pydantic_fields__.items()
        if isinstance(field.annotation, type) and hasattr(field.annotation, "__pydantic_fields__")
    }
    return {
        key: ({} if key in objects and item is None else item)
        for key, item in value.items()
        if item is not None or key in objects
    }


@dataclass(frozen=True, config=api())
class ApiObject:
    """Base of the models: null fields read as absent (see without_nulls)."""

    @model_validator(mode="before")
    @classmethod
    def _nulls(cls, value: Any) -> Any:
        return without_nulls(cls, value)
