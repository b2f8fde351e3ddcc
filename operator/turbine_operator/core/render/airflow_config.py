"""spec.airflow.config: Airflow options set on every role, checked against the options of the stack's Airflow.

The option list is Airflow's own (its config description and its providers'), extracted when the Airflow lock
is made and shipped as cfn/airflow/airflow-<version>.options.json; nothing here imports Airflow. An option is
refused when that Airflow does not have it, when the stack sets it itself (the bootstrap's environment, each
with the reason below), or when Airflow marks it sensitive: a value here is a CloudFormation parameter, which
anyone who may describe the stack can read.

Every role's bootstrap writes the options as AIRFLOW__<SECTION>__<OPTION> lines into the environment file the
services and the `airflow` command read, before the stack's own lines, so a managed option would win anyway.
The lines travel base64-encoded (parameter AirflowConfig), as the DAG bundle does; the values may hold no
single quote, backslash or control character, so that the lines mean the same to bash and to systemd.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.errors import SpecError
from turbine_operator.core.render.bundle import TurbineSources

AIRFLOW_CONFIG_PARAMETER = "AirflowConfig"
AIRFLOW_CONFIG_FIELD = "spec.airflow.config"

_CLUSTER = "the stack wires the cluster together with it"
_SCALING = "autoscaling sizes it from spec.workers (maxSize and the worker slots)"
_SECRET = "the stack keeps it in Secrets Manager"  # noqa: S105 - a reason, not a password
_DAGS = "the stack sets it from spec.airflow.dags"
_URL = "the stack sets it from spec.webserver"
_LOGS = "the stack sends task logs to its own S3 bucket"

# What cfn/scripts/turbine-bootstrap.sh writes into the environment (a test keeps the two equal).
MANAGED: Mapping[tuple[str, str], str] = {
    ("core", "executor"): _CLUSTER,
    ("core", "auth_manager"): _CLUSTER,
    ("core", "load_examples"): "set spec.airflow.loadExampleDags",
    ("core", "execution_api_server_url"): _CLUSTER,
    ("api", "base_url"): _URL,
    ("api", "port"): _URL,
    ("api", "secret_key"): _SECRET,
    ("api_auth", "jwt_secret"): _SECRET,
    ("celery", "broker_url"): _CLUSTER,
    ("celery", "result_backend"): _CLUSTER,
    ("celery", "worker_concurrency"): _SCALING,
    ("celery", "worker_prefetch_multiplier"): _SCALING,
    ("celery", "task_acks_late"): "the worker drain and scale-in rely on late acknowledgement",
    ("celery_broker_transport_options", "region"): _CLUSTER,
    ("celery_broker_transport_options", "visibility_timeout"): "the queue's visibility timeout sets it",
    ("operators", "default_queue"): _CLUSTER,
    ("dag_processor", "dag_bundle_config_list"): _DAGS,
    ("dag_processor", "dag_bundle_storage_path"): _DAGS,
    ("secrets", "backend"): _SECRET,
    ("secrets", "backend_kwargs"): _SECRET,
    ("core", "parallelism"): _SCALING,
    ("core", "max_active_tasks_per_dag"): _SCALING,
    ("core", "default_pool_task_slot_count"): _SCALING,
    ("scheduler", "task_queued_timeout"): "autoscaling's scale-out bound is set against it",
    ("logging", "remote_logging"): _LOGS,
    ("logging", "remote_base_log_folder"): _LOGS,
    ("logging", "remote_log_conn_id"): _LOGS,
    ("core", "fernet_key"): _SECRET,
    ("database", "sql_alchemy_conn"): _SECRET,
}

# The parameter is at most 4,096 characters (as DagBundle), base64 of at most 3,072 bytes of lines.
LARGEST_CONFIG = 3072
_FORBIDDEN_IN_VALUES = frozenset("'\\") | {chr(code) for code in (*range(32), 127)}


def option_of(key: str) -> tuple[str, str]:
    """ "section.option" at its last dot: sections may hold dots (common.io), option names do not."""
    section, _, option = key.rpartition(".")
    return section, option


def airflow_options(sources: TurbineSources) -> Mapping[str, Mapping[str, bool]] | None:
    """The option list of the Airflow the bootstrap installs (the one cfn/scripts/airflow-<version>.lock),
    as {section: {option: sensitive}}; None when it was not shipped."""
    locks = [name for name in sources.scripts if name.startswith("airflow-") and name.endswith(".lock")]
    raw = (
        sources.airflow_options.get(locks[0].removesuffix(".lock") + ".options.json")
        if len(locks) == 1
        else None
    )
    if raw is None:
        return None
    options: dict[str, dict[str, bool]] = json.loads(raw)
    return options


def check_airflow_config(spec: TurbineStackSpec, options: Mapping[str, Mapping[str, bool]] | None) -> None:
    """Refuses what the stack's Airflow does not take, naming the option; `options` None: none shipped."""
    config = spec.airflow.config
    if not config:
        return
    if options is None:
        raise SpecError(AIRFLOW_CONFIG_FIELD, "this operator ships no option list for its Airflow")
    for key, value in config.items():
        field = f"{AIRFLOW_CONFIG_FIELD}.{key}"
        section, option = option_of(key)
        # Managed first: Celery's transport options are passed through, not described, and region is one.
        if (section, option) in MANAGED:
            raise SpecError(field, f"is managed by the stack: {MANAGED[section, option]}")
        if section not in options or option not in options[section]:
            raise SpecError(field, f"is not an option of this stack's Airflow (no [{section}] {option})")
        if options[section][option]:
            raise SpecError(
                field,
                "is sensitive in Airflow: a value here would be a CloudFormation parameter, readable by "
                "anyone who may describe the stack",
            )
        if forbidden := sorted(set(value) & _FORBIDDEN_IN_VALUES):
            raise SpecError(field, f"holds {', '.join(repr(c) for c in forbidden)}: not taken in a value")
    size = len(_lines(config))
    if size > LARGEST_CONFIG:
        raise SpecError(
            AIRFLOW_CONFIG_FIELD, f"is {size} bytes as environment lines; at most {LARGEST_CONFIG}"
        )


def environment_variable(key: str) -> str:
    """As Airflow names an option's variable: AIRFLOW__{SECTION, dots as _}__{OPTION}, upper case."""
    section, option = option_of(key)
    return f"AIRFLOW__{section.replace('.', '_').upper()}__{option.upper()}"


def _lines(config: Mapping[str, str]) -> bytes:
    return "".join(f"{environment_variable(key)}='{config[key]}'\n" for key in sorted(config)).encode()


def airflow_config_parameter(spec: TurbineStackSpec) -> str:
    """The options as base64 environment lines, or empty for none."""
    config = spec.airflow.config
    return base64.b64encode(_lines(config)).decode() if config else ""
