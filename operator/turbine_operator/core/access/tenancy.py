"""Namespaces are tenants: what each may reach in AWS, granted by the cluster's administrator.

The grants live in one ConfigMap the administrator owns (`--tenants-config-map`, in the operator's own
namespace; key `tenants.yaml`), in the spirit of ACK's namespace-to-account map: a TurbineStack cannot
widen what its namespace was granted by anything it says about itself. A TurbineStack outside its grant is
refused before any AWS call, with the field and the tenant named. Without the ConfigMap every namespace
behaves as in a single-team install; with `--require-tenants` a namespace no tenant lists is refused.

A tenant's lists are allow-lists: omitted, `regions` and `templateBuckets` allow any, while `roleArns` and
`serviceRoleArns` allow none but the tenant's defaults (a tenant that names no role at all runs on the
operator's own identity, the single-account set-up). `accounts`, when given, bounds every role either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import yaml
from pydantic import ConfigDict, Field, StrictBool, StrictStr, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.dataclasses import dataclass

from turbine_operator.core.api.api_types import BucketName, Region, RoleArn
from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.naming import MAX_STACK_NAME_PREFIX

TENANTS_KEY = "tenants.yaml"
_CONFIG = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=False)
Account = Annotated[StrictStr, Field(pattern=r"^[0-9]{12}$")]
NamespaceName = Annotated[StrictStr, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
TenantName = Annotated[StrictStr, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
# At most MAX_STACK_NAME_PREFIX, so that every default stack name (the prefix, the namespace's segment and the
# name) fits in CloudFormation's 128 characters (core/naming.py).
StackNamePrefix = Annotated[
    StrictStr, Field(pattern=r"^([A-Za-z][-A-Za-z0-9]*)?$", max_length=MAX_STACK_NAME_PREFIX)
]


@dataclass(frozen=True, config=_CONFIG)
class Tenant:
    """What the TurbineStacks of some namespaces may use."""

    name: TenantName
    namespaces: tuple[NamespaceName, ...] = Field(min_length=1)
    accounts: tuple[Account, ...] = ()
    role_arns: tuple[RoleArn, ...] = ()
    default_role_arn: RoleArn | None = None
    service_role_arns: tuple[RoleArn, ...] = ()
    default_service_role_arn: RoleArn | None = None
    regions: tuple[Region, ...] = ()
    template_buckets: tuple[BucketName, ...] = ()
    stack_name_prefix: StackNamePrefix = ""
    allow_adoption: StrictBool = False
    allow_administrator_policies: StrictBool = False


@dataclass(frozen=True, config=_CONFIG)
class _Document:
    tenants: tuple[Tenant, ...] = ()


_DOCUMENT = TypeAdapter(_Document)


class TenantPolicyError(ValueError):
    """The tenants ConfigMap cannot be read as grants; the message names the ConfigMap and the entry."""


@dataclasses.dataclass(frozen=True)
class TenantRefusal:
    """Why a TurbineStack is outside its namespace's grant: the field at fault and the policy."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclasses.dataclass(frozen=True)
class TenantPolicy:
    """The grants of one ConfigMap, by namespace; `where` names the ConfigMap in messages."""

    where: str
    tenants: Mapping[str, Tenant]  # namespace -> its tenant
    required: bool = False

    def refusal(self, spec: TurbineStackSpec, namespace: str) -> TenantRefusal | None:
        """Why this spec, in this namespace, is outside its grant; None when it is inside (or ungoverned)."""
        tenant = self.tenants.get(namespace)
        if tenant is None:
            if not self.required:
                return None
            return TenantRefusal(
                "metadata.namespace",
                f"no tenant in {self.where} lists namespace {namespace}, and the operator runs with "
                "--require-tenants",
            )
        policy = f"tenant {tenant.name} of {self.where}"
        return next(_refusals(spec, _with_defaults(spec, tenant), tenant, policy), None)

    def stack_name_prefix(self, namespace: str) -> str:
        """What the default stack names of the namespace start with: its tenant's prefix (empty if none)."""
        tenant = self.tenants.get(namespace)
        return tenant.stack_name_prefix if tenant is not None else ""

    def governed(self, spec: TurbineStackSpec, namespace: str) -> TurbineStackSpec:
        """The spec with its tenant's default roles where it names none."""
        tenant = self.tenants.get(namespace)
        return spec if tenant is None else _with_defaults(spec, tenant)


def ungoverned(*, required: bool = False, where: str = "the tenants ConfigMap") -> TenantPolicy:
    """The policy when no tenants ConfigMap exists: everyone as a single team, or no one when required."""
    return TenantPolicy(where=where, tenants={}, required=required)


