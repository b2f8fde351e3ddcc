"""The alerts, unit-tested by Prometheus' own `promtool test rules` (tests/deploy/alert_rules_test.yaml), each
with series that fire it and series or moments that must not, and each with a runbook section."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from turbine_dev.k8s.binaries import ensure_promtool

from .support import CHART, REPO_ROOT

RULES = CHART / "rules" / "turbine-operator.rules.yaml"
TESTS = Path(__file__).with_name("alert_rules_test.yaml")
RUNBOOKS = REPO_ROOT / "docs" / "runbooks.md"
RUNBOOK_URL = "https://github.com/turbine-dev/turbine-operator/blob/main/docs/runbooks.md#"


def alerts() -> list[dict[str, object]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def test_promtool_passes_the_alert_unit_tests() -> None:
    done = subprocess.run(
        [str(ensure_promtool()), "test", "rules", TESTS.name],
        cwd=TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    firing: set[str] = set()
    silent: set[str] = set()
    for case in yaml.safe_load(TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {str(alert["alert"]) for alert in alerts()}
    assert names - firing == set(), "alerts no test fires"
    assert names - silent == set(), "alerts no test shows silent"


def test_every_alert_links_its_runbook_section() -> None:
    sections = {
        re.sub(r"[^a-z0-9-]", "", heading.strip().lower().replace(" ", "-"))
        for heading in re.findall(r"^## (.+)$", RUNBOOKS.read_text(), re.MULTILINE)
    }
    for alert in alerts():
        annotations = alert["annotations"]
        assert isinstance(annotations, dict)
        url = str(annotations.get("runbook_url", ""))
        assert url == RUNBOOK_URL + str(alert["alert"]).lower(), alert["alert"]
        assert url.removeprefix(RUNBOOK_URL) in sections, f"docs/runbooks.md has no section {alert['alert']}"
