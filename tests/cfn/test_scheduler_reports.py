"""The scheduler's report scripts (cfn/scripts/turbine-airflow-users.py, turbine-dag-report.py), the parts
that run without Airflow: masking and fitting a report into one SSM parameter. The boot rehearsal runs them
for real."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "cfn" / "scripts"


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name.replace("-", "_"), SCRIPTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_password_of_the_document_is_masked_longest_first() -> None:
    users = script("turbine-airflow-users")
    document = {"users": [{"password": "abc"}, {"password": "abcdef"}, {"password": ""}]}
    assert users.masked("refused abcdef and abc", document) == "refused **** and ****"


@pytest.mark.parametrize("name", ["turbine-airflow-users", "turbine-dag-report"])
def test_a_long_report_is_shortened_to_fit_a_standard_parameter(name: str) -> None:
    module = script(name)
    report: dict[str, Any]
    if name == "turbine-airflow-users":
        report = {"version": "v", "applied": [f"user{i:03}" for i in range(400)], "failed": [], "removed": [],
                  "unmanaged": [f"other{i:03}" for i in range(400)]}  # fmt: skip
    else:
        report = {
            "revision": "r",
            "importErrors": [{"file": f"f{i}.py", "error": "x" * 100} for i in range(200)],
        }
    text = module.fitted(report)
    assert len(text.encode()) <= module.REPORT_LIMIT
    assert json.loads(text)["truncated"] is True


def test_a_short_report_is_whole() -> None:
    dags = script("turbine-dag-report")
    report = {"revision": "r", "importErrors": [{"file": "broken.py", "error": "SyntaxError"}]}
    assert json.loads(dags.fitted(dict(report))) == report


def test_only_a_new_revision_or_new_errors_are_news() -> None:
    dags = script("turbine-dag-report")
    first = {"revision": "a", "refreshed": "1", "importErrors": []}
    assert dags._news(first) == dags._news({**first, "refreshed": "2"})
    assert dags._news(first) != dags._news({**first, "revision": "b"})
    assert dags._news(None) != dags._news(first)


def test_the_exception_line_of_a_traceback_is_kept() -> None:
    dags = script("turbine-dag-report")
    trace = (
        'Traceback (most recent call last):\n  File "broken.py", line 3\nModuleNotFoundError: No module x\n'
    )
    assert dags._last_line(trace) == "ModuleNotFoundError: No module x"
