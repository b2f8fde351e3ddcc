"""examples/admission/ on the real API server: a TurbineStack outside its namespace's tenant grant is refused
when it is written, naming the field the operator's own check (core/access/tenancy.py) names."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import urllib.error
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from turbine_dev.k8s.admission import example, flat_grants
from turbine_dev.k8s.controlplane import ControlPlane, admission_policy_type_checker
from turbine_dev.k8s.kube import GROUP, PLURAL, VERSION, KubeApi, wait_for
from turbine_dev.runs.probes import turbine_stack
from turbine_operator.core.access.tenancy import parse_tenants
from turbine_operator.core.api.spec import parse_spec

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed")]

TEST_LABEL = "turbine.dev/admission-test"
ACCOUNT = "111122223333"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/turbine-data"
SERVICE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/turbine-data-cloudformation"
BUCKET = "data-turbine-templates"
DEFAULT_REGION = "eu-west-1"  # the operator's region, for the operator's verdict on the same specs
DENIED = re.compile(r"denied request: ([A-Za-z.]+): ")


def tenant(namespaces: list[str], prefix: str) -> dict[str, Any]:
    """A tenant as the operator's tenants.yaml gives it (docs/tenants.md)."""
    return {
        "name": "data-team",
        "namespaces": namespaces,
        "accounts": [ACCOUNT],
        "roleArns": [ROLE],
        "defaultServiceRoleArn": SERVICE_ROLE,
        "regions": [DEFAULT_REGION],
        "templateBuckets": [BUCKET],
        "stackNamePrefix": prefix,
    }


def compliant(prefix: str) -> dict[str, Any]:
    return {
        "templateBucket": {"name": BUCKET, "prefix": "turbine/"},
        "roleArn": ROLE,
        "serviceRoleArn": SERVICE_ROLE,
        "region": DEFAULT_REGION,
        "stackName": f"{prefix}prod",
    }


def outside_the_grant(prefix: str) -> list[tuple[str, dict[str, Any], str]]:
    """(field the refusal names, spec fields over a compliant spec, what else the message says)."""
    return [
        (
            "spec.roleArn",
            {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/turbine-admin"},
            "(tenant.data-team.roleArns)",
        ),
        ("spec.roleArn", {"roleArn": "arn:aws:iam::999988887777:role/turbine-data"}, "account 999988887777"),
        ("spec.serviceRoleArn", {"serviceRoleArn": ROLE}, "(tenant.data-team.serviceRoleArns)"),
        (
            "spec.serviceRoleArn",
            {"serviceRoleArn": "arn:aws:iam::999988887777:role/turbine-data-cloudformation"},
            "account 999988887777",
        ),
        ("spec.region", {"region": "us-west-2"}, "us-west-2 is not among the regions"),
        ("spec.templateBucket.name", {"templateBucket": {"name": "another-bucket"}}, "another-bucket"),
        ("spec.stackName", {"stackName": "elsewhere-prod"}, f"does not start with {prefix}"),
        ("spec.adopt", {"adopt": True}, "(tenant.data-team.allowAdoption)"),
        ("spec.allowAdministratorPolicies", {"allowAdministratorPolicies": True}, "administrator access"),
    ]


def refusal(kube: KubeApi, namespace: str, body: dict[str, Any], *, dry_run: bool = False) -> str | None:
    """The API server's refusal message for creating `body`, or None when it admits it."""
    try:
        kube.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, body, dry_run="All" if dry_run else None
        )
    except ApiException as error:
        return denial(error)
    return None


def denial(error: ApiException) -> str:
    return str(json.loads(error.body or "{}").get("message", error))


def refused_field(message: str | None) -> str | None:
    found = DENIED.search(message or "")
    return found.group(1) if found else None


def operator_verdict(tenants: list[dict[str, Any]], namespace: str, spec: dict[str, Any]) -> str | None:
    """The field the operator's own check refuses the spec for, or None when it is inside the grant."""
    policy = parse_tenants(yaml.safe_dump({"tenants": tenants}), "the tenants ConfigMap", required=True)
    parsed = parse_spec(spec, namespace=namespace, name="probe", default_region=DEFAULT_REGION)
    refused = policy.refusal(parsed, namespace)
    return None if refused is None else refused.field


