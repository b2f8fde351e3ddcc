"""The additions to the Turbine stack a TurbineStack may declare: the user's own nested templates (with
their files and parameters) and IAM policies for the instance roles; API models like core/api/spec.py's."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic.dataclasses import dataclass

from turbine_operator.core.api.api_types import (
    PARAMETER_NAMES_RULE,
    ApiObject,
    FilePath,
    InlineFile,
    InlinePolicy,
    LogicalId,
    ObjectKey,
    ObjectName,
    ParameterName,
    ParameterValue,
    S3Url,
    api,
    check_exactly_one,
    exactly_one,
    invalid,
    list_map,
    parameter_names,
    unique_by,
)


class InstanceRole(enum.StrEnum):
    """scheduler, webserver or worker."""

    SCHEDULER = "scheduler"
    WEBSERVER = "webserver"
    WORKER = "worker"


ALL_ROLES = (InstanceRole.SCHEDULER, InstanceRole.WEBSERVER, InstanceRole.WORKER)


@dataclass(frozen=True, config=api())
class KeyRef(ApiObject):
    """A key of a ConfigMap or Secret in the TurbineStack's own namespace."""

    name: ObjectName
    """Name of the object (a ConfigMap or a Secret, as the enclosing field says), in the TurbineStack's
    namespace."""
    key: ObjectKey
    """Key in the object's data; for a ConfigMap, in binaryData too where the enclosing field says so."""


@dataclass(frozen=True, config=api(exactly_one("inline", "configMapKeyRef", "s3Url")))
class TemplateSource(ApiObject):
    """Where the template body comes from; exactly one of inline, configMapKeyRef and s3Url."""

    inline: InlineFile | None = None
    """The template body, in YAML or JSON. Client-side kubectl apply copies the whole object into an
    annotation, and the API server allows 256 KiB of annotations: beyond about 250 KiB use kubectl apply
    --server-side or kubectl create, or a ConfigMap."""
    config_map_key_ref: KeyRef | None = None
    """A key of a ConfigMap (data or binaryData) in the TurbineStack's namespace that holds the template
    body."""
    s3_url: S3Url | None = None
    """An S3 object holding the template body, as s3://bucket/key. The operator reads it (in the stack's
    region, with the stack's credentials) at every reconcile and uploads a copy, so a changed object
    produces a change set."""

    @model_validator(mode="after")
    def _one_source(self) -> TemplateSource:
        check_exactly_one(
            {"inline": self.inline, "configMapKeyRef": self.config_map_key_ref, "s3Url": self.s3_url}
        )
        return self


@dataclass(frozen=True, config=api(exactly_one("inline", "configMapKeyRef")))
class AdditionalFile(ApiObject):
    """One file; exactly one of inline and configMapKeyRef."""

    path: FilePath
    """Path below templates/additional_templates/, such as child.yaml or nested/child.yaml; no .. segments."""
    inline: InlineFile | None = None
    """The file's content."""
    config_map_key_ref: KeyRef | None = None
    """A key of a ConfigMap (data or binaryData) in the TurbineStack's namespace that holds the file."""

    @model_validator(mode="after")
    def _one_source(self) -> AdditionalFile:
        check_exactly_one({"inline": self.inline, "configMapKeyRef": self.config_map_key_ref})
        return self


@dataclass(frozen=True, config=api(exactly_one("configMapKeyRef", "secretKeyRef")))
class ParameterFrom(ApiObject):
    """One parameter; exactly one of configMapKeyRef and secretKeyRef."""

    name: ParameterName
    """Name of the parameter, declared by the template."""
    config_map_key_ref: KeyRef | None = None
    """A key of a ConfigMap (data) in the TurbineStack's namespace that holds the value."""
    secret_key_ref: KeyRef | None = None
    """A key of a Secret in the TurbineStack's namespace that holds the value."""

    @model_validator(mode="after")
    def _one_source(self) -> ParameterFrom:
        check_exactly_one({"configMapKeyRef": self.config_map_key_ref, "secretKeyRef": self.secret_key_ref})
        return self


