"""From a TurbineStack spec to the desired stack: template, parameters, tags and files to upload."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from turbine_operator.core.api.spec import (
    OPERATOR_PARAMETERS,
    DeletionPolicy,
    TurbineStackSpec,
    parameter_fields,
)
from turbine_operator.core.errors import SpecError
from turbine_operator.core.naming import APPLIED_HASH_TAG, ownership_tags
from turbine_operator.core.render.additions import LARGEST_TEMPLATE, render_additions
from turbine_operator.core.render.airflow_config import (
    AIRFLOW_CONFIG_FIELD,
    AIRFLOW_CONFIG_PARAMETER,
    airflow_config_parameter,
    airflow_options,
    check_airflow_config,
)
from turbine_operator.core.render.bundle import MASTER_TEMPLATE, Bundle, TurbineSources, build_bundle
from turbine_operator.core.render.dag_bundles import (
    DAG_BUNDLE_FIELD,
    DAG_BUNDLE_PARAMETER,
    dag_bucket_parameter,
    dag_bundle_parameter,
)
from turbine_operator.core.render.references import Fetched, Source
from turbine_operator.core.render.templates import (
    Template,
    check_parameter_value,
    declared_parameters,
    dump_template,
    load_template,
)

RENDERED_MASTER = "templates/turbine-master.json"
NO_ECHO_MASK = "****"
# Nested stacks may create IAM roles with names and use macros; both need an explicit acknowledgement.
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")

IMAGE_PARAMETER = "ImageId"
DATABASE_PROTECTION_PARAMETER = "DatabaseDeletionProtection"
# Typed spec fields and the master template parameters they set, as the models declare them. Walked once:
# every look renders the parameters, and walking the models each time was about 1.5 % of the CPU per stack.
PARAMETER_FIELDS = tuple(parameter_fields())
TYPED_PARAMETERS = {field.path: field.parameter for field in PARAMETER_FIELDS}


@dataclasses.dataclass(frozen=True)
class Owner:
    namespace: str
    name: str
    uid: str


@dataclasses.dataclass(frozen=True)
class DesiredStack:
    stack_name: str
    region: str
    bucket: str
    key_prefix: str
    template_key: str
    parameters: Mapping[str, str] = dataclasses.field(repr=False)  # may hold Secret values
    tags: Mapping[str, str]
    bundle: Bundle
    service_role_arn: str | None
    capabilities: tuple[str, ...]
    hash: str
    secret_parameters: frozenset[str] = frozenset()  # NoEcho: never shown, compared or logged
    # The user's templates in the bundle (bundle path -> spec field), for CloudFormation to check first.
    user_templates: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def redacted(self, text: str) -> str:
        """`text` with every Secret value masked: AWS error messages may quote parameter values."""
        for name in self.secret_parameters:
            value = self.parameters.get(name)
            if value:
                text = text.replace(value, NO_ECHO_MASK)
        return text

    def shown_parameters(self) -> dict[str, str]:
        """The parameters with secret values masked the way CloudFormation masks NoEcho ones."""
        return {
            name: NO_ECHO_MASK if name in self.secret_parameters else value
            for name, value in sorted(self.parameters.items())
        }

    @property
    def template_url_key(self) -> str:
        return self.key_prefix + self.template_key


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _number(value: float) -> str:
    # 0.9 rather than 0.90000001, and 1 rather than 1.0, as a person would type it in the console.
    text = repr(value)
    return text.removesuffix(".0")


def _parameter_text(value: object) -> str:
    if isinstance(value, bool):
        return _flag(value)
    if isinstance(value, float):
        return _number(value)
    return "" if value is None else str(value)


# Parameters derived from a whole spec object rather than one field, with the field errors name.
DERIVED_PARAMETERS = {
    AIRFLOW_CONFIG_PARAMETER: AIRFLOW_CONFIG_FIELD,
    DAG_BUNDLE_PARAMETER: DAG_BUNDLE_FIELD,
    "DagBucket": f"{DAG_BUNDLE_FIELD}.s3.bucket",
    DATABASE_PROTECTION_PARAMETER: "spec.deletionPolicy",
}


def database_protection_parameter(spec: TurbineStackSpec) -> str:
    """RDS deletion protection follows spec.deletionPolicy: a stack the operator is to leave behind (Retain)
    keeps its database from being deleted with it by anyone; one it is to delete (Delete) must be deletable,
    and loses no data, since the Database's DeletionPolicy Snapshot takes a final snapshot."""
    return _flag(spec.deletion_policy is DeletionPolicy.RETAIN)


