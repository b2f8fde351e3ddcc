"""The boot rehearsal (devtools/turbine_dev/rehearsal): every instance role boots on this machine
from its own user data and runs real Airflow; each acceptance point of the rehearsal is one test.

Runs once per session (`python -m turbine_dev.rehearsal`, as `make rehearsal` does); its figures
are printed, never asserted on.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from turbine_dev.rehearsal.creation_order import signalled_resources, stack_waves
from turbine_dev.rehearsal.host import image
from turbine_dev.rehearsal.host.image import airflow_venv, shipped_lock
from turbine_dev.rehearsal.services import package_index
from turbine_dev.strict.role_permissions import REHEARSED_ROLES, justified_unused
from turbine_dev.tooling.airflow_options import extract, options_file
from turbine_operator.core.render.templates import load_template

pytestmark = [pytest.mark.rehearsal, pytest.mark.timeout(5400)]

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "cfn" / "templates"


@pytest.fixture(scope="session")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if os.geteuid() != 0:
        pytest.fail("the boot rehearsal needs root (namespaces, overlay mounts, useradd in the instances)")
    folder = tmp_path_factory.mktemp("rehearsal")
    report_path = folder / "report.json"
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "devtools"), str(REPO_ROOT / "operator")]),
    }
    completed = subprocess.run(
        [sys.executable, "-m", "turbine_dev.rehearsal", "--workdir", str(folder / "work"), "--report",
         str(report_path)],
        capture_output=True, text=True, check=False, timeout=5000, env=environment,
    )  # fmt: skip
    if not report_path.is_file():
        pytest.fail(f"the rehearsal wrote no report:\n{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(report_path.read_text())
    print("boot rehearsal figures:", json.dumps(result.get("figures"), indent=2))
    return result


def booted(report: dict[str, Any]) -> None:
    assert "failure" not in report, report["failure"]


def cluster_template() -> dict[str, Any]:
    return load_template((TEMPLATES / "turbine-cluster.yaml").read_bytes(), "turbine-cluster.yaml")


def test_roles_boot_in_creation_order_and_signal(report: dict[str, Any]) -> None:
    booted(report)
    assert report["waves"] == [sorted(wave) for wave in stack_waves(cluster_template())]
    for template in ("turbine-webserver.yaml", "turbine-scheduler.yaml"):
        assert signalled_resources(load_template((TEMPLATES / template).read_bytes(), template))
    assert report["signals"], report
    assert all(
        outcome.startswith("SUCCESS") or outcome.startswith("none") for outcome in report["signals"].values()
    ), report["signals"]


def test_airflow_is_installed_by_the_bootstraps_own_pip_command_from_the_package_index(
    report: dict[str, Any],
) -> None:
    """The image's Airflow came from the bootstrap's pip command against the stand-in for pypi.org."""
    command = package_index.bootstrap_pip_install(image.VENV_PATH, "${AIRFLOW_LOCK}")
    assert report["image"]["airflow_installed_with"] == shlex.join(command)


def test_the_shipped_airflow_options_are_those_of_the_airflow_the_lock_installs() -> None:
    """spec.airflow.config is checked against cfn/airflow/airflow-<version>.options.json: `make lock` wrote it
    from this same Airflow, and a new lock without a new list would check options against the old version."""
    lock = shipped_lock()
    assert json.loads(options_file(lock).read_text()) == extract(airflow_venv(lock) / "bin" / "python")


def test_spec_airflow_config_is_what_airflow_reads_on_every_role(report: dict[str, Any]) -> None:
    """The options of spec.airflow.config, through the AirflowConfig parameter, the user data and the
    bootstrap's environment file, as `airflow config get-value` reads them on the scheduler, the API server
    and the worker."""
    booted(report)
    assert report["checks"].get("airflow_config_reaches_every_role"), report.get("airflow_config")


def test_celery_task_runs_through_sqs_and_its_log_is_in_s3_and_the_api(report: dict[str, Any]) -> None:
    booted(report)
    checks = report["checks"]
    assert checks["celery_task_succeeded"]
    assert checks["task_log_in_logs_bucket"]
    assert checks["task_log_served_by_rest_api"]


def test_deferrable_task_completes_through_the_triggerer(report: dict[str, Any]) -> None:
    booted(report)
    assert report["checks"]["deferrable_task_succeeded_through_triggerer"]


def test_scale_in_drains_the_worker(report: dict[str, Any]) -> None:
    booted(report)
    checks = report["checks"]
    assert checks["long_task_succeeded_through_drain"]
    assert checks["draining_worker_took_no_new_task"], report.get("task_queued_during_drain")
    assert checks["lifecycle_action_completed"]
    assert checks["drain_well_before_drain_timeout"], report["figures"]


def test_a_busy_worker_is_protected_from_scale_in_and_loses_it_when_idle(report: dict[str, Any]) -> None:
    booted(report)
    checks = report["checks"]
    assert checks["idle_worker_not_protected"]
    assert checks["busy_worker_protected_from_scale_in"], report["figures"]
    assert checks["worker_unprotected_once_idle"], report["figures"]


def test_queued_tasks_on_an_empty_worker_set_scale_out_within_the_bound(report: dict[str, Any]) -> None:
    booted(report)
    assert report["checks"]["queued_task_on_empty_workers_scales_out_within_bound"], (
        report.get("scale_out_from_zero"),
        report["figures"].get("scale_out_decision_seconds_of_metric_time"),
    )


def test_task_processes_hold_no_database_password_or_jwt_secret(report: dict[str, Any]) -> None:
    booted(report)
    assert report["checks"]["task_processes_hold_no_database_password_or_jwt_secret"], report[
        "task_process_environment"
    ]


def test_users_declared_in_the_spec_follow_their_secrets(report: dict[str, Any]) -> None:
    """Issue 14: a declared user logs in with its Secret's password, a changed Secret changes it, a removed
    user cannot log in, users made outside the spec are reported and left alone, and a user with an
    unknown role fails alone."""
    booted(report)
    checks = report["checks"]
    context = report.get("airflow_users_failure") or report.get("airflow_users_status")
    assert checks.get("declared_users_log_in_with_their_secret_passwords"), context
    assert checks.get("users_outside_the_spec_are_reported_not_touched"), context
    assert checks.get("changed_secret_changes_the_password"), context
    assert checks.get("user_removed_from_the_spec_cannot_log_in"), context
    assert checks.get("a_user_with_an_unknown_role_fails_alone"), report.get("airflow_users_failed")


def test_no_user_password_outside_its_secret(report: dict[str, Any]) -> None:
    booted(report)
    assert report["checks"].get("no_user_password_in_report_status_events_or_logs"), report.get(
        "airflow_users_leaks"
    )


def test_dags_come_from_the_git_repository_and_a_broken_commit_is_reported(report: dict[str, Any]) -> None:
    """Issue 14: a DAG from the spec's private git repository (read with the token the operator published)
    runs to success, a new commit runs the new version
    (pinned to its commit) with no stack update, and a commit with a broken DAG reaches status and events."""
    booted(report)
    checks = report["checks"]
    context = report.get("dags_failure") or (report.get("git_revisions"), report.get("git_runs"))
    assert checks.get("dag_from_git_runs_to_success"), context
    assert checks.get("private_repository_read_with_the_published_credentials"), report.get("figures")
    assert checks.get("new_commit_runs_the_new_version"), context
    assert checks.get("broken_commit_reported_in_status_and_events"), (
        report.get("dags_status"),
        report.get("dags_events"),
    )


def test_a_rolling_update_keeps_a_healthy_api_server_behind_the_load_balancer(report: dict[str, Any]) -> None:
    """Each API server is replaced as CloudFormation's rolling update does it; each replacement
    signals only once the health checks route to it, so one stays healthy throughout."""
    booted(report)
    figures = report["figures"]
    print(
        "rolling update: fewest healthy API servers", figures.get("rolling_update_min_healthy_api_servers"),
        "over", figures.get("rolling_update_seconds"), "s",
    )  # fmt: skip
    assert report["checks"].get("rolling_update_keeps_a_healthy_api_server"), (
        report.get("rolling_update_failure"),
        figures,
    )


def test_the_master_database_secret_is_read_at_boot_only(report: dict[str, Any]) -> None:
    """Issue 24: once booted, every scheduler and API server runs with its run profile (it took it after the
    migration), and the master database secret is refused to the credentials the metadata service hands it;
    the boot roles read it (no call of theirs is denied: test_no_aws_call_...)."""
    booted(report)
    print("boot profiles:", json.dumps(report["boot_profiles"], indent=2))
    assert report["checks"]["master_secret_at_boot_only"], report["boot_profiles"]


def _iam(report: dict[str, Any]) -> dict[str, Any]:
    # Not `booted`: a call the role refuses is often why a boot failed, and this names it.
    assert "iam" in report, report.get("iam_failure") or report.get("failure")
    roles: dict[str, Any] = report["iam"]
    assert sorted(set(REHEARSED_ROLES) - set(roles)) == [], "a role made no AWS call at all"
    return roles


def test_no_aws_call_an_instance_or_the_lambda_makes_is_denied_by_its_role(report: dict[str, Any]) -> None:
    """Issue 24: the embedded AWS evaluates each role's policies, as the stack created them, on every call
    signed with its credentials (services/iam_enforcement.py); a call a role does not allow, or one the
    evaluation cannot map, fails with AWS's AccessDenied."""
    roles = _iam(report)
    for label, role in sorted(roles.items()):
        print(f"{label}: {role['calls']} calls evaluated, {len(role['allowed'])} distinct allowed")
    assert {label: role["denied"] for label, role in roles.items() if role["denied"]} == {}


