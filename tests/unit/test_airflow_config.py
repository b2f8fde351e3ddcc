"""spec.airflow.config (core/render/airflow_config.py): checked against the shipped options of the stack's
Airflow, refused where the stack sets the option itself or Airflow marks it sensitive, and delivered as the
environment lines the bootstrap checks again and writes."""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from turbine_operator.adapters.sources import cfn_dir, load_turbine_sources
from turbine_operator.core.api.spec import TurbineStackSpec, parse_spec
from turbine_operator.core.errors import SpecError
from turbine_operator.core.render.airflow_config import (
    LARGEST_CONFIG,
    MANAGED,
    airflow_config_parameter,
    airflow_options,
    check_airflow_config,
    environment_variable,
)
from turbine_operator.core.render.bundle import TurbineSources

SOURCES = load_turbine_sources()
OPTIONS = airflow_options(SOURCES)
BOOTSTRAP = cfn_dir() / "scripts" / "turbine-bootstrap.sh"


def spec_with(config: dict[str, Any]) -> TurbineStackSpec:
    raw = {"templateBucket": {"name": "turbine-templates"}, "airflow": {"config": config}}
    return parse_spec(raw, namespace="airflow", name="prod", default_region="eu-west-1")


def refusal(config: dict[str, Any], options: Any = OPTIONS) -> SpecError:
    with pytest.raises(SpecError) as refused:
        check_airflow_config(spec_with(config), options)
    return refused.value


def test_the_shipped_options_are_those_of_the_locked_airflow_version() -> None:
    [lock] = [name for name in SOURCES.scripts if name.startswith("airflow-") and name.endswith(".lock")]
    assert OPTIONS is not None, f"no cfn/airflow/{lock.removesuffix('.lock')}.options.json for {lock}"
    assert OPTIONS["core"]["default_timezone"] is False
    assert OPTIONS["core"]["fernet_key"] is True  # sensitive, as Airflow marks it


def test_options_of_the_stacks_airflow_pass() -> None:
    check_airflow_config(
        spec_with(
            {"core.default_timezone": "Europe/Amsterdam", "common.io.xcom_objectstorage_threshold": "1"}
        ),
        OPTIONS,
    )


def test_an_option_airflow_does_not_have_is_refused_by_name() -> None:
    refused = refusal({"core.default_timezon": "UTC"})
    assert refused.field == "spec.airflow.config.core.default_timezon"
    assert "no [core] default_timezon" in refused.message


@pytest.mark.parametrize(("key", "reason"), [
    ("core.parallelism", "autoscaling"),
    ("celery.worker_concurrency", "autoscaling"),
    ("core.executor", "wires the cluster"),
    ("database.sql_alchemy_conn", "Secrets Manager"),
    ("logging.remote_base_log_folder", "S3 bucket"),
    ("celery_broker_transport_options.region", "wires the cluster"),
])  # fmt: skip
def test_an_option_the_stack_sets_is_refused_with_the_reason(key: str, reason: str) -> None:
    refused = refusal({key: "1"})
    assert refused.field == f"spec.airflow.config.{key}"
    assert "managed by the stack" in refused.message
    assert reason in refused.message


def test_a_sensitive_option_is_refused_as_its_value_would_be_readable() -> None:
    refused = refusal({"sentry.sentry_dsn": "https://key@sentry.example.com/1"})
    assert "sensitive" in refused.message
    assert "https://key" not in refused.message


def test_without_a_shipped_option_list_any_option_is_refused() -> None:
    assert "no option list" in refusal({"core.default_timezone": "UTC"}, options=None).message
    check_airflow_config(spec_with({}), None)  # nothing asked, nothing needed
    bare = TurbineSources(templates={}, scripts={"airflow-9.9.9.lock": b""}, lambda_modules={})
    assert airflow_options(bare) is None


def test_more_than_fits_the_parameter_is_refused() -> None:
    config = {
        f"core.{option}": "x" * 1000
        for option in ("default_timezone", "dags_folder", "plugins_folder", "hostname_callable")
    }
    refused = refusal(config)
    assert refused.field == "spec.airflow.config"
    assert str(LARGEST_CONFIG) in refused.message
    # What passes fits CloudFormation's 4,096 characters of a parameter value.
    assert len(base64.b64encode(b"x" * LARGEST_CONFIG)) <= 4096


def test_the_stacks_own_options_are_exactly_what_the_bootstrap_writes() -> None:
    written = set(re.findall(r'echo "(AIRFLOW__[A-Z0-9_]+__[A-Z0-9_]+)=', BOOTSTRAP.read_text()))
    assert {environment_variable(f"{section}.{option}") for section, option in MANAGED} == written
    assert OPTIONS is not None
    # Each is an option Airflow describes, but for a Celery transport option Airflow passes through as is.
    assert [key for key in MANAGED if key[1] not in OPTIONS.get(key[0], {})] == [
        ("celery_broker_transport_options", "region")
    ]


def test_the_parameter_holds_one_environment_line_per_option() -> None:
    spec = spec_with(
        {"core.default_timezone": "Europe/Amsterdam", "common.io.xcom_objectstorage_threshold": "1"}
    )
    lines = base64.b64decode(airflow_config_parameter(spec)).decode()
    assert lines == (
        "AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD='1'\nAIRFLOW__CORE__DEFAULT_TIMEZONE='Europe/Amsterdam'\n"
    )
    assert airflow_config_parameter(spec_with({})) == ""


def _bootstrap_lines(parameter: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """The bootstrap's own airflow_config_lines, run on `parameter` as the instance would."""
    source = BOOTSTRAP.read_text()
    function = source[source.index("airflow_config_lines() {") :]
    function = function[: function.index("\n}\n") + 3]
    script = tmp_path / "lines.sh"
    script.write_text(f"set -euo pipefail\n{function}airflow_config_lines\n")
    env = {"PATH": "/usr/bin:/bin", "TURBINE_AIRFLOW_CONFIG": parameter}
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, check=False)


def test_the_bootstrap_writes_what_the_operator_renders(tmp_path: Path) -> None:
    spec = spec_with({"core.default_timezone": "Europe/Amsterdam", "api.instance_name": 'say "hi" $HOME'})
    done = _bootstrap_lines(airflow_config_parameter(spec), tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == base64.b64decode(airflow_config_parameter(spec)).decode()


@pytest.mark.parametrize("line", [
    "AIRFLOW__CORE__X='it's'", "AIRFLOW__CORE__X='a\\b'", "AIRFLOW__CORE__X='a\tb'", "PATH='/tmp'",
    "AIRFLOW__CORE__X=unquoted",
])  # fmt: skip
def test_the_bootstrap_refuses_a_line_the_operator_would_not_render(line: str, tmp_path: Path) -> None:
    done = _bootstrap_lines(base64.b64encode(f"{line}\n".encode()).decode(), tmp_path)
    assert done.returncode != 0
    assert "AirflowConfig holds a line" in done.stderr
    assert done.stdout == ""