class Admission:
    """The example policy and binding applied to this test's namespaces only (the control plane is shared with
    the rest of the session), with the grants ConfigMap in a namespace of its own."""

    def __init__(self, kube: KubeApi, control_plane: ControlPlane) -> None:
        self.kube = kube
        self.control_plane = control_plane
        self.admission: Any = client.AdmissionregistrationV1Api(kube.api_client)  # plain dicts, as KubeApi
        self.run = uuid.uuid4().hex[:6]
        self.grants_namespace = self.new_namespace("grants", governed=False)
        self.tenant_namespace = self.new_namespace("tenant")
        self.other_tenant_namespace = self.new_namespace("tenant-b")
        self.unlisted_namespace = self.new_namespace("unlisted")
        self.prefix = f"data-team-{self.run}-"
        self.tenants = [tenant([self.tenant_namespace, self.other_tenant_namespace], self.prefix)]
        self.bindings: list[str] = []
        # A name of its own per test: a policy deleted and created again under the same name was at times
        # not enforced within minutes by the API server (its policy informer kept the deleted one).
        self.policy_name = f"{example('policy.yaml')['metadata']['name']}-{self.run}"

    def new_namespace(self, stem: str, *, governed: bool = True) -> str:
        name = f"admission-{stem}-{self.run}"
        labels = {TEST_LABEL: self.run} if governed else {}
        self.kube.core.create_namespace({"metadata": {"name": name, "labels": labels}})
        return name

    def apply(self) -> None:
        # A policy the status controller checks before the API server publishes the CRD's schema passes
        # unchecked, with no warning.
        wait_for(lambda: _schema_published(self.control_plane), 60, "the CRD's OpenAPI schema")
        self.put_grants(flat_grants(self.tenants))
        policy = example("policy.yaml")
        policy["metadata"]["name"] = self.policy_name
        self.admission.create_validating_admission_policy(policy)
        binding = example("binding.yaml")
        binding["metadata"]["name"] += f"-{self.run}"
        binding["spec"]["paramRef"]["namespace"] = self.grants_namespace
        binding["spec"]["matchResources"]["namespaceSelector"] = {"matchLabels": {TEST_LABEL: self.run}}
        self.bind(binding)

    def bind(self, binding: dict[str, Any]) -> None:
        binding["spec"]["policyName"] = self.policy_name
        self.admission.create_validating_admission_policy_binding(binding)
        self.bindings.append(binding["metadata"]["name"])

    def put_grants(self, data: dict[str, str]) -> None:
        name = example("grants.yaml")["metadata"]["name"]
        body = {"metadata": {"name": name}, "data": data}
        try:
            self.kube.core.replace_namespaced_config_map(name, self.grants_namespace, body)
        except ApiException as error:
            if error.status != 404:
                raise
            self.kube.core.create_namespaced_config_map(self.grants_namespace, body)

    def remove(self) -> None:
        for name in self.bindings:
            self.admission.delete_validating_admission_policy_binding(name)
        self.admission.delete_validating_admission_policy(self.policy_name)

    def type_warnings(self) -> list[Any]:
        """The type check of every expression against the schemas of the CRD and of ConfigMaps: an expression
        that names a field the CRD lacks is reported here (and fails only when it meets an object)."""
        name = self.policy_name

        def checked() -> Any:
            policy = self.admission.read_validating_admission_policy(name)
            current = policy.status and policy.status.observed_generation == policy.metadata.generation
            return policy.status if current and policy.status.type_checking is not None else None

        with admission_policy_type_checker(self.control_plane):
            status = wait_for(checked, 180, f"type check of {name}")
        return list(status.type_checking.expression_warnings or [])

    def wait_enforced(self, spec: dict[str, Any], refused: dict[str, Any], field: str) -> None:
        """The API server loads policies, bindings and params asynchronously: wait until it admits `spec`
        and refuses `refused` for `field` (dry runs, which create nothing). Waits are long, as they cost
        nothing when the server is quick and the control plane shares its cores with other suites."""

        def enforced() -> bool:
            admitted = refusal(
                self.kube, self.tenant_namespace, turbine_stack("probe", BUCKET, **spec), dry_run=True
            )
            denied = refusal(
                self.kube, self.tenant_namespace, turbine_stack("probe", BUCKET, **refused), dry_run=True
            )
            return admitted is None and refused_field(denied) == field

        wait_for(enforced, 180, "the admission policy to enforce the grants")


def _schema_published(control_plane: ControlPlane) -> bool:
    try:
        document = control_plane.admin_request("GET", f"/openapi/v3/apis/{GROUP}/{VERSION}")
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise
    return "dev.turbine.v1alpha1.TurbineStack" in document.get("components", {}).get("schemas", {})


@pytest.fixture
def admission(kube: KubeApi, control_plane: ControlPlane) -> Iterator[Admission]:
    applied = Admission(kube, control_plane)
    applied.apply()
    try:
        yield applied
    finally:
        applied.remove()