def test_every_permission_a_role_holds_is_used_by_a_rehearsed_call_or_justified(
    report: dict[str, Any],
) -> None:
    """The actions each role's own policies grant that no call of the rehearsal used are those
    turbine_dev.strict.role_permissions justifies: all of UNUSED (no call makes them) and NOT_REHEARSED (a
    path the rehearsal does not take), and perhaps some of TIMING (a path it takes or not, by timing)."""
    roles = _iam(report)
    for label in REHEARSED_ROLES:
        justified = justified_unused(label, rehearsed=True, timing=True)
        print(f"{label}: unused {roles[label]['unused']}")
        for action in roles[label]["unused"]:
            print(f"  {action}: {justified.get(action, 'NOT JUSTIFIED')}")
    unjustified = {
        label: sorted(set(roles[label]["unused"]) - set(justified_unused(label, rehearsed=True, timing=True)))
        for label in REHEARSED_ROLES
    }
    assert unjustified == {label: [] for label in REHEARSED_ROLES}
    used_after_all = {
        label: sorted(set(justified_unused(label, rehearsed=True)) - set(roles[label]["unused"]))
        for label in REHEARSED_ROLES
    }
    assert used_after_all == {label: [] for label in REHEARSED_ROLES}, "used, yet justified as unused"


def burst_figures(report: dict[str, Any]) -> dict[str, Any]:
    figures = {k: v for k, v in report["figures"].items() if k.startswith("burst_")}
    print("burst:", json.dumps(figures, indent=2), "\nactions:", report.get("burst_scaling_actions"))
    return figures


