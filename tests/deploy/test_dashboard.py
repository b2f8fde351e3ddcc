"""The Grafana dashboard (charts/turbine-operator/dashboards/turbine-operator.json): well formed, every query
is valid PromQL (promtool parses it), and every metric it queries is one the operator exports, checked against
a real scrape of the operator's /metrics while it serves a TurbineStack."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.aws.metric_time import DeployedLoadFunction
from turbine_dev.k8s.binaries import ensure_promtool
from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.probes import turbine_stack
from turbine_dev.runs.processes import free_port

from .support import CHART

DASHBOARD = CHART / "dashboards" / "turbine-operator.json"
RULES = CHART / "rules" / "turbine-operator.rules.yaml"
# Grafana's own variables, replaced by what Grafana would send.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$namespace": ".*", "$stack": ".*"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
PROMQL_WORDS |= {"offset", "bool", "inf", "nan"}
# Series Prometheus itself makes for each target, not the operator.
PROMETHEUS_SERIES = {"up"}
# Exported, but only with samples once AWS throttles the operator, which the embedded AWS never does.
EVENT_ONLY = {"turbine_aws_throttled_requests_total"}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(board: dict[str, Any]) -> list[str]:
    found = [target["expr"] for panel in panels(board) for target in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            found.append(variable["query"]["query"])
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana label_values() query) reads."""
    label_values = re.fullmatch(r"label_values\(\s*([a-zA-Z_:][\w:]*)[^,]*,\s*\w+\s*\)", expr)
    if label_values:
        return {label_values.group(1)}
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range selectors
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][\w:]*", text):
        if text[match.end() :].lstrip().startswith("(") or match.group(0).lower() in PROMQL_WORDS:
            continue  # a function or an operator
        names.add(match.group(0))
    return names


def test_metric_names_are_found_in_promql() -> None:
    expr = 'sum by (service) (rate(a_total{x="b(c)"}[$__rate_interval])) / on (s) group_left b_total > 0.5'
    assert metric_names(expr) == {"a_total", "b_total"}
    assert metric_names("histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))") == {"h_bucket"}
    assert metric_names('label_values(g{namespace=~"$namespace"}, name)') == {"g"}
    assert metric_names("count(g == 0 unless on (a) s == 1) or vector(0)") == {"g", "s"}


def test_dashboard_is_well_formed() -> None:
    board = dashboard()
    assert board["uid"] == "turbine-operator"
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    titles = {panel["title"] for panel in panels(board)}
    # What the issue asks the dashboard to show.
    assert {"Ready", "Stalled", "Drifted", "In flight"} <= titles
    assert {"Time since the last drift detection", "Workers in service vs desired", "Cluster load"} <= titles
    assert {"Scaling activity", "Reconciles per second", "Reconcile duration"} <= titles
    assert {"AWS requests per second", "AWS errors", "AWS throttling"} <= titles
    for panel in panels(board):
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        assert panel.get("description"), f"{panel['title']} says what it shows"
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (with Grafana's variables filled in)."""
    rules = []
    for number, expr in enumerate(queries(dashboard())):
        if expr.startswith("label_values("):
            continue  # Grafana's, not PromQL; its metric is checked below
        filled = expr
        for variable, value in GRAFANA_VARIABLES.items():
            filled = filled.replace(variable, value)
        rules.append({"record": f"dashboard:query_{number}", "expr": filled})
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [str(ensure_promtool()), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        return str(reply.read().decode())


def run_load_function(aws: EmbeddedAws, outputs: dict[str, str]) -> None:
    """What the stack's load function does every minute in AWS: the function and environment the stack
    deployed, against its queue and worker group in the embedded AWS (two tasks waiting, so the load and
    the queue are above 0)."""
    for index in range(2):
        aws.client("sqs").send_message(QueueUrl=outputs["QueueURL"], MessageBody=f"task-{index}")
    clients = {name: aws.client(name) for name in ("lambda", "sqs", "autoscaling", "cloudwatch")}
    assert DeployedLoadFunction.of_group(clients, outputs["WorkerAutoScalingGroupName"])()["published"]


def exported_names(exposition: str) -> tuple[set[str], set[str]]:
    """(names the exposition declares, names it has samples for); histograms declare their series."""
    declared: set[str] = set()
    sampled: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            suffixes = ["_bucket", "_sum", "_count"] if kind == "histogram" else [""]
            declared |= {name + suffix for suffix in suffixes}
        elif line and not line.startswith("#"):
            sampled.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return declared | sampled, sampled


@pytest.mark.integration
@pytest.mark.usefixtures("crd_installed")
def test_every_metric_in_the_dashboard_and_the_alerts_is_in_a_real_scrape(
    control_plane: ControlPlane,
    kube: KubeApi,
    namespace: str,
    template_bucket: str,
    aws_environment: EmbeddedAws,
    tmp_path: Path,
) -> None:
    """The operator as its own process (`turbine-operator run`) serving one real Turbine stack (workers,
    drift detection); its /metrics is scraped over HTTP once the stack is Ready, with worker figures, a drift
    check and a cluster load published the way the stack's Lambda does it."""
    port = free_port()
    operator = start_operator_process(
        control_plane, aws_environment, tmp_path / "operator.log", namespaces=[namespace], metrics_port=port
    )
    try:
        manifest = turbine_stack("observed", template_bucket, stackName=f"o{namespace[-6:]}")
        kube.create_stack(namespace, manifest)
        outputs = kube.wait_condition(namespace, "observed", "Ready", timeout=120)["status"]["outputs"]
        run_load_function(aws_environment, outputs)
        wait_for(
            lambda: (
                (status := (kube.get_stack(namespace, "observed") or {}).get("status", {})).get("workers")
                and (status.get("drift") or {}).get("resourceDriftStatus")
            ),
            60,
            "worker figures and a resource drift check",
        )
        exposition = wait_for(
            lambda: (
                text
                if "turbine_cluster_load{" in (text := scrape(port)) and "turbine_queued_tasks{" in text
                else None
            ),
            60,
            "the cluster load and the queued tasks to be read",
        )
        kube.delete_stack(namespace, "observed")
        wait_for(lambda: kube.get_stack(namespace, "observed") is None, 60, "the TurbineStack to go")
    finally:
        operator.stop()
    declared, sampled = exported_names(exposition)

    used = {name for expr in queries(dashboard()) for name in metric_names(expr)}
    assert used, "the dashboard queries nothing"
    assert sorted(used - declared) == [], "the dashboard queries metrics the operator does not export"
    assert sorted(used - sampled - EVENT_ONLY) == [], "metrics with no sample while a stack is served"

    alert_exprs = [
        rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]
    in_alerts = {name for expr in alert_exprs for name in metric_names(expr)}
    assert sorted(in_alerts - declared - PROMETHEUS_SERIES) == [], "the alerts use metrics the operator lacks"