def test_a_tenant_is_refused_at_admission_whatever_it_asks_outside_its_grant(admission: Admission) -> None:
    kube, namespace, prefix = admission.kube, admission.tenant_namespace, admission.prefix
    assert admission.type_warnings() == []
    inside = compliant(prefix)
    admission.wait_enforced(inside, {**inside, "adopt": True}, "spec.adopt")

    # Inside the grant: everything it names is granted, or it names nothing and gets the operator's defaults.
    assert refusal(kube, namespace, turbine_stack("inside", BUCKET, **inside)) is None
    assert refusal(kube, admission.other_tenant_namespace, turbine_stack("defaults", BUCKET)) is None
    assert operator_verdict(admission.tenants, namespace, inside) is None

    for field, fields, detail in outside_the_grant(prefix):
        spec = {**inside, **fields}
        message = refusal(kube, namespace, turbine_stack("outside", BUCKET, **spec))
        assert (refused_field(message), detail in (message or "")) == (field, True), message
        assert f"tenant data-team of ConfigMap {admission.grants_namespace}/turbine-tenant-grants" in (
            message or ""
        )
        # The same field the operator's own check names: both gates enforce one grant.
        assert operator_verdict(admission.tenants, namespace, spec) == field, spec
    assert kube.get_stack(namespace, "outside") is None

    # A namespace no tenant lists, as the operator with --require-tenants.
    message = refusal(kube, admission.unlisted_namespace, turbine_stack("unlisted", BUCKET))
    assert refused_field(message) == "metadata.namespace", message
    assert f"lists namespace {admission.unlisted_namespace}" in (message or "")
    unlisted = operator_verdict(
        admission.tenants, admission.unlisted_namespace, {"templateBucket": {"name": BUCKET}}
    )
    assert unlisted == "metadata.namespace"


def test_an_update_is_checked_when_it_writes_the_spec_and_only_then(admission: Admission) -> None:
    kube, namespace, prefix = admission.kube, admission.tenant_namespace, admission.prefix
    inside = compliant(prefix)
    admission.wait_enforced(inside, {**inside, "adopt": True}, "spec.adopt")
    kube.create_stack(namespace, turbine_stack("airflow", BUCKET, **inside))

    with pytest.raises(ApiException) as refused:
        kube.patch_stack(namespace, "airflow", {"spec": {"allowAdministratorPolicies": True}})
    assert refused_field(denial(refused.value)) == "spec.allowAdministratorPolicies"

    # The administrator narrows the grant: the role the TurbineStack names is no longer granted. Its spec is
    # refused from now on, but a write that keeps the spec (the operator's finalizer, a label) still goes
    # through, so that deleting it is never blocked; the operator stalls it.
    narrowed = copy.deepcopy(admission.tenants)
    narrowed[0]["roleArns"] = [f"arn:aws:iam::{ACCOUNT}:role/turbine-data-v2"]
    admission.put_grants(flat_grants(narrowed))
    admission.wait_enforced({**inside, "roleArn": narrowed[0]["roleArns"][0]}, inside, "spec.roleArn")
    kube.patch_stack(namespace, "airflow", {"metadata": {"labels": {"team": "data"}, "finalizers": ["x/y"]}})
    with pytest.raises(ApiException) as refused:
        kube.patch_stack(namespace, "airflow", {"spec": {"workers": {"maxSize": 20}}})
    assert refused_field(denial(refused.value)) == "spec.roleArn"
    kube.patch_stack(namespace, "airflow", {"metadata": {"finalizers": None}})


def test_kubectl_apply_is_refused_naming_the_field(admission: Admission, control_plane: ControlPlane) -> None:
    inside = compliant(admission.prefix)
    admission.wait_enforced(inside, {**inside, "adopt": True}, "spec.adopt")
    manifest = turbine_stack("airflow", BUCKET, **{**inside, "region": "us-west-2"})
    manifest["metadata"]["namespace"] = admission.tenant_namespace
    kubectl = shutil.which("kubectl") or shutil.which("kubectl", path=str(Path(sys.executable).parent))
    assert kubectl is not None
    done = subprocess.run(
        [kubectl, f"--kubeconfig={control_plane.kubeconfig}", "apply", "-f", "-"],
        input=yaml.safe_dump(manifest),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode != 0, done.stdout
    assert "denied request: spec.region: us-west-2 is not among the regions tenant data-team" in done.stderr


def test_without_the_grants_config_map_every_turbine_stack_is_refused(admission: Admission) -> None:
    # The example binding with a ConfigMap that does not exist, for a namespace of its own.
    orphan = admission.new_namespace("orphan", governed=False)
    admission.kube.core.patch_namespace(
        orphan, {"metadata": {"labels": {TEST_LABEL + "-orphan": admission.run}}}
    )
    binding = example("binding.yaml")
    binding["metadata"]["name"] = f"turbine-tenant-grants-orphan-{admission.run}"
    binding["spec"]["paramRef"].update(namespace=admission.grants_namespace, name="no-such-grants")
    binding["spec"]["matchResources"]["namespaceSelector"] = {
        "matchLabels": {TEST_LABEL + "-orphan": admission.run}
    }
    admission.bind(binding)

    def refused() -> str | None:
        return refusal(admission.kube, orphan, turbine_stack("airflow", BUCKET), dry_run=True)

    message = wait_for(refused, 180, "a refusal without the grants ConfigMap")
    assert f"binding '{binding['metadata']['name']}' denied request" in message, message
    assert "no params found for policy binding with `Deny` parameterNotFoundAction" in message, message
    assert refusal(admission.kube, orphan, turbine_stack("airflow", BUCKET)) == message
