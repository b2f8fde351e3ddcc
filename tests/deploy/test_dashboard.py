"""The Grafana dashboard (charts/turbine-operator/dashboards/turbine-operator.json): well formed, every query
is valid PromQL (promtool parses it), filtered by the `cluster` variable and by whose series it reads (a
TurbineStack's or the operator pods'), and every metric it queries is one the operator exports (checked
against its registry, and against a real scrape of its /metrics while it serves a TurbineStack) or one of the
standard series of Prometheus, the kubelet's cAdvisor and kube-state-metrics."""

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
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.aws.metric_time import DeployedLoadFunction
from turbine_dev.k8s.binaries import ensure_promtool
from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi, wait_for
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.probes import turbine_stack
from turbine_dev.runs.processes import free_port
from turbine_operator.adapters.metrics import STACKS

from .support import CHART

DASHBOARD = CHART / "dashboards" / "turbine-operator.json"
RULES = CHART / "rules" / "turbine-operator.rules.yaml"
# What Grafana would send for its own variables and the dashboard's (an "All" of a multi-value variable is a
# regex alternation).
GRAFANA_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "cluster": ".*", "namespace": ".*"}
GRAFANA_VARIABLES |= {"stack": ".*", "operator_namespace": "(turbine-system)", "operator_pod": "(a|b)"}
GRAFANA_VARIABLES |= {"job": "(turbine-operator-metrics)"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right"}
PROMQL_WORDS |= {"offset", "bool", "inf", "nan"}
GROUPING = re.compile(r"(?:by|without|on|ignoring|group_left|group_right)\s*\(")
MATCHER = re.compile(r'\s*,?\s*([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')
# Series Prometheus itself makes for each target, not the operator.
PROMETHEUS_SERIES = {"up"}
# The pod panels' series, from whoever monitors a Kubernetes cluster (kube-prometheus-stack ships all three):
# Prometheus' own `up`, cAdvisor's (scraped from the kubelet) and kube-state-metrics'.
STANDARD_SERIES = PROMETHEUS_SERIES | {"kube_pod_container_status_restarts_total"}
STANDARD_SERIES |= {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes"}
CLUSTER = ("cluster", "=~", "$cluster")
# A TurbineStack's series carry its own namespace and name (honorLabels); the operator's process-wide series
# and the standard ones carry the operator pod's namespace and pod, which Prometheus adds as target labels.
OF_A_STACK = {("namespace", "=~", "$namespace"), ("name", "=~", "$stack")}
OF_THE_OPERATOR = {("namespace", "=~", "$operator_namespace"), ("pod", "=~", "$operator_pod")}
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


Matcher = tuple[str, str, str]


def selectors(expr: str) -> list[tuple[str, set[Matcher]]]:
    """Each series selector of a PromQL expression (or of a Grafana label_values() query): its metric name and
    its label matchers as (label, operator, value)."""
    label_values = re.fullmatch(r"label_values\((.*),\s*\w+\s*\)", expr)
    if label_values:
        expr = label_values.group(1)
    found: list[tuple[str, set[Matcher]]] = []
    position = 0
    while position < len(expr):
        rest = expr[position:]
        # The scan moves word by word, so a keyword here starts a word.
        if GROUPING.match(rest):  # by (...), on (...): label names, not metrics
            position = expr.index(")", position) + 1
        elif rest[0] == '"':
            position += len(re.match(r'"(?:[^"\\]|\\.)*"', rest).group(0))  # type: ignore[union-attr]
        elif rest[0] == "[":  # a range or a subquery's window
            position = expr.index("]", position) + 1
        elif number := re.match(r"[0-9.][\w.]*", rest):  # 0.95, 5m
            position += len(number.group(0))
        elif word := re.match(r"[a-zA-Z_:][\w:]*", rest):
            position += len(word.group(0))
            following = expr[position:].lstrip()
            if following.startswith("(") or word.group(0).lower() in PROMQL_WORDS:
                continue  # a function or an operator
            if re.match(r"(?:by|without)\s*\(", following):
                continue  # an aggregation: sum by (...) (...)
            matchers: set[Matcher] = set()
            if following.startswith("{"):
                position = expr.index("{", position) + 1
                while matcher := MATCHER.match(expr, position):
                    matchers.add(matcher.groups())  # type: ignore[arg-type]
                    position = matcher.end()
                closing = re.compile(r"\s*,?\s*}").match(expr, position)
                assert closing, f"unparsed label matchers at {expr[position:]!r} in {expr!r}"
                position = closing.end()
            found.append((word.group(0), matchers))
        else:
            position += 1
    return found


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression (or a Grafana label_values() query) reads."""
    return {name for name, _ in selectors(expr)}


def test_metric_names_are_found_in_promql() -> None:
    expr = 'sum by (service) (rate(a_total{x="b(c)"}[$__rate_interval])) / on (s) group_left b_total > 0.5'
    assert metric_names(expr) == {"a_total", "b_total"}
    assert metric_names("histogram_quantile(0.95, sum by (le) (rate(h_bucket[5m])))") == {"h_bucket"}
    assert metric_names('label_values(g{namespace=~"$namespace"}, name)') == {"g"}
    assert metric_names("count(g == 0 unless on (a) s == 1) or vector(0)") == {"g", "s"}
    assert selectors('rate(a{x=~"$x", y!="}"}[5m]) / on (x) b') == [
        ("a", {("x", "=~", "$x"), ("y", "!=", "}")}),
        ("b", set()),
    ]


def registry_names(registry: CollectorRegistry) -> set[str]:
    declared, _ = exported_names(generate_latest(registry).decode())
    return {name for name in declared if name.startswith("turbine_")}


def operator_metrics() -> tuple[set[str], set[str]]:
    """(every turbine_* series name the operator declares, those of them that are per TurbineStack)."""
    per_stack = CollectorRegistry(auto_describe=True)
    per_stack.register(STACKS)
    return registry_names(REGISTRY), registry_names(per_stack)


def panel_selectors(board: dict[str, Any]) -> Iterator[tuple[str, str, set[Matcher]]]:
    """(panel title, metric, matchers) of every selector in every panel's queries."""
    for panel in panels(board):
        for target in panel.get("targets", []):
            for name, matchers in selectors(target["expr"]):
                yield panel["title"], name, matchers


def test_every_metric_is_the_operators_or_a_standard_series() -> None:
    exported, _ = operator_metrics()
    used = {name for expr in queries(dashboard()) for name in metric_names(expr)}
    assert sorted(used - exported - STANDARD_SERIES) == [], "the dashboard queries metrics no one exports"


def test_every_metric_the_operator_exports_is_on_the_dashboard() -> None:
    exported, _ = operator_metrics()
    used = {name for expr in queries(dashboard()) for name in metric_names(expr)}
    histograms = {name.removesuffix("_bucket") for name in exported if name.endswith("_bucket")}

    def family(name: str) -> str:
        # A histogram is shown by any of its series (quantiles from _bucket, the mean from _sum and _count).
        base = re.sub(r"_(?:bucket|sum|count)$", "", name)
        return base if base in histograms else name

    missing = {family(name) for name in exported} - {family(name) for name in used}
    assert sorted(missing) == [], "exported but not shown"


def test_every_query_is_filtered_by_the_cluster_variable() -> None:
    """Every selector in every panel and every variable but `cluster` itself: with several clusters in one
    Prometheus (Thanos, Mimir, a federation) a query without it would add up the series of all of them."""
    board = dashboard()
    cluster_variable = next(var for var in board["templating"]["list"] if var["name"] == "cluster")
    assert cluster_variable["type"] == "query"
    # All as ".*" also matches series with no cluster label, a Prometheus that serves one cluster.
    assert cluster_variable["includeAll"]
    assert cluster_variable["allValue"] == ".*"
    exprs = [expr for expr in queries(board) if expr != cluster_variable["query"]["query"]]
    assert len(exprs) == len(queries(board)) - 1
    unfiltered = [
        f"{name} in {expr}" for expr in exprs for name, matchers in selectors(expr) if CLUSTER not in matchers
    ]
    assert unfiltered == []


def test_each_query_reads_a_stacks_series_or_the_operator_pods() -> None:
    """Per-TurbineStack series by the stack variables; the operator's process-wide series and the pods' CPU,
    memory, restarts and up by the operator's namespace and pod (the kubelet's series only of its container),
    so that the pod panels never show another workload's pods."""
    exported, per_stack = operator_metrics()
    wrong = []
    for title, name, matchers in panel_selectors(dashboard()):
        wanted = OF_A_STACK if name in per_stack else OF_THE_OPERATOR
        if name.startswith(("container_", "kube_pod_container_")):
            wanted = wanted | {("container", "=", "operator")}
        if name == "up":
            wanted = wanted | {("job", "=~", "$job")}
        if not wanted <= matchers:
            wrong.append(f"{title}: {name} lacks {sorted(wanted - matchers)}")
    assert wrong == []
    assert per_stack, "the registry has per-stack series"
    assert exported - per_stack, "the registry has the operator's own series"


def test_the_dashboard_shows_the_operator_pods_update_slots_drift_backlog_and_state_timelines() -> None:
    board = dashboard()
    reads = {name: set() for name in STANDARD_SERIES}  # type: dict[str, set[str]]
    for panel in panels(board):
        for target in panel.get("targets", []):
            for name in metric_names(target["expr"]):
                reads.setdefault(name, set()).add(panel["type"])
    # The pods: CPU, memory, restarts, up.
    for name in STANDARD_SERIES:
        assert reads[name], f"no panel reads {name}"
    for name in ("turbine_stack_updates_in_progress", "turbine_stack_updates_waiting"):
        assert reads.get(name), f"no panel shows the update slots ({name})"
    for name in ("turbine_drift_detections_waiting", "turbine_drift_detection_backlog_seconds"):
        assert reads.get(name), f"no panel shows the drift backlog ({name})"
    for name in ("turbine_stack_ready", "turbine_stack_stalled"):
        assert "state-timeline" in reads.get(name, set()), f"{name} is not shown as a state timeline"
    assert "state-timeline" in reads.get("turbine_operator_leading", set()), (
        "a standby is not told from a leader"
    )
    for panel in panels(board):
        if panel["type"] == "state-timeline":
            mappings = panel["fieldConfig"]["defaults"]["mappings"]
            mapped = {value for mapping in mappings for value in mapping["options"]}
            # Up and leading adds the two: 0 down, 1 a standby, 2 leading.
            states = (
                {"0", "1", "2"} if "turbine_operator_leading" in panel["targets"][0]["expr"] else {"0", "1"}
            )
            assert mapped == states, f"{panel['title']} names its states"


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
    for expr in queries(board):
        used = set(re.findall(r"\$(\w+)", expr)) - {"__rate_interval", "__interval"}
        assert used <= set(variables), f"{expr} uses variables the dashboard lacks: {used - set(variables)}"
    # The operator's scrape job is the one serving a gauge only the operator exports; its pods are that job's
    # targets, so that a pod which never answered (a crash loop, a waiting standby) is listed too.
    job = 'label_values(turbine_stack_updates_in_progress{cluster=~"$cluster"}, job)'
    assert variables["job"]["query"]["query"] == job
    for name in ("operator_namespace", "operator_pod"):
        query = variables[name]["query"]["query"]
        assert query.startswith('label_values(up{cluster=~"$cluster", job=~"$job"'), name
    for name in ("operator_namespace", "operator_pod", "job"):
        assert variables[name].get("allValue") is None, f"All of {name} must list the operator's, not '.*'"


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (with Grafana's variables filled in)."""
    rules = []
    for number, query in enumerate(queries(dashboard())):
        # label_values(selector, label) is Grafana's, not PromQL; its selector is.
        label_values = re.fullmatch(r"label_values\((.*),\s*\w+\s*\)", query)
        expr = label_values.group(1) if label_values else query
        filled = re.sub(r"\$(\w+)", lambda variable: GRAFANA_VARIABLES[variable.group(1)], expr)
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

    used = {name for expr in queries(dashboard()) for name in metric_names(expr)} - STANDARD_SERIES
    assert used, "the dashboard queries nothing"
    assert sorted(used - declared) == [], "the dashboard queries metrics the operator does not export"
    assert sorted(used - sampled - EVENT_ONLY) == [], "metrics with no sample while a stack is served"

    alert_exprs = [
        rule["expr"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]
    in_alerts = {name for expr in alert_exprs for name in metric_names(expr)}
    assert sorted(in_alerts - declared - PROMETHEUS_SERIES) == [], "the alerts use metrics the operator lacks"