def parse_tenants(text: str, where: str, *, required: bool = False) -> TenantPolicy:
    """The grants in a tenants.yaml; raises TenantPolicyError naming the entry at fault."""
    try:
        raw: Any = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as error:
        raise TenantPolicyError(
            f"{where}: {TENANTS_KEY} is not valid YAML ({type(error).__name__})"
        ) from None
    try:
        document = _DOCUMENT.validate_python(raw if raw is not None else {})
    except ValidationError as error:
        first = error.errors()[0]
        location = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"])
        raise TenantPolicyError(f"{where}: {TENANTS_KEY}{location}: {first['msg']}") from None
    by_namespace: dict[str, Tenant] = {}
    names: set[str] = set()
    for tenant in document.tenants:
        if tenant.name in names:
            raise TenantPolicyError(f"{where}: tenant {tenant.name} is listed twice")
        names.add(tenant.name)
        for namespace in tenant.namespaces:
            other = by_namespace.get(namespace)
            if other is not None:
                raise TenantPolicyError(
                    f"{where}: namespace {namespace} is listed by tenants {other.name} and {tenant.name}"
                )
            by_namespace[namespace] = tenant
    _check_prefixes(document.tenants, where)
    return TenantPolicy(where=where, tenants=by_namespace, required=required)


def _check_prefixes(tenants: tuple[Tenant, ...], where: str) -> None:
    """No tenant's stack names may fall under another's prefix: `data-` would also take `data-science-`
    stacks, and an IAM policy scoped to `stack/data-*` would reach them too. Nor under the default names of
    namespaces no tenant lists, which start with `t` and a digit (core/naming.py namespace_segment)."""
    for tenant in tenants:
        prefix = tenant.stack_name_prefix
        if prefix == "t" or (prefix[:1] == "t" and prefix[1:2].isdigit()):
            raise TenantPolicyError(
                f"{where}: the stackNamePrefix {prefix!r} of tenant {tenant.name} covers the default stack "
                "names of namespaces no tenant lists (t<length>-<namespace>-<name>); choose another"
            )
        for other in tenants:
            if other is not tenant and other.stack_name_prefix.startswith(tenant.stack_name_prefix):
                raise TenantPolicyError(
                    f"{where}: the stackNamePrefix {tenant.stack_name_prefix!r} of tenant {tenant.name} also "
                    f"covers tenant {other.name}'s {other.stack_name_prefix!r}; make them prefix-free"
                )


def _with_defaults(spec: TurbineStackSpec, tenant: Tenant) -> TurbineStackSpec:
    return dataclasses.replace(
        spec,
        role_arn=spec.role_arn or tenant.default_role_arn,
        service_role_arn=spec.service_role_arn or tenant.default_service_role_arn,
    )


def _account(role_arn: str) -> str:
    return role_arn.split(":")[4]


def _role_refusal(
    field: str, role: str | None, allowed: tuple[str, ...], tenant: Tenant, *, policy: str, key: str
) -> TenantRefusal | None:
    if role is None:
        return None
    if tenant.accounts and _account(role) not in tenant.accounts:
        return TenantRefusal(
            field, f"{role} is in account {_account(role)}, which {policy} does not grant (accounts)"
        )
    if role not in allowed:
        return TenantRefusal(field, f"{role} is not among the roles {policy} grants ({key})")
    return None


def _refusals(
    original: TurbineStackSpec, spec: TurbineStackSpec, tenant: Tenant, policy: str
) -> Iterator[TenantRefusal]:
    """Every way the spec (`original`; `spec` with the tenant's defaults) leaves the tenant's grant."""
    roles = (*tenant.role_arns, *filter(None, [tenant.default_role_arn]))
    refused = _role_refusal("spec.roleArn", spec.role_arn, roles, tenant, policy=policy, key="roleArns")
    if refused is not None:
        yield refused
    service_roles = (*tenant.service_role_arns, *filter(None, [tenant.default_service_role_arn]))
    refused = _role_refusal(
        "spec.serviceRoleArn",
        spec.service_role_arn,
        service_roles,
        tenant,
        policy=policy,
        key="serviceRoleArns",
    )
    if refused is not None:
        yield refused
    if tenant.regions and spec.region not in tenant.regions:
        yield TenantRefusal(
            "spec.region", f"{spec.region} is not among the regions {policy} grants (regions)"
        )
    bucket = spec.template_bucket.name
    if tenant.template_buckets and bucket not in tenant.template_buckets:
        yield TenantRefusal(
            "spec.templateBucket.name", f"{bucket} is not among the buckets {policy} grants (templateBuckets)"
        )
    if not spec.stack_name.startswith(tenant.stack_name_prefix):
        yield TenantRefusal(
            "spec.stackName",
            f"{spec.stack_name} does not start with {tenant.stack_name_prefix}, the prefix {policy} requires "
            "(stackNamePrefix)",
        )
    if original.adopt and not tenant.allow_adoption:
        yield TenantRefusal("spec.adopt", f"{policy} does not allow adoption (allowAdoption)")
    if original.allow_administrator_policies and not tenant.allow_administrator_policies:
        yield TenantRefusal(
            "spec.allowAdministratorPolicies",
            f"{policy} does not allow administrator access (allowAdministratorPolicies)",
        )