def typed_parameter_values(spec: TurbineStackSpec) -> dict[str, str]:
    typed = {field.parameter: _parameter_text(field.value_in(spec)) for field in PARAMETER_FIELDS}
    return typed | {
        AIRFLOW_CONFIG_PARAMETER: airflow_config_parameter(spec),
        DAG_BUNDLE_PARAMETER: dag_bundle_parameter(spec),
        "DagBucket": dag_bucket_parameter(spec),
        DATABASE_PROTECTION_PARAMETER: database_protection_parameter(spec),
    }


def stack_parameters(
    spec: TurbineStackSpec, declared: Mapping[str, Mapping[str, Any]], key_prefix: str
) -> dict[str, str]:
    """The master template parameters: typed fields, then the escape hatch, then the bundle location."""
    typed = typed_parameter_values(spec)
    by_parameter = {parameter: field for field, parameter in TYPED_PARAMETERS.items()} | DERIVED_PARAMETERS
    for name in spec.parameters:
        if name in by_parameter:
            raise SpecError(
                f"spec.parameters.{name}", f"repeats the typed field {by_parameter[name]}; set that instead"
            )
        if name not in declared:
            raise SpecError(f"spec.parameters.{name}", "is not a parameter of the Turbine master template")
    missing = sorted((set(typed) | OPERATOR_PARAMETERS) - set(declared))
    if missing:
        # The bundled master template and the operator disagree: a packaging error, not a user error.
        raise SpecError("spec", f"the master template does not declare {', '.join(missing)}")
    values = {
        **typed,
        **spec.parameters,
        "QSS3BucketName": spec.template_bucket.name,
        "QSS3KeyPrefix": key_prefix,
    }
    fields = {
        **by_parameter,
        **{name: f"spec.parameters.{name}" for name in spec.parameters},
        "QSS3BucketName": "spec.templateBucket.name",
        "QSS3KeyPrefix": "spec.templateBucket.prefix",
    }
    for name, value in values.items():
        check_parameter_value(declared[name], value, fields[name])
    return values


@functools.lru_cache(maxsize=4)
def _turbine_master(body: bytes) -> tuple[Template, bytes]:
    """Turbine's master template parsed and dumped once per content, shared by every render.

    Parsing its YAML was most of a render's CPU, on every reconcile of every stack. Nothing may
    change the shared dict: the additions work on a copy.
    """
    master = load_template(body, MASTER_TEMPLATE)
    return master, dump_template(master)


def desired_stack(
    spec: TurbineStackSpec,
    owner: Owner,
    sources: TurbineSources,
    fetched: Mapping[Source, Fetched] | None = None,
) -> DesiredStack:
    """Everything the stack should be; `fetched` holds what `references_of(spec)` names."""
    check_airflow_config(spec, airflow_options(sources))
    master, master_body = _turbine_master(sources.templates[MASTER_TEMPLATE.removeprefix("templates/")])
    additions = render_additions(master, spec, fetched or {})
    body = master_body if additions.template is master else dump_template(additions.template)
    if len(body) > LARGEST_TEMPLATE:
        raise SpecError(
            "spec.additionalPolicies" if spec.additional_policies else "spec.additionalTemplates",
            f"the master template with the additions is {len(body)} bytes; CloudFormation reads at most 1 MB",
        )
    bundle = build_bundle(sources, {RENDERED_MASTER: body, **additions.files})
    key_prefix = bundle.key_prefix(spec.template_bucket.prefix)
    # spec.parameters may only name the master's own parameters, not those the additions declare.
    parameters = {**stack_parameters(spec, declared_parameters(master), key_prefix), **additions.parameters}
    tags = {**spec.tags, **ownership_tags(owner.namespace, owner.name, owner.uid)}
    fingerprint = {
        "bundle": bundle.digest,
        "parameters": {
            name: f"secret {additions.fingerprints[name]}" if name in additions.secret_parameters else value
            for name, value in parameters.items()
        },
        "tags": tags,
        "serviceRoleArn": spec.service_role_arn,
        "capabilities": CAPABILITIES,
    }
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()[:32]
    # The stack carries the hash it was last updated to, so what was applied survives a lost status.
    tags = {**tags, APPLIED_HASH_TAG: digest}
    return DesiredStack(
        stack_name=spec.stack_name,
        region=spec.region,
        bucket=spec.template_bucket.name,
        key_prefix=key_prefix,
        template_key=RENDERED_MASTER,
        parameters=parameters,
        tags=tags,
        bundle=bundle,
        service_role_arn=spec.service_role_arn,
        capabilities=CAPABILITIES,
        hash=digest,
        secret_parameters=additions.secret_parameters,
        user_templates=additions.templates,
    )
