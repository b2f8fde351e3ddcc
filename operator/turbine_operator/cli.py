"""The `turbine-operator` command: run the operator, or render a TurbineStack offline."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from turbine_operator import __version__
from turbine_operator.adapters.settings import NAMESPACES_ENV, OperatorSettings, SettingsError
from turbine_operator.adapters.sources import LAMBDAS_DIR_ENV, TEMPLATES_DIR_ENV, load_turbine_sources
from turbine_operator.core.access.tenancy import (
    TENANTS_KEY,
    TenantPolicy,
    TenantPolicyError,
    parse_tenants,
    ungoverned,
)
from turbine_operator.core.airflow.airflow_users import desired_users
from turbine_operator.core.api.crd import custom_resource_definition
from turbine_operator.core.api.spec import TurbineStackSpec, parse_spec, spec_problems
from turbine_operator.core.api.unknown_fields import unknown_fields
from turbine_operator.core.errors import SpecError
from turbine_operator.core.naming import default_stack_name
from turbine_operator.core.plan.leadership import DEFAULT_LEASE_NAME
from turbine_operator.core.render.dag_bundles import dag_bundle_config
from turbine_operator.core.render.references import Fetched, Source
from turbine_operator.core.render.rendering import Owner, desired_stack
from turbine_operator.core.report.outputs_config_map import config_map_name
from turbine_operator.manifests import ManifestError, ManifestObjects
from turbine_operator.operations.stack.references import fetch_references

RENDER_UID = "00000000-0000-0000-0000-000000000000"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="turbine-operator",
        description="Turbine Operator: runs Apache Airflow on AWS from Kubernetes TurbineStack resources.",
    )
    parser.add_argument("--version", action="version", version=f"turbine-operator {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="start the operator (kopf) against the current kubeconfig or in-cluster credentials",
        description="Starts the operator. Every option can also be set by the environment variable shown.",
    )
    scope = run.add_mutually_exclusive_group()
    scope.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable, exact names); default: all namespaces",
    )
    scope.add_argument(
        "-A", "--all-namespaces", action="store_true", help="watch every namespace (the default)"
    )
    run.add_argument(
        "--region", help="default AWS region for TurbineStacks without spec.region [TURBINE_REGION]"
    )
    run.add_argument(
        "--poll-interval",
        type=float,
        help="seconds between checks of in-flight stack operations (default 15) [TURBINE_POLL_INTERVAL]",
    )
    run.add_argument(
        "--resync-interval",
        type=float,
        help="seconds between each settled stack's own look at AWS (default 43200) [TURBINE_RESYNC_INTERVAL]",
    )
    run.add_argument(
        "--listing-interval",
        type=float,
        help="seconds between listings of each region's stacks, which wake stacks changed outside the "
        "operator (default 300) [TURBINE_LISTING_INTERVAL]",
    )
    run.add_argument(
        "--metrics-port",
        type=int,
        help="port of the Prometheus /metrics endpoint, 0 to disable (default 9090) [TURBINE_METRICS_PORT]",
    )
    run.add_argument(
        "--metrics-address",
        help="address the metrics endpoint binds (default 0.0.0.0) [TURBINE_METRICS_ADDRESS]",
    )
    run.add_argument(
        "--max-concurrent-updates",
        type=int,
        help=(
            "stack updates in flight at once, operator-wide, so a new template bundle rolls out in stages;"
            " 0 for no limit (default 10) [TURBINE_MAX_CONCURRENT_UPDATES]"
        ),
    )
    run.add_argument(
        "--liveness", metavar="URL", help="kopf liveness endpoint, e.g. http://0.0.0.0:8080/healthz"
    )
    run.add_argument(
        "--peering",
        metavar="NAME",
        help="use kopf peering (needs the KopfPeering CRD); by default the operator runs standalone",
    )
    run.add_argument(
        "--shard-selector",
        metavar="SELECTOR",
        help=(
            "serve only the TurbineStacks this label selector matches, e.g. turbine.dev/shard=a (one"
            " Deployment per shard; the API server filters) [TURBINE_SHARD_SELECTOR]"
        ),
    )
    run.add_argument(
        "--tenants-config-map",
        metavar="NAMESPACE/NAME",
        help=(
            "the ConfigMap (key tenants.yaml) that grants each namespace its AWS accounts, roles, regions,"
            " buckets and stack-name prefix; see docs/tenants.md [TURBINE_TENANTS_CONFIG_MAP]"
        ),
    )
    run.add_argument(
        "--require-tenants",
        action="store_true",
        help="refuse the TurbineStacks of namespaces no tenant lists [TURBINE_REQUIRE_TENANTS=1]",
    )
    run.add_argument(
        "--leader-elect",
        action="store_true",
        help=(
            "hot standby for more than one replica: act only while holding a coordination.k8s.io Lease, take"
            " over within about 20 s when the leader dies [TURBINE_LEADER_ELECT=1]"
        ),
    )
    run.add_argument(
        "--leader-election-namespace",
        help="namespace of the Lease (default: POD_NAMESPACE) [TURBINE_LEADER_ELECTION_NAMESPACE]",
    )
    run.add_argument(
        "--leader-election-id",
        help=f"name of the Lease (default {DEFAULT_LEASE_NAME}) [TURBINE_LEADER_ELECTION_ID]",
    )
    run.add_argument(
        "--cfn-dir", type=Path, help=f"folder with Turbine's templates and scripts [{TEMPLATES_DIR_ENV}]"
    )
    run.add_argument(
        "--lambdas-dir", type=Path, help=f"folder with Turbine's Lambda sources [{LAMBDAS_DIR_ENV}]"
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    run.add_argument(
        "--log-format", choices=["plain", "full", "json"], default="full", help="log line format"
    )

    render = commands.add_parser(
        "render",
        help="print the rendered master template, parameters and uploaded files; no cluster, no AWS",
        description="Renders a TurbineStack manifest exactly as the operator would, deterministically.",
    )
    render.add_argument("-f", "--filename", type=Path, required=True, help="a TurbineStack manifest (YAML)")
    render.add_argument("--region", default="us-east-1", help="region used when the spec has none")
    render.add_argument(
        "--resources",
        type=Path,
        metavar="DIR",
        help=(
            "folder of ConfigMap and Secret manifests (*.yaml) that the TurbineStack references; those naming"
            " a namespace other than the TurbineStack's are ignored"
        ),
    )
    render.add_argument(
        "--tenants",
        type=Path,
        metavar="FILE",
        help=(
            "the tenants ConfigMap manifest the operator runs with (--tenants-config-map): the TurbineStack"
            " is checked against its namespace's grant; its default stack name carries the tenant's"
            " prefix"
        ),
    )
    return parser


def _run(options: argparse.Namespace) -> int:
    environment = {
        "TURBINE_REGION": options.region,
        "TURBINE_POLL_INTERVAL": options.poll_interval,
        "TURBINE_RESYNC_INTERVAL": options.resync_interval,
        "TURBINE_LISTING_INTERVAL": options.listing_interval,
        "TURBINE_METRICS_PORT": options.metrics_port,
        "TURBINE_METRICS_ADDRESS": options.metrics_address,
        "TURBINE_MAX_CONCURRENT_UPDATES": options.max_concurrent_updates,
        "TURBINE_SHARD_SELECTOR": options.shard_selector,
        "TURBINE_TENANTS_CONFIG_MAP": options.tenants_config_map,
        "TURBINE_REQUIRE_TENANTS": "1" if options.require_tenants else None,
        NAMESPACES_ENV: len(options.namespace) or 1,
        TEMPLATES_DIR_ENV: options.cfn_dir,
        LAMBDAS_DIR_ENV: options.lambdas_dir,
    }
    os.environ.update({name: str(value) for name, value in environment.items() if value is not None})
    try:
        # Before kopf starts: a bad setting is a clear error and exit code 2, not a startup retry loop.
        settings = OperatorSettings.from_environment()
    except SettingsError as error:
        print(f"turbine-operator run: {error}", file=sys.stderr)
        return 2
    argv = ["run", "-m", "turbine_operator.main", f"--log-format={options.log_format}"]
    argv += [f"--peering={options.peering}"] if options.peering else ["--standalone"]
    argv += [f"--namespace={namespace}" for namespace in options.namespace] or ["--all-namespaces"]
    if options.liveness:
        argv.append(f"--liveness={options.liveness}")
    if options.verbose:
        argv.append("--verbose")
    from kopf.cli import main as kopf_main  # noqa: PLC0415 - only `run` needs kopf's CLI

    def operator() -> None:
        kopf_main(args=argv, prog_name="turbine-operator run")

    if not (options.leader_elect or os.environ.get("TURBINE_LEADER_ELECT") == "1"):
        operator()
        return 0
    namespace = (
        options.leader_election_namespace
        or os.environ.get("TURBINE_LEADER_ELECTION_NAMESPACE")
        or os.environ.get("POD_NAMESPACE")
    )
    if not namespace:
        print("--leader-elect needs --leader-election-namespace or POD_NAMESPACE", file=sys.stderr)
        return 2
    lease = options.leader_election_id or os.environ.get("TURBINE_LEADER_ELECTION_ID") or DEFAULT_LEASE_NAME
    from turbine_operator.leader_election import run_as_leader  # noqa: PLC0415 - needs the Kubernetes client

    metrics = (settings.metrics_address, settings.metrics_port) if settings.metrics_port else None
    return run_as_leader(operator, namespace, lease, options.liveness, metrics)


def _render(options: argparse.Namespace) -> int:
    # A user's mistake (no such file, bad YAML, an invalid spec) is exit code 2 and a line per problem
    # naming the file and field, never a traceback.
    try:
        manifest = yaml.safe_load(options.filename.read_text())
    except OSError as error:
        return _refused(options.filename, error.strerror or str(error))
    except yaml.YAMLError as error:
        return _refused(options.filename, "not valid YAML: " + " ".join(str(error).split()))
    if not isinstance(manifest, dict) or manifest.get("kind") != "TurbineStack":
        return _refused(options.filename, "not a TurbineStack manifest")
    metadata = manifest.get("metadata") or {}
    # A manifest without a namespace lands wherever `kubectl apply -n` puts it: resources from any
    # namespace may then belong with it. The stack name still needs one, so it renders as in `default`.
    placed_in = metadata.get("namespace")
    namespace, name = placed_in or "default", metadata.get("name", "unnamed")
    # As the API server replies to `kubectl apply` (field validation Strict): every unknown field and
    # every invalid value at once.
    schema = custom_resource_definition()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    problems = [f"{field}: unknown field" for field in unknown_fields(manifest, schema)]
    problems += [
        str(problem)
        for problem in spec_problems(
            manifest.get("spec"), namespace=namespace, name=name, default_region=options.region
        )
    ]
    if problems:
        return _refused(options.filename, *problems)
    try:
        policy = _tenant_policy(options.tenants)
    except OSError as error:
        return _refused(options.tenants, error.strerror or str(error))
    except yaml.YAMLError as error:
        return _refused(options.tenants, "not valid YAML: " + " ".join(str(error).split()))
    except (ManifestError, TenantPolicyError) as error:
        return _refused(options.tenants, str(error))
    try:
        # As the operator names a stack that names none: the default, with the tenant's prefix.
        prefix = policy.stack_name_prefix(namespace)
        stack_name = default_stack_name(namespace, name, prefix) if prefix else None
        spec = parse_spec(
            manifest.get("spec"),
            namespace=namespace,
            name=name,
            default_region=options.region,
            stack_name=stack_name,
        )
        if (refusal := policy.refusal(spec, namespace)) is not None:
            return _refused(options.filename, f"{refusal} (the operator stalls it OutsideTenantGrant)")
        spec = policy.governed(spec, namespace)
        objects = ManifestObjects()
        if options.resources:
            objects = ManifestObjects.from_folder(options.resources, placed_in)
        # No AWS: an s3Url template is reported as unreadable rather than fetched.
        fetched = fetch_references(spec, namespace, objects, s3=None)
        desired = desired_stack(spec, Owner(namespace, name, RENDER_UID), load_turbine_sources(), fetched)
    except (SpecError, ManifestError) as error:
        return _refused(options.filename, str(error))
    rendered = {
        "stackName": desired.stack_name,
        "region": desired.region,
        "templateURL": f"s3://{desired.bucket}/{desired.template_url_key}",
        "parameters": desired.shown_parameters(),
        "files": [f"s3://{desired.bucket}/{desired.key_prefix}{key}" for key in desired.bundle.files],
        "masterTemplate": json.loads(desired.bundle.files[desired.template_key]),
        **_airflow_additions(spec, name, fetched),
    }
    sys.stdout.write(yaml.safe_dump(rendered, sort_keys=False, width=120))
    return 0


def _tenant_policy(path: Path | None) -> TenantPolicy:
    """The grants of a tenants ConfigMap manifest (ungoverned without one), as the operator reads them."""
    if path is None:
        return ungoverned()
    document = yaml.safe_load(path.read_text())
    data = document.get("data") if isinstance(document, Mapping) else None
    if not isinstance(data, Mapping) or document.get("kind") != "ConfigMap" or TENANTS_KEY not in data:
        raise ManifestError(f"not a ConfigMap with a data.{TENANTS_KEY} key")
    return parse_tenants(str(data[TENANTS_KEY]), f"ConfigMap {path.name}")


def _refused(filename: Path, *problems: str) -> int:
    for problem in problems:
        print(f"{filename}: {problem}", file=sys.stderr)
    return 2


def _airflow_additions(
    spec: TurbineStackSpec, name: str, fetched: Mapping[Source, Fetched]
) -> dict[str, Any]:
    """What spec.airflow.users, .dags and spec.outputsConfigMap add besides the stack, passwords named by
    their Secret key, never shown."""
    shown: dict[str, Any] = {}
    users = desired_users(spec, fetched)
    if users is not None:
        shown["airflowUsers"] = {
            "secret": "the stack's AirflowUsersSecretArn output, written by the operator",
            "version": users.version,
            "users": [
                {
                    "username": user.username,
                    "email": user.email,
                    "role": user.role,
                    "password": f"from key {user.password_secret_key_ref.key} of Secret"
                    f" {user.password_secret_key_ref.name}",
                }
                for user in users.users
            ],
        }
    bundles = dag_bundle_config(spec)
    if bundles is not None:
        shown["dagBundles"] = bundles
    outputs = config_map_name(spec, name)
    if outputs is not None:
        shown["outputsConfigMap"] = outputs
    return shown


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    if options.command == "run":
        return _run(options)
    return _render(options)


if __name__ == "__main__":
    sys.exit(main())
