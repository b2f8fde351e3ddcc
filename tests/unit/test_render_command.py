"""`turbine-operator render`: offline, deterministic, Secret values masked, errors that name the entry."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from turbine_operator.cli import main

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


def _resources_in(folder: Path, namespaces: dict[str, str | None]) -> Path:
    """Copies the example's resources into `folder`, one file per namespace given."""
    documents = list(yaml.safe_load_all((EXAMPLE / "resources.yaml").read_text()))
    for file_name, namespace in namespaces.items():
        placed = [
            {**doc, "metadata": {**doc["metadata"], **({"namespace": namespace} if namespace else {})}}
            for doc in documents
        ]
        (folder / file_name).write_text(yaml.safe_dump_all(placed))
    return folder


@pytest.mark.parametrize(
    ("namespaces", "found"),
    [
        ({"resources.yaml": None}, True),
        ({"resources.yaml": "default"}, True),
        ({"resources.yaml": "elsewhere"}, False),
        ({"here.yaml": "default", "there.yaml": "elsewhere"}, True),
    ],
)
def test_resources_count_only_in_the_stack_namespace_or_without_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, namespaces: dict[str, str | None], found: bool
) -> None:
    code, _, err = render(capsys, "--resources", str(_resources_in(tmp_path, namespaces)))
    if found:
        assert (code, err) == (0, "")
    else:
        assert code == 2
        assert "ConfigMap airflow-extras" in err


def test_an_object_defined_twice_is_refused_naming_both_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = _resources_in(tmp_path, {"a.yaml": "default", "b.yaml": "default"})
    code, out, err = render(capsys, "--resources", str(folder))
    assert (code, out) == (2, "")
    assert "b.yaml: ConfigMap default/airflow-extras is also defined in a.yaml" in err
