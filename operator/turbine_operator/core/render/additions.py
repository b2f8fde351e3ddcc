"""The user's additional templates and IAM policies, rendered into the master template.

Each additional template becomes a nested stack whose logical ID is the entry's name; its body
and files are uploaded below `templates/additional_templates/` in the bundle (the seed's layout,
so templates written for the seed keep finding their children through QSS3KeyPrefix). Each
additional policy becomes an AWS::IAM::ManagedPolicy attached to the chosen instance roles, which
the master template exposes as outputs. Secret parameter values become NoEcho parameters of the
master template, so they never appear in a template body.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from typing import Any

from turbine_operator.core.access.policies import ADMINISTRATOR_ACCESS_HINT, policy_document
from turbine_operator.core.access.template_iam import administrator_resources
from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.api.spec_additions import (
    AdditionalPolicy,
    AdditionalTemplate,
    InstanceRole,
    ParameterFrom,
)
from turbine_operator.core.errors import SpecError
from turbine_operator.core.render.references import Fetched, Source, SourceKind, content_of, text_of
from turbine_operator.core.render.templates import (
    Template,
    check_parameter_value,
    declared_parameters,
    load_template,
)

ADDITIONAL_TEMPLATES = "templates/additional_templates/"
# CloudFormation's limits: nested templates read from S3, parameter values, names and counts.
LARGEST_TEMPLATE = 1_000_000
LARGEST_PARAMETER_VALUE = 4096
LONGEST_PARAMETER_NAME = 255
MOST_PARAMETERS = 200
TEMPLATE_URL = (
    "https://${QSS3BucketName}.s3.${AWS::Region}.${AWS::URLSuffix}/${QSS3KeyPrefix}" + ADDITIONAL_TEMPLATES
)
# Master outputs a nested template receives when it declares a parameter of the same name.
WELL_KNOWN_OUTPUTS = (
    "VpcId",
    "PrivateSubnetIds",
    "PublicSubnetIds",
    "InstanceSecurityGroupId",
    "SchedulerRoleName",
    "WebserverRoleName",
    "WorkerRoleName",
    "QueueName",
    "QueueURL",
    "LogsBucketName",
    "DeploymentsBucketName",
)
WELL_KNOWN_PARAMETERS = ("QSS3BucketName", "QSS3KeyPrefix")
ROLE_OUTPUTS = {
    InstanceRole.SCHEDULER: "SchedulerRoleName",
    InstanceRole.WEBSERVER: "WebserverRoleName",
    InstanceRole.WORKER: "WorkerRoleName",
}
_TEMPLATE_SECTIONS = ("Parameters", "Resources", "Outputs", "Conditions", "Mappings", "Rules")
_NESTED_TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")


@dataclasses.dataclass(frozen=True)
class RenderedAdditions:
    template: Template  # the master template with the additions
    files: Mapping[str, bytes]  # bundle path -> content
    # values of the master parameters the additions declared; kept out of repr, they are secrets
    parameters: Mapping[str, str] = dataclasses.field(repr=False)
    secret_parameters: frozenset[str]  # the NoEcho ones among them
    fingerprints: Mapping[str, str]  # what the desired hash records instead of each secret value
    templates: Mapping[str, str] = dataclasses.field(default_factory=dict)  # bundle path -> its spec field


@dataclasses.dataclass
class _Rendering:
    template: Template
    taken: dict[str, str]  # logical ID -> what holds it, for clash messages
    files: dict[str, bytes] = dataclasses.field(default_factory=dict)
    file_owners: dict[str, str] = dataclasses.field(default_factory=dict)
    parameters: dict[str, str] = dataclasses.field(default_factory=dict)
    secret_parameters: set[str] = dataclasses.field(default_factory=set)
    fingerprints: dict[str, str] = dataclasses.field(default_factory=dict)
    templates: dict[str, str] = dataclasses.field(default_factory=dict)

    def claim(self, logical_id: str, owner: str) -> None:
        holder = self.taken.get(logical_id)
        if holder is not None:
            raise SpecError(owner, f"{logical_id} is already {holder}; choose another name")
        self.taken[logical_id] = f"used by {owner}"

    def add_file(self, path: str, content: bytes, owner: str) -> None:
        if path in self.files:
            raise SpecError(owner, f"{path} is also uploaded by {self.file_owners[path]}")
        self.files[path] = content
        self.file_owners[path] = owner


def render_additions(
    master: Template, spec: TurbineStackSpec, fetched: Mapping[Source, Fetched]
) -> RenderedAdditions:
    """The master template with the spec's additional templates and policies added.

    A new dict when the spec adds anything; `master` itself (never changed) when it adds nothing.
    """
    adds = bool(spec.additional_templates or spec.additional_policies)
    rendering = _Rendering(template=copy.deepcopy(master) if adds else master, taken=_turbine_names(master))
    for entry in spec.additional_templates:
        _add_template(
            rendering, master, entry, fetched, allow_administrator=spec.allow_administrator_policies
        )
    for policy in spec.additional_policies:
        _add_policy(rendering, master, policy, spec, fetched)
    declared = rendering.template.get("Parameters") or {}
    if len(declared) > MOST_PARAMETERS:
        raise SpecError(
            "spec.additionalTemplates",
            f"Secret values would give the master template {len(declared)} parameters; "
            f"CloudFormation allows {MOST_PARAMETERS}",
        )
    return RenderedAdditions(
        template=rendering.template,
        files=dict(sorted(rendering.files.items())),
        parameters=rendering.parameters,
        secret_parameters=frozenset(rendering.secret_parameters),
        fingerprints=rendering.fingerprints,
        templates=dict(sorted(rendering.templates.items())),
    )


def _turbine_names(master: Template) -> dict[str, str]:
    names: dict[str, str] = {}
    for section in _TEMPLATE_SECTIONS:
        kind = section.removesuffix("s").lower()
        for name in master.get(section) or {}:
            names.setdefault(str(name), f"a {kind} of the Turbine master template")
    return names


def _add_template(
    rendering: _Rendering,
    master: Template,
    entry: AdditionalTemplate,
    fetched: Mapping[Source, Fetched],
    *,
    allow_administrator: bool,
) -> None:
    field = f"spec.additionalTemplates[{entry.name}]"
    rendering.claim(entry.name, f"{field}.name")
    body = _template_body(entry, fetched, field)
    if len(body) > LARGEST_TEMPLATE:
        raise SpecError(f"{field}.template", f"is {len(body)} bytes; CloudFormation reads at most 1 MB")
    template = load_template(body, f"{field}.template")
    _check_template_shape(template, f"{field}.template")
    if not allow_administrator:
        _refuse_administrator_access(template, f"{field}.template")
    rendering.add_file(f"{ADDITIONAL_TEMPLATES}{entry.name}.yaml", body, f"{field}.template")
    rendering.templates[f"{ADDITIONAL_TEMPLATES}{entry.name}.yaml"] = f"{field}.template"
    for file in entry.files:
        where = f"{field}.files[{file.path}]"
        stored = content_of(
            fetched, SourceKind.CONFIG_MAP, file.config_map_key_ref, f"{where}.configMapKeyRef"
        )
        content = stored.content if stored is not None else (file.inline or "").encode()
        if not allow_administrator and file.path.endswith(_NESTED_TEMPLATE_SUFFIXES):
            nested = _nested_template(content, where)
            if nested is not None:
                _refuse_administrator_access(nested, where)
        rendering.add_file(f"{ADDITIONAL_TEMPLATES}{file.path}", content, where)

    declared = declared_parameters(template)
    values: dict[str, Any] = {}
    for name in declared:
        if name in WELL_KNOWN_PARAMETERS:
            values[name] = {"Ref": name}
        elif name in WELL_KNOWN_OUTPUTS and name in (master.get("Outputs") or {}):
            values[name] = _master_output(master, name, f"{field}.parameters")
    for name, value in entry.parameters.items():
        _check_value(declared, name, value, f"{field}.parameters.{name}", secret=False)
        values[name] = value
    for parameter in entry.parameters_from:
        values[parameter.name] = _parameter_from(
            rendering, parameter, template_name=entry.name, declared=declared, fetched=fetched, field=field
        )
    missing = sorted(name for name, declaration in declared.items() if "Default" not in declaration)
    missing = [name for name in missing if name not in values]
    if missing:
        raise SpecError(
            field, f"the template's parameters {', '.join(missing)} have no default; set them in parameters"
        )
    properties: dict[str, Any] = {"TemplateURL": {"Fn::Sub": f"{TEMPLATE_URL}{entry.name}.yaml"}}
    if values:
        properties["Parameters"] = dict(sorted(values.items()))
    rendering.template["Resources"][entry.name] = {
        "Type": "AWS::CloudFormation::Stack",
        "Properties": properties,
    }


def _add_policy(
    rendering: _Rendering,
    master: Template,
    policy: AdditionalPolicy,
    spec: TurbineStackSpec,
    fetched: Mapping[Source, Fetched],
) -> None:
    field = f"spec.additionalPolicies[{policy.name}]"
    rendering.claim(policy.name, f"{field}.name")
    text = policy.document.inline
    ref_field = f"{field}.document.configMapKeyRef"
    stored = content_of(fetched, SourceKind.CONFIG_MAP, policy.document.config_map_key_ref, ref_field)
    if stored is not None:
        text = text_of(stored, ref_field)
    assert text is not None  # parse_spec requires exactly one source
    document = policy_document(
        text, f"{field}.document", allow_administrator=spec.allow_administrator_policies
    )
    roles = [_master_output(master, ROLE_OUTPUTS[role], f"{field}.roles") for role in policy.roles]
    rendering.template["Resources"][policy.name] = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "Description": f"Additional policy {policy.name} of stack {spec.stack_name}",
            "PolicyDocument": document,
            "Roles": roles,
        },
    }


def _refuse_administrator_access(template: Template, field: str) -> None:
    grant = next(administrator_resources(template), None)
    if grant is not None:
        raise SpecError(field, f"{grant}, which counts as administrator access. {ADMINISTRATOR_ACCESS_HINT}")


def _nested_template(content: bytes, where: str) -> Template | None:
    """The file as a template when it is one (a template's own nested stacks ship as its files)."""
    try:
        return load_template(content, where)
    except SpecError:
        return None


def _template_body(entry: AdditionalTemplate, fetched: Mapping[Source, Fetched], field: str) -> bytes:
    source = entry.template
    if source.inline is not None:
        return source.inline.encode()
    stored = content_of(
        fetched, SourceKind.CONFIG_MAP, source.config_map_key_ref, f"{field}.template.configMapKeyRef"
    )
    if stored is None and source.s3_url is not None:
        bucket, _, key = source.s3_url.removeprefix("s3://").partition("/")
        stored = fetched.get((SourceKind.S3_OBJECT, bucket, key))
        if stored is None:
            raise SpecError(f"{field}.template.s3Url", f"{source.s3_url} was not read")
    assert stored is not None  # parse_spec requires exactly one source
    return stored.content


def _check_template_shape(template: Template, field: str) -> None:
    version = template.get("AWSTemplateFormatVersion", "2010-09-09")
    if version != "2010-09-09":
        raise SpecError(field, f"AWSTemplateFormatVersion must be 2010-09-09, not {str(version)[:40]!r}")
    for section in _TEMPLATE_SECTIONS:
        if not isinstance(template.get(section, {}), dict):
            raise SpecError(field, f"its {section} section must be a map")
    if not template["Resources"]:
        raise SpecError(field, "is not a CloudFormation template (its Resources map is empty)")
    for name, declaration in template["Resources"].items():
        # CloudFormation refuses a resource without a Type; moto ignores it and so would a change set.
        if not isinstance(declaration, dict) or not isinstance(declaration.get("Type"), str):
            raise SpecError(field, f"its resource {str(name)[:64]} must be a map with a Type (a string)")
    for name, declaration in (template.get("Parameters") or {}).items():
        if not isinstance(declaration, dict) or not isinstance(declaration.get("Type"), str):
            raise SpecError(field, f"its parameter {str(name)[:64]} must be a map with a Type")


def _parameter_from(
    rendering: _Rendering,
    parameter: ParameterFrom,
    *,
    template_name: str,
    declared: Mapping[str, Mapping[str, Any]],
    fetched: Mapping[Source, Fetched],
    field: str,
) -> Any:
    where = f"{field}.parametersFrom[{parameter.name}]"
    from_config_map = content_of(
        fetched, SourceKind.CONFIG_MAP, parameter.config_map_key_ref, f"{where}.configMapKeyRef"
    )
    if from_config_map is not None:
        value = text_of(from_config_map, f"{where}.configMapKeyRef")
        _check_value(declared, parameter.name, value, where, secret=False)
        return value
    secret = content_of(fetched, SourceKind.SECRET, parameter.secret_key_ref, f"{where}.secretKeyRef")
    assert secret is not None  # parse_spec requires exactly one source
    value = text_of(secret, f"{where}.secretKeyRef")
    _check_value(declared, parameter.name, value, where, secret=True)
    if declared[parameter.name].get("NoEcho") not in (True, "true", "True"):
        # Without NoEcho the nested stack would show the value in its parameters.
        raise SpecError(
            where, f"the template must declare {parameter.name} with NoEcho: true to take a Secret"
        )
    # The value travels as a NoEcho parameter of the master: CloudFormation masks it everywhere.
    master_parameter = f"{template_name}{parameter.name}"
    if len(master_parameter) > LONGEST_PARAMETER_NAME:
        raise SpecError(
            where, f"{master_parameter} is longer than CloudFormation's {LONGEST_PARAMETER_NAME} characters"
        )
    rendering.claim(master_parameter, where)
    rendering.template.setdefault("Parameters", {})[master_parameter] = {
        "Type": "String",
        "NoEcho": True,
        "Description": f"{where} (from a Secret; set by Turbine Operator)",
    }
    rendering.parameters[master_parameter] = value
    rendering.secret_parameters.add(master_parameter)
    rendering.fingerprints[master_parameter] = secret.fingerprint
    return {"Ref": master_parameter}


def _check_value(
    declared: Mapping[str, Mapping[str, Any]], name: str, value: str, field: str, *, secret: bool
) -> None:
    if name not in declared:
        raise SpecError(field, f"the template declares no parameter {name}")
    if len(value.encode()) > LARGEST_PARAMETER_VALUE:
        raise SpecError(field, f"the value is over CloudFormation's {LARGEST_PARAMETER_VALUE} bytes")
    try:
        check_parameter_value(declared[name], value, field)
    except SpecError as error:
        if secret:
            # The usual message quotes the value; a secret's must not reach status or events.
            raise SpecError(field, "the Secret's value does not meet the template's constraints") from None
        raise error from None


def _master_output(master: Template, output: str, field: str) -> Any:
    """The expression behind one of the master's outputs, so additions reference what it exposes."""
    declared = (master.get("Outputs") or {}).get(output)
    if not isinstance(declared, Mapping) or "Value" not in declared:
        # The bundled master template and the operator disagree: a packaging error.
        raise SpecError(field, f"the Turbine master template has no output {output}")
    return copy.deepcopy(declared["Value"])