_Parameters = Annotated[
    Mapping[str, ParameterValue],
    Field(max_length=60, json_schema_extra={"x-kubernetes-validations": [PARAMETER_NAMES_RULE]}),
]


@dataclass(
    frozen=True,
    config=api(
        {
            "rule": "!has(self.parameters) || !has(self.parametersFrom) "
            "|| self.parametersFrom.all(p, !(p.name in self.parameters))",
            "message": "a parameter is set in both parameters and parametersFrom",
            "fieldPath": ".parametersFrom",
        }
    ),
)
class AdditionalTemplate(ApiObject):
    """One additional template and the nested stack made from it."""

    name: LogicalId
    """Logical ID of the nested stack in the master template, and the file name of the template
    (templates/additional_templates/<name>.yaml). Letters and digits, starting with a letter; must not
    clash with a Turbine resource, parameter or output, nor with an additional policy."""
    template: TemplateSource
    """Where the template body comes from; exactly one of inline, configMapKeyRef and s3Url."""
    files: Annotated[tuple[AdditionalFile, ...], list_map("path", 50), unique_by("path")] = ()
    """Further files uploaded next to the template, for templates that nest further: a file with path
    child.yaml is at ${QSS3KeyPrefix}templates/additional_templates/child.yaml."""
    parameters: _Parameters = dataclasses.field(default_factory=dict)
    """Parameters of the nested stack by name; each must be declared by the template."""
    parameters_from: Annotated[tuple[ParameterFrom, ...], list_map("name", 60), unique_by("name")] = ()
    """Parameters whose values come from a ConfigMap or a Secret key, for values that should not live in
    git. Secret values reach CloudFormation as NoEcho parameters of the master template and never appear
    in the template, status, events or logs."""

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, parameters: Mapping[str, str]) -> Mapping[str, str]:
        return parameter_names(parameters)

    @model_validator(mode="after")
    def _set_once(self) -> AdditionalTemplate:
        for parameter in self.parameters_from:
            if parameter.name in self.parameters:
                raise invalid(
                    f"{parameter.name} is also set in parameters; set it in one place",
                    f"parametersFrom[{parameter.name}]",
                )
        return self


@dataclass(frozen=True, config=api(exactly_one("inline", "configMapKeyRef")))
class PolicySource(ApiObject):
    """The IAM policy document (JSON or YAML, with Version and Statement); exactly one of inline and
    configMapKeyRef. A statement granting administrator access is refused unless
    allowAdministratorPolicies is true."""

    inline: InlinePolicy | None = None
    """The policy document, in JSON or YAML."""
    config_map_key_ref: KeyRef | None = None
    """A key of a ConfigMap (data or binaryData) in the TurbineStack's namespace that holds the document."""

    @model_validator(mode="after")
    def _one_source(self) -> PolicySource:
        check_exactly_one({"inline": self.inline, "configMapKeyRef": self.config_map_key_ref})
        return self


@dataclass(frozen=True, config=api())
class AdditionalPolicy(ApiObject):
    """One IAM policy and the roles it is attached to."""

    name: LogicalId
    """Logical ID of the policy in the master template. Letters and digits, starting with a letter; must
    not clash with a Turbine resource, parameter or output, nor with an additional template."""
    document: PolicySource
    """The IAM policy document (JSON or YAML, with Version and Statement); exactly one of inline and
    configMapKeyRef. A statement granting administrator access is refused unless
    allowAdministratorPolicies is true."""
    roles: Annotated[
        tuple[InstanceRole, ...],
        Field(min_length=1, max_length=3, json_schema_extra={"x-kubernetes-list-type": "set"}),
    ] = ALL_ROLES
    """The instance roles the policy is attached to."""

    @field_validator("roles")
    @classmethod
    def _in_one_order(cls, roles: tuple[InstanceRole, ...]) -> tuple[InstanceRole, ...]:
        for role in roles:
            if roles.count(role) > 1:
                raise invalid(f"lists {role.value} twice")
        return tuple(role for role in ALL_ROLES if role in roles)