def test_a_burst_gets_the_workers_its_backlog_needs_in_the_first_decision(report: dict[str, Any]) -> None:
    """Issue 24: 40 tasks queued at once on a worker set of at most 5 workers of 4 slots (the product's 10 x
    16 scaled down to this machine): the first scaling decision asks for every worker the backlog needs."""
    booted(report)
    figures = burst_figures(report)
    assert report["checks"].get("burst_first_decision_asks_for_the_workers_the_backlog_needs"), (
        report.get("burst_first_decision"),
        figures,
        report.get("burst_failure"),
    )


def test_a_burst_runs_three_quarters_of_the_slots_at_once_and_every_task_succeeds_in_time(
    report: dict[str, Any],
) -> None:
    """Issue 24: at least 75 % of maxSize x slots run at once, every task succeeds, none waits in the queue
    until task_queued_timeout."""
    booted(report)
    figures = burst_figures(report)
    checks = report["checks"]
    assert checks.get("burst_concurrency_reaches_three_quarters_of_the_slots"), (
        figures,
        report.get("burst_failure"),
    )
    assert checks.get("burst_every_task_succeeded"), figures
    assert checks.get("burst_no_task_hit_task_queued_timeout"), figures


def test_after_a_burst_the_workers_drain_to_min_size_and_no_task_is_killed(report: dict[str, Any]) -> None:
    """Issue 24: once the burst is done the group shrinks back to minSize, each worker it removes drained
    first, and no task is killed."""
    booted(report)
    figures = burst_figures(report)
    assert report["checks"].get("burst_drains_to_min_size_killing_no_task"), (
        figures,
        report.get("burst_scaling_actions"),
        report.get("burst_failure"),
    )
