"""`turbine-operator render`: offline, deterministic, Secret values masked, errors that name the entry."""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from integration.test_invalid_specs import REJECTED_BY_THE_SERVER
from turbine_operator.cli import main
from turbine_operator.core.naming import default_stack_name

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "additions"
TOKEN = "replace-me-with-a-real-token"  # the example Secret's value


def render(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(["render", "-f", str(EXAMPLE / "turbine-stack.yaml"), *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_example_renders_the_same_bytes_every_time_with_the_secret_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    first = render(capsys, "--resources", str(EXAMPLE))
    second = render(capsys, "--resources", str(EXAMPLE))
    assert first == second
    code, out, _ = first
    assert code == 0
    rendered = yaml.safe_load(out)
    assert rendered["parameters"]["NotificationsWebhookToken"] == "****"
    assert TOKEN not in out
    prefix = rendered["parameters"]["QSS3KeyPrefix"]
    additional = f"s3://my-turbine-templates/{prefix}templates/additional_templates/"
    assert {
        f"{additional}{name}" for name in ("DataLake.yaml", "data-lake-queue.yaml", "Notifications.yaml")
    } <= set(rendered["files"])
    resources = rendered["masterTemplate"]["Resources"]
    assert {resources[name]["Type"] for name in ("DataLake", "Notifications")} == {
        "AWS::CloudFormation::Stack"
    }
    assert {resources[name]["Type"] for name in ("ReadDataLake", "PublishAlerts")} == {
        "AWS::IAM::ManagedPolicy"
    }


def test_without_the_referenced_objects_the_error_names_the_entry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = render(capsys)
    assert code == 2
    assert out == ""
    assert "spec.additionalTemplates[DataLake].template.configMapKeyRef: ConfigMap airflow-extras" in err


def _stack_in(folder: Path, namespace: str | None) -> Path:
    """The example TurbineStack, placed in `namespace` (or in none, as the example is)."""
    manifest = yaml.safe_load((EXAMPLE / "turbine-stack.yaml").read_text())
    if namespace:
        manifest["metadata"]["namespace"] = namespace
    path = folder / "turbine-stack.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return path


def _resources_in(folder: Path, namespaces: dict[str, str | None]) -> Path:
    """Copies the example's resources into `folder`, one file per namespace given."""
    documents = list(yaml.safe_load_all((EXAMPLE / "resources.yaml").read_text()))
    folder.mkdir()
    for file_name, namespace in namespaces.items():
        placed = [
            {**doc, "metadata": {**doc["metadata"], **({"namespace": namespace} if namespace else {})}}
            for doc in documents
        ]
        (folder / file_name).write_text(yaml.safe_dump_all(placed))
    return folder


TWICE = "b.yaml: ConfigMap {}airflow-extras is also defined in a.yaml: ConfigMap {}airflow-extras"


@pytest.mark.parametrize(
    ("stack_namespace", "resources", "error"),
    [
        (None, {"a.yaml": None}, None),
        (None, {"a.yaml": "prod"}, None),
        (None, {"a.yaml": "prod", "b.yaml": "dev"}, TWICE.format("dev/", "prod/")),
        ("prod", {"a.yaml": None}, None),
        ("prod", {"a.yaml": "prod"}, None),
        ("prod", {"a.yaml": "dev"}, "ConfigMap airflow-extras does not exist in namespace prod"),
        ("prod", {"a.yaml": "prod", "b.yaml": "dev"}, None),
        ("prod", {"a.yaml": None, "b.yaml": "prod"}, TWICE.format("prod/", "")),
    ],
)
def test_resources_count_where_kubectl_apply_would_put_them(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    stack_namespace: str | None,
    resources: dict[str, str | None],
    error: str | None,
) -> None:
    stack = _stack_in(tmp_path, stack_namespace)
    folder = _resources_in(tmp_path / "resources", resources)
    code = main(["render", "-f", str(stack), "--resources", str(folder)])
    out, err = capsys.readouterr()
    if error is None:
        assert (code, err) == (0, "")
        assert yaml.safe_load(out)["stackName"] == default_stack_name(
            stack_namespace or "default", "airflow-extras"
        )
    else:
        assert (code, out) == (2, "")
        assert error in err


FROM_GIT = Path(__file__).resolve().parents[2] / "examples" / "airflow-from-git"


def test_the_airflow_from_git_example_shows_users_dags_and_outputs_without_a_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["render", "-f", str(FROM_GIT / "turbine-stack.yaml"), "--resources", str(FROM_GIT)])
    out = capsys.readouterr().out
    assert code == 0
    secret = yaml.safe_load((FROM_GIT / "resources.yaml").read_text())
    passwords = list(secret["stringData"].values())
    assert [password for password in passwords if password in out] == []
    rendered = yaml.safe_load(out)
    users = rendered["airflowUsers"]["users"]
    assert [(u["username"], u["role"], u["password"]) for u in users] == [
        ("ada", "Admin", "from key ada of Secret airflow-users"),
        ("grace", "Viewer", "from key grace of Secret airflow-users"),
    ]
    [folder, git] = rendered["dagBundles"]
    assert folder["name"] == "dags-folder"
    assert git["kwargs"]["repo_url"] == "https://github.com/example-org/airflow-dags.git"
    assert rendered["parameters"]["DagBundle"]
    assert rendered["outputsConfigMap"] == "airflow-outputs"


BASIC = Path(__file__).resolve().parents[2] / "examples" / "turbine-stack.yaml"


def _render_manifest(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, list[str]]:
    code = main(["render", "-f", str(path)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err.splitlines()


def test_unknown_fields_are_refused_as_the_api_server_refuses_them_each_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = yaml.safe_load(BASIC.read_text())
    manifest["spec"]["wrkers"] = manifest["spec"].pop("workers")
    manifest["spec"]["scheduler"]["instanceTyp"] = "t3.large"
    manifest["stauts"] = {}
    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    code, out, err = _render_manifest(capsys, path)
    assert (code, out) == (2, "")
    assert err == [
        f"{path}: spec.scheduler.instanceTyp: unknown field",
        f"{path}: spec.wrkers: unknown field",
        f"{path}: stauts: unknown field",
    ]


def test_every_invalid_value_is_listed_at_once_each_naming_its_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = yaml.safe_load(BASIC.read_text())
    manifest["spec"]["workers"]["maxSize"] = "six"
    manifest["spec"]["webserver"]["port"] = "http"
    path = tmp_path / "invalid.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    code, out, err = _render_manifest(capsys, path)
    assert (code, out) == (2, "")
    assert len(err) == 2, err
    assert any(line.startswith(f"{path}: spec.workers.maxSize: ") for line in err), err
    assert any(line.startswith(f"{path}: spec.webserver.port: ") for line in err), err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "No such file or directory"),
        ("spec: [unclosed\n", "not valid YAML: "),
        ("kind: ConfigMap\n", "not a TurbineStack manifest"),
    ],
)
def test_user_errors_exit_2_with_one_line_and_no_traceback(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "stack.yaml"
    if content is not None:
        path.write_text(content)
    done = subprocess.run(
        [sys.executable, "-m", "turbine_operator.cli", "render", "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"{path}: {expected}"), line


def _entries_unnamed(field: str) -> str:
    # The API server names a list entry by its index, render by its key where it has one.
    return re.sub(r"\[[^]]*\]", "[]", field)


@pytest.mark.parametrize(
    ("field", "patch"), REJECTED_BY_THE_SERVER, ids=[f for f, _ in REJECTED_BY_THE_SERVER]
)
def test_render_refuses_every_spec_the_api_server_refuses_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, patch: dict[str, Any]
) -> None:
    """The specs tests/integration/test_invalid_specs.py shows the real API server refusing."""
    manifest = yaml.safe_load(BASIC.read_text())

    def merge(into: dict[str, Any], change: dict[str, Any]) -> None:
        for key, value in change.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    merge(manifest["spec"], copy.deepcopy(patch))
    path = tmp_path / "refused.yaml"
    path.write_text(yaml.safe_dump(manifest, sort_keys=False))
    code, out, err = _render_manifest(capsys, path)
    assert (code, out) == (2, "")
    named = [_entries_unnamed(line.removeprefix(f"{path}: ").split(": ", 1)[0]) for line in err]
    expected = _entries_unnamed(field)
    assert any(one.startswith(expected) or expected.startswith(one) for one in named), err


TENANTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: turbine-tenants, namespace: turbine-system}
data:
  tenants.yaml: |
    tenants:
      - name: data-team
        namespaces: [default]
        regions: [%s]
        stackNamePrefix: data-team-
"""


def _render_with_tenants(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tenants: str
) -> tuple[int, str, str]:
    path = tmp_path / "tenants.yaml"
    path.write_text(tenants)
    return render(capsys, "--resources", str(EXAMPLE), "--tenants", str(path))


def test_with_the_tenants_config_map_the_default_stack_name_carries_the_tenants_prefix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """As the operator names it (reconcile.py _default_named); without --tenants, no prefix."""
    code, out, _ = _render_with_tenants(capsys, tmp_path, TENANTS % "us-east-1")

    assert code == 0
    assert yaml.safe_load(out)["stackName"] == default_stack_name("default", "airflow-extras", "data-team-")


def test_a_spec_outside_its_tenants_grant_is_refused_naming_the_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = _render_with_tenants(capsys, tmp_path, TENANTS % "eu-west-1")

    assert code == 2
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"{EXAMPLE / 'turbine-stack.yaml'}: spec.region: "), line
    assert "tenant data-team" in line


@pytest.mark.parametrize(
    ("tenants", "expected"),
    [
        ("kind: ConfigMap\ndata: {}\n", "not a ConfigMap with a data.tenants.yaml key"),
        ("kind: ConfigMap\ndata:\n  tenants.yaml: 'tenants: [{name: x}]'\n", "ConfigMap tenants.yaml: "),
        ("kind: [\n", "not valid YAML"),
    ],
    ids=["no-grants", "invalid-grants", "invalid-yaml"],
)
def test_an_unreadable_tenants_config_map_is_one_line_naming_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tenants: str, expected: str
) -> None:
    code, out, err = _render_with_tenants(capsys, tmp_path, tenants)

    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"{tmp_path / 'tenants.yaml'}: {expected}"), line
