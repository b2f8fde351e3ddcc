"""The chart values operators of a real cluster set (issue 26): the templated CRD and its lifecycle, an
image digest, securityContext overrides (OpenShift), a PodDisruptionBudget, topology spread and anti-affinity
for the standbys, extra volumes and mounts, the ServiceMonitor's namespace and relabelings, alert labels and
per-alert switches. Each is rendered by the real helm, refused by the schema when mistyped, and sent to the
real local API server in a server-side dry run."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from turbine_dev.k8s.binaries import ensure_promtool
from turbine_dev.k8s.controlplane import ControlPlane, local_control_plane
from turbine_dev.k8s.kube import KubeApi

from .monitoring_crds import install_monitoring_crds
from .support import (
    CHART,
    OPERATOR_NAMESPACE,
    REPO_ROOT,
    Document,
    find,
    helm,
    kubectl,
    one,
    render_chart,
    tool,
)

DIGEST = "sha256:" + "0123456789abcdef" * 4
SELECTOR = {"app.kubernetes.io/name": "turbine-operator", "app.kubernetes.io/instance": "turbine-operator"}
STANDBYS = {"replicas": 2, "leaderElection": {"enabled": True}}
# What values.yaml tells OpenShift users to set: no fixed IDs, so the restricted-v2 SCC assigns the UID.
OPENSHIFT = {
    "podSecurityContext": {"runAsUser": None, "runAsGroup": None, "fsGroup": None},
    "securityContext": {"runAsUser": None},
}
CA_BUNDLE: dict[str, list[dict[str, Any]]] = {
    "extraVolumes": [{"name": "corporate-ca", "configMap": {"name": "corporate-ca"}}],
    "extraVolumeMounts": [{"name": "corporate-ca", "mountPath": "/etc/corporate-ca", "readOnly": True}],
    "extraEnv": [
        {"name": "AWS_CA_BUNDLE", "value": "/etc/corporate-ca/ca.crt"},
        {"name": "REQUESTS_CA_BUNDLE", "value": "/etc/corporate-ca/ca.crt"},
    ],
}
RELABELINGS = [
    {"sourceLabels": ["__meta_kubernetes_pod_node_name"], "targetLabel": "node", "action": "replace"}
]
METRIC_RELABELINGS = [{"sourceLabels": ["__name__"], "regex": "turbine_aws_requests_total", "action": "drop"}]
RULES = CHART / "rules" / "turbine-operator.rules.yaml"


def pod_spec(documents: list[Document]) -> Document:
    spec: Document = one(documents, "Deployment")["spec"]["template"]["spec"]
    return spec


def operator_container(documents: list[Document]) -> Document:
    (container,) = pod_spec(documents)["containers"]
    return dict(container)


def alert_names() -> list[str]:
    return [rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


# --- The CRD ------------------------------------------------------------------------------------------------


def test_crd_is_templated_and_kept_on_uninstall_by_default() -> None:
    crd = one(render_chart(), "CustomResourceDefinition")
    assert crd["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert crd == yaml.safe_load(
        helm("template", "turbine-operator", str(CHART), "--show-only", "templates/crd.yaml").stdout
    )


def test_crds_keep_false_lets_uninstall_delete_it_and_install_false_leaves_it_out() -> None:
    crd = one(render_chart({"crds": {"keep": False}}), "CustomResourceDefinition")
    assert "annotations" not in crd["metadata"]
    assert find(render_chart({"crds": {"install": False}}), "CustomResourceDefinition") == []


# --- Pod and container --------------------------------------------------------------------------------------


def test_image_digest_pins_the_image_and_replaces_the_tag() -> None:
    assert operator_container(render_chart())["image"] == "ghcr.io/turbine-dev/turbine-operator:0.1.0"
    pinned = render_chart({"image": {"tag": "0.1.0", "digest": DIGEST}})
    assert operator_container(pinned)["image"] == f"ghcr.io/turbine-dev/turbine-operator@{DIGEST}"


def test_security_context_overrides_merge_into_the_restricted_defaults() -> None:
    documents = render_chart(
        {"podSecurityContext": {"supplementalGroups": [4000]}, "securityContext": {"runAsGroup": 10001}}
    )
    assert pod_spec(documents)["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "runAsGroup": 10001,
        "fsGroup": 10001,
        "supplementalGroups": [4000],
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = operator_container(documents)["securityContext"]
    assert container["runAsGroup"] == 10001
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}


def test_openshift_override_leaves_the_uid_to_the_platform_and_stays_non_root() -> None:
    documents = render_chart(OPENSHIFT)
    assert pod_spec(documents)["securityContext"] == {
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container = operator_container(documents)["securityContext"]
    assert "runAsUser" not in container
    assert container["runAsNonRoot"] is True
    assert container["allowPrivilegeEscalation"] is False


def test_pod_disruption_budget_covers_the_operator_pods() -> None:
    assert find(render_chart(STANDBYS), "PodDisruptionBudget") == [], "off by default"
    documents = render_chart({**STANDBYS, "podDisruptionBudget": {"enabled": True}})
    budget = one(documents, "PodDisruptionBudget")
    assert budget["metadata"]["namespace"] == OPERATOR_NAMESPACE
    assert budget["spec"] == {"selector": {"matchLabels": SELECTOR}, "minAvailable": 1}
    assert one(documents, "Deployment")["spec"]["selector"]["matchLabels"] == SELECTOR
    percent = render_chart({**STANDBYS, "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"}})
    assert one(percent, "PodDisruptionBudget")["spec"] == {
        "selector": {"matchLabels": SELECTOR},
        "maxUnavailable": "50%",
    }


def test_topology_spread_counts_the_operator_pods_unless_told_otherwise() -> None:
    zones = {
        "maxSkew": 1,
        "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "ScheduleAnyway",
    }
    own = {**zones, "topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"x": "y"}}}
    spec = pod_spec(render_chart({**STANDBYS, "topologySpreadConstraints": [zones, own]}))
    assert spec["topologySpreadConstraints"] == [{**zones, "labelSelector": {"matchLabels": SELECTOR}}, own]
    assert "topologySpreadConstraints" not in pod_spec(render_chart())


def test_anti_affinity_presets_keep_standbys_apart() -> None:
    term = {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": SELECTOR}}
    soft = pod_spec(render_chart({**STANDBYS, "podAntiAffinity": {"mode": "soft"}}))["affinity"]
    assert soft == {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]
        }
    }
    node_affinity = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["ops"]}]}
            ]
        }
    }
    hard = pod_spec(
        render_chart(
            {
                **STANDBYS,
                "affinity": {"nodeAffinity": node_affinity},
                "podAntiAffinity": {"mode": "hard", "topologyKey": "topology.kubernetes.io/zone"},
            }
        )
    )["affinity"]
    assert hard == {
        "nodeAffinity": node_affinity,
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {**term, "topologyKey": "topology.kubernetes.io/zone"}
            ]
        },
    }
    assert "affinity" not in pod_spec(render_chart())


def test_anti_affinity_preset_and_an_own_pod_anti_affinity_are_refused_together() -> None:
    values = {"podAntiAffinity": {"mode": "soft"}, "affinity": {"podAntiAffinity": {}}}
    done = helm("template", "turbine-operator", str(CHART), "--values", "-", stdin=json.dumps(values))
    assert done.returncode != 0
    assert "set one or the other" in done.stderr, done.stderr


def test_extra_volumes_and_mounts_carry_a_ca_bundle() -> None:
    documents = render_chart(CA_BUNDLE)
    assert pod_spec(documents)["volumes"] == [
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
        *CA_BUNDLE["extraVolumes"],
    ]
    container = operator_container(documents)
    assert container["volumeMounts"] == [
        {"name": "tmp", "mountPath": "/tmp"},
        *CA_BUNDLE["extraVolumeMounts"],
    ]
    assert CA_BUNDLE["extraEnv"][0] in container["env"]
    assert CA_BUNDLE["extraEnv"][1] in container["env"]


# --- Monitoring -------------------------------------------------------------------------------------------


def test_service_monitor_namespace_and_relabelings() -> None:
    documents = render_chart(
        {
            "metrics": {
                "serviceMonitor": {
                    "enabled": True,
                    "namespace": "monitoring",
                    "relabelings": RELABELINGS,
                    "metricRelabelings": METRIC_RELABELINGS,
                }
            }
        }
    )
    monitor = one(documents, "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == "monitoring"
    # Still scrapes the Service in the release namespace.
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [OPERATOR_NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["relabelings"] == RELABELINGS
    assert endpoint["metricRelabelings"] == METRIC_RELABELINGS
    default = one(render_chart({"metrics": {"serviceMonitor": {"enabled": True}}}), "ServiceMonitor")
    assert default["metadata"]["namespace"] == OPERATOR_NAMESPACE
    assert "relabelings" not in default["spec"]["endpoints"][0]


def rendered_rules(prometheus_rule: dict[str, Any]) -> dict[str, Any]:
    documents = render_chart({"metrics": {"prometheusRule": {"enabled": True, **prometheus_rule}}})
    spec: dict[str, Any] = one(documents, "PrometheusRule")["spec"]
    return spec


def test_alert_labels_join_every_alert_and_keep_its_severity() -> None:
    spec = rendered_rules({"alertLabels": {"team": "platform"}})
    original = yaml.safe_load(RULES.read_text())
    for group, source in zip(spec["groups"], original["groups"], strict=True):
        for rule, before in zip(group["rules"], source["rules"], strict=True):
            assert rule["labels"] == {**before["labels"], "team": "platform"}
            assert {k: v for k, v in rule.items() if k != "labels"} == {
                k: v for k, v in before.items() if k != "labels"
            }


def test_disabled_alerts_are_left_out_with_all_their_rules() -> None:
    spec = rendered_rules({"disabled": {"TurbineOperatorDown": True, "TurbineStackDrifted": False}})
    names = [rule["alert"] for group in spec["groups"] for rule in group["rules"]]
    assert names == [name for name in alert_names() if name != "TurbineOperatorDown"]
    # A group whose every alert is off is left out (Prometheus Operator refuses a group without rules).
    operator_alerts = {"TurbineOperatorDown", "TurbineOperatorReconcileErrors", "TurbineOperatorAwsThrottled"}
    spec = rendered_rules({"disabled": dict.fromkeys(operator_alerts, True)})
    assert [group["name"] for group in spec["groups"]] == ["turbine-stacks"]


def test_rendered_rules_with_labels_and_switches_pass_promtool(tmp_path: Path) -> None:
    spec = rendered_rules({"alertLabels": {"team": "platform"}, "disabled": {"TurbineStackDrifted": True}})
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(spec))
    done = subprocess.run(
        [str(ensure_promtool()), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_schema_knows_every_alert_by_name() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    disabled = schema["properties"]["metrics"]["properties"]["prometheusRule"]["properties"]["disabled"]
    assert sorted(disabled["properties"]) == sorted(set(alert_names()))


# --- Values the schema refuses ------------------------------------------------------------------------------

REFUSED = [
    pytest.param({"crds": {"install": "yes"}}, "/crds/install", id="crds-install-as-string"),
    pytest.param({"crds": {"keep": 1}}, "/crds/keep", id="crds-keep-as-number"),
    pytest.param({"image": {"digest": "latest"}}, "/image/digest", id="digest-not-a-digest"),
    pytest.param({"image": {"digest": "sha256:abc"}}, "/image/digest", id="digest-too-short"),
    pytest.param(
        {"podSecurityContext": {"runAsUser": "10001"}}, "/podSecurityContext/runAsUser", id="uid-string"
    ),
    pytest.param({"podSecurityContext": {"runAsUsr": 1}}, "runAsUsr", id="pod-security-misspelt"),
    pytest.param(
        {"securityContext": {"privileged": "no"}}, "/securityContext/privileged", id="privileged-string"
    ),
    pytest.param(
        {"securityContext": {"capabilities": ["ALL"]}}, "/securityContext/capabilities", id="caps-list"
    ),
    pytest.param({"podDisruptionBudget": {"enabled": True}}, "/replicas", id="budget-with-one-replica"),
    pytest.param(
        {"podDisruptionBudget": {"minAvailable": "half"}},
        "/podDisruptionBudget/minAvailable",
        id="budget-half",
    ),
    pytest.param(
        {"podDisruptionBudget": {"maxUnavailable": -1}},
        "/podDisruptionBudget/maxUnavailable",
        id="budget-negative",
    ),
    pytest.param(
        {"podDisruptionBudget": {"enabled": "true"}}, "/podDisruptionBudget/enabled", id="budget-string"
    ),
    pytest.param(
        {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "Maybe"}]},
        "/topologySpreadConstraints/0/whenUnsatisfiable",
        id="spread-when",
    ),
    pytest.param(
        {"topologySpreadConstraints": [{"topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"}]},
        "/topologySpreadConstraints/0",
        id="spread-without-skew",
    ),
    pytest.param(
        {"topologySpreadConstraints": {"maxSkew": 1}}, "/topologySpreadConstraints", id="spread-object"
    ),
    pytest.param({"podAntiAffinity": {"mode": "always"}}, "/podAntiAffinity/mode", id="anti-affinity-mode"),
    pytest.param({"podAntiAffinity": "soft"}, "/podAntiAffinity", id="anti-affinity-string"),
    pytest.param({"extraVolumes": {"name": "ca"}}, "/extraVolumes", id="volumes-object"),
    pytest.param({"extraVolumes": [{"configMap": {"name": "ca"}}]}, "/extraVolumes/0", id="volume-unnamed"),
    pytest.param(
        {"extraVolumes": [{"name": "tmp", "emptyDir": {}}]}, "/extraVolumes/0/name", id="volume-tmp"
    ),
    pytest.param({"extraVolumeMounts": [{"name": "ca"}]}, "/extraVolumeMounts/0", id="mount-without-path"),
    pytest.param(
        {"extraVolumeMounts": [{"name": "ca", "mountPath": "/tmp"}]},
        "/extraVolumeMounts/0/mountPath",
        id="mount-tmp",
    ),
    pytest.param(
        {"extraVolumeMounts": [{"name": "ca", "mountPath": "/ca", "readOnly": "yes"}]},
        "/extraVolumeMounts/0/readOnly",
        id="mount-read-only-string",
    ),
    pytest.param(
        {"metrics": {"serviceMonitor": {"namespace": "Monitoring"}}},
        "/metrics/serviceMonitor/namespace",
        id="monitor-namespace",
    ),
    pytest.param(
        {"metrics": {"serviceMonitor": {"relabelings": [{"action": "rename"}]}}},
        "/metrics/serviceMonitor/relabelings/0/action",
        id="relabel-action",
    ),
    pytest.param(
        {"metrics": {"serviceMonitor": {"metricRelabelings": {"action": "drop"}}}},
        "/metrics/serviceMonitor/metricRelabelings",
        id="metric-relabelings-object",
    ),
    pytest.param(
        {"metrics": {"serviceMonitor": {"relabelings": [{"source_labels": ["pod"]}]}}},
        "source_labels",
        id="relabel-prometheus-spelling",
    ),
    pytest.param(
        {"metrics": {"prometheusRule": {"alertLabels": {"severity": "info"}}}},
        "/metrics/prometheusRule/alertLabels/severity",
        id="alert-label-severity",
    ),
    pytest.param(
        {"metrics": {"prometheusRule": {"alertLabels": {"team": 7}}}},
        "/metrics/prometheusRule/alertLabels/team",
        id="alert-label-number",
    ),
    pytest.param(
        {"metrics": {"prometheusRule": {"disabled": {"TurbineOperatorUp": True}}}},
        "TurbineOperatorUp",
        id="disabled-unknown-alert",
    ),
    pytest.param(
        {"metrics": {"prometheusRule": {"disabled": {"TurbineOperatorDown": "yes"}}}},
        "/metrics/prometheusRule/disabled/TurbineOperatorDown",
        id="disabled-string",
    ),
    pytest.param(
        {"metrics": {"prometheusRule": {"disabled": ["TurbineOperatorDown"]}}},
        "/metrics/prometheusRule/disabled",
        id="disabled-list",
    ),
]


@pytest.mark.parametrize(("values", "field"), REFUSED)
def test_schema_refuses_mistyped_values_naming_the_field(values: dict[str, Any], field: str) -> None:
    done = helm("template", "turbine-operator", str(CHART), "--values", "-", stdin=json.dumps(values))
    assert done.returncode != 0, f"accepted {values}"
    assert "values don't meet the specifications of the schema" in done.stderr, done.stderr
    assert field in done.stderr, done.stderr


# --- Against the real API server ----------------------------------------------------------------------------

EVERYTHING = {
    **STANDBYS,
    **CA_BUNDLE,
    **OPENSHIFT,
    "image": {"digest": DIGEST},
    "podDisruptionBudget": {"enabled": True},
    "podAntiAffinity": {"mode": "hard"},
    "topologySpreadConstraints": [
        {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}
    ],
    "metrics": {
        "serviceMonitor": {
            "enabled": True,
            "namespace": "monitoring",
            "relabelings": RELABELINGS,
            "metricRelabelings": METRIC_RELABELINGS,
        },
        "prometheusRule": {
            "enabled": True,
            "alertLabels": {"team": "platform"},
            "disabled": {"TurbineStackDrifted": True},
        },
    },
}
OTHERWISE = {
    **STANDBYS,
    "podSecurityContext": {"supplementalGroups": [4000], "fsGroupChangePolicy": "OnRootMismatch"},
    "securityContext": {"runAsGroup": 10001},
    "podDisruptionBudget": {"enabled": True, "maxUnavailable": "50%"},
    "podAntiAffinity": {"mode": "soft"},
    "topologySpreadConstraints": [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": SELECTOR},
            "matchLabelKeys": ["pod-template-hash"],
        }
    ],
    "crds": {"keep": False},
}


def test_helm_lint_passes_with_the_new_values(tmp_path: Path) -> None:
    for number, values in enumerate((EVERYTHING, OTHERWISE)):
        path = tmp_path / f"values-{number}.json"
        path.write_text(json.dumps(values))
        done = helm("lint", "--strict", str(CHART), "--values", str(path))
        assert done.returncode == 0, done.stdout + done.stderr


def _ensure_namespace(kube: KubeApi, name: str) -> None:
    try:
        kube.create_namespace(name)
    except ApiException as error:
        if error.status != 409:
            raise


def _server_dry_run(control_plane: ControlPlane, documents: list[Document]) -> str:
    """`kubectl apply --dry-run=server` (kubectl's strict field validation: unknown fields are refused)."""
    stream = yaml.safe_dump_all(documents, sort_keys=False)
    argv = [tool("kubectl"), f"--kubeconfig={control_plane.kubeconfig}"]
    done = subprocess.run(
        [*argv, "apply", "--dry-run=server", "-f", "-"],
        input=stream,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return done.stdout + done.stderr if done.returncode else done.stdout


@pytest.mark.integration
@pytest.mark.parametrize(("values"), [EVERYTHING, OTHERWISE], ids=["everything", "otherwise"])
def test_new_values_pass_a_server_side_dry_run(
    control_plane: ControlPlane, kube: KubeApi, values: dict[str, Any]
) -> None:
    for name in (OPERATOR_NAMESPACE, "monitoring"):
        _ensure_namespace(kube, name)
    install_monitoring_crds(kube)
    documents = render_chart(values)
    output = kubectl(
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        kubeconfig=control_plane.kubeconfig,
        stdin=yaml.safe_dump_all(documents, sort_keys=False),
    )
    accepted = set(output.splitlines())
    assert len(accepted) == len(documents), output
    assert "poddisruptionbudget.policy/turbine-operator created (server dry run)" in accepted
    assert "deployment.apps/turbine-operator created (server dry run)" in accepted
    if values is EVERYTHING:
        assert "servicemonitor.monitoring.coreos.com/turbine-operator created (server dry run)" in accepted


@pytest.mark.integration
@pytest.mark.parametrize(
    ("values", "refusal"),
    [
        pytest.param(
            {"extraVolumeMounts": CA_BUNDLE["extraVolumeMounts"]},
            "volumeMounts[1].name: Not found",
            id="mount",
        ),
        pytest.param(
            {**STANDBYS, "podAntiAffinity": {"mode": "hard", "topologyKey": "not a label"}},
            "topologyKey",
            id="topology-key",
        ),
    ],
)
def test_the_dry_run_refuses_what_only_the_api_server_checks(
    control_plane: ControlPlane, kube: KubeApi, values: dict[str, Any], refusal: str
) -> None:
    """The schema cannot see that a mount names a volume that is not there, or that a topology key is not a
    label name; the API server does, so the dry runs above prove something."""
    _ensure_namespace(kube, OPERATOR_NAMESPACE)
    documents = [doc for doc in render_chart(values) if doc["kind"] == "Deployment"]
    output = _server_dry_run(control_plane, documents)
    assert "created (server dry run)" not in output, output
    assert refusal in output, output


# --- The CRD's lifecycle under helm install, upgrade and uninstall ------------------------------------------

CRD = "turbinestacks.turbine.dev"
RELEASE = ["turbine-operator", "--namespace", OPERATOR_NAMESPACE]


@pytest.fixture(scope="module")
def private_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane of its own: these tests install, change and leave behind the TurbineStack CRD."""
    with local_control_plane(tmp_path_factory.mktemp("crd-lifecycle-plane")) as plane:
        yield plane


def _helm_ok(*args: str, kubeconfig: Path) -> str:
    done = helm(*args, f"--kubeconfig={kubeconfig}")
    assert done.returncode == 0, f"helm {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _printer_columns(kube: KubeApi) -> list[str]:
    crd = kube.extensions.read_custom_resource_definition(CRD)
    return [column.name for column in crd.spec.versions[0].additional_printer_columns or []]


def _annotations(kube: KubeApi) -> dict[str, str]:
    return dict(kube.extensions.read_custom_resource_definition(CRD).metadata.annotations or {})


def _previous_chart(tmp_path: Path) -> tuple[Path, list[str]]:
    """This chart as a previous version: its CRD has one printer column less. Returns it and all columns."""
    crd_file = CHART / "files" / "crds" / f"{CRD}.yaml"
    current = yaml.safe_load(crd_file.read_text())
    columns = [column["name"] for column in current["spec"]["versions"][0]["additionalPrinterColumns"]]
    current["spec"]["versions"][0]["additionalPrinterColumns"].pop()
    previous = tmp_path / "turbine-operator"
    shutil.copytree(CHART, previous)
    (previous / "files" / "crds" / crd_file.name).write_text(yaml.safe_dump(current))
    return previous, columns


@pytest.mark.integration
def test_upgrade_carries_the_crd_and_uninstall_keeps_it(private_plane: ControlPlane, tmp_path: Path) -> None:
    """`helm upgrade` from a chart whose CRD lacks a printer column adds the column; `helm uninstall` leaves
    the CRD and with it the TurbineStacks; a reinstall under the same release adopts the kept CRD."""
    kubeconfig = private_plane.kubeconfig
    kube = KubeApi(kubeconfig)
    previous, columns = _previous_chart(tmp_path)
    _helm_ok("install", *RELEASE, str(previous), "--create-namespace", kubeconfig=kubeconfig)
    assert _printer_columns(kube) == columns[:-1]

    _helm_ok("upgrade", *RELEASE, str(CHART), kubeconfig=kubeconfig)
    assert _printer_columns(kube) == columns, "helm upgrade left the previous CRD"

    stack = yaml.safe_load((REPO_ROOT / "examples" / "turbine-stack.yaml").read_text())
    kubectl("apply", "-f", "-", kubeconfig=kubeconfig, stdin=yaml.safe_dump(stack))

    done = _helm_ok("uninstall", *RELEASE, kubeconfig=kubeconfig)
    assert CRD in done, done  # helm lists what the resource policy kept
    assert _printer_columns(kube) == columns, "helm uninstall deleted the CRD"
    assert kubectl("get", "turbinestacks", "-A", "-o", "name", kubeconfig=kubeconfig).split() == [
        f"turbinestack.turbine.dev/{stack['metadata']['name']}"
    ]
    assert kubectl("get", "deployments", "-n", OPERATOR_NAMESPACE, "-o", "name", kubeconfig=kubeconfig) == ""

    _helm_ok("install", *RELEASE, str(CHART), kubeconfig=kubeconfig)
    manifest = _helm_ok("get", "manifest", *RELEASE, kubeconfig=kubeconfig)
    assert one([doc for doc in yaml.safe_load_all(manifest) if doc], "CustomResourceDefinition")
    _helm_ok("uninstall", *RELEASE, kubeconfig=kubeconfig)


@pytest.mark.integration
def test_a_crd_applied_by_hand_is_taken_over_and_upgraded(
    private_plane: ControlPlane, tmp_path: Path
) -> None:
    """Before the chart templated it, the CRD came from the chart's crds/ or `kubectl apply`, and Helm does
    not own it: a plain upgrade is refused, `--take-ownership --force-conflicts`
    (charts/turbine-operator/README.md) adopts and upgrades it."""
    kubeconfig = private_plane.kubeconfig
    kube = KubeApi(kubeconfig)
    previous, columns = _previous_chart(tmp_path)
    crd = yaml.safe_load((previous / "files" / "crds" / f"{CRD}.yaml").read_text())
    kubectl("apply", "-f", "-", kubeconfig=kubeconfig, stdin=yaml.safe_dump(crd))
    # Replaced, not only applied: an earlier test of this module leaves the CRD owned by its release.
    kubectl("replace", "-f", "-", kubeconfig=kubeconfig, stdin=yaml.safe_dump(crd))
    assert _printer_columns(kube) == columns[:-1]

    install = ["upgrade", "--install", *RELEASE, str(CHART), "--create-namespace"]
    refused = helm(*install, f"--kubeconfig={kubeconfig}")
    assert refused.returncode != 0
    assert "invalid ownership metadata" in refused.stderr, refused.stderr
    # Helm applies server-side: the fields `kubectl apply` set belong to kubectl's field manager, so taking
    # the CRD over also takes those fields (--force-conflicts), or the apply conflicts on .spec.versions.
    _helm_ok(*install, "--take-ownership", "--force-conflicts", kubeconfig=kubeconfig)
    assert _printer_columns(kube) == columns
    annotations = _annotations(kube)
    assert annotations["meta.helm.sh/release-name"] == "turbine-operator"
    assert annotations["helm.sh/resource-policy"] == "keep"


@pytest.mark.integration
def test_a_second_release_leaves_the_crd_to_the_first(private_plane: ControlPlane) -> None:
    """Shards are releases of this chart; only one can own the CRD, the others set crds.install=false."""
    kubeconfig = private_plane.kubeconfig
    owner = ["upgrade", "--install", *RELEASE, str(CHART), "--create-namespace"]
    _helm_ok(*owner, "--take-ownership", "--force-conflicts", kubeconfig=kubeconfig)
    shard = ["install", "shard-b", str(CHART), "--namespace", "shard-b", "--create-namespace"]
    refused = helm(*shard, f"--kubeconfig={kubeconfig}")
    assert refused.returncode != 0
    assert "invalid ownership metadata" in refused.stderr, refused.stderr
    _helm_ok(*shard, "--set", "crds.install=false", kubeconfig=kubeconfig)
    _helm_ok("uninstall", "shard-b", "--namespace", "shard-b", kubeconfig=kubeconfig)
    assert _annotations(KubeApi(kubeconfig))["meta.helm.sh/release-name"] == "turbine-operator"
