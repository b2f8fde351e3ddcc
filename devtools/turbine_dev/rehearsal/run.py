"""The rehearsal itself, run inside its own network namespace (see __main__)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any

from turbine_dev.aws.embedded_aws import DEFAULT_REGION, DUMMY_CREDENTIALS, EmbeddedAws
from turbine_dev.rehearsal import boot_profiles
from turbine_dev.rehearsal.airflow_config import AIRFLOW_CONFIG
from turbine_dev.rehearsal.burst import MAX_WORKERS, WORKER_SLOTS
from turbine_dev.rehearsal.cluster import BootFailure, Cluster, create_stack, load_templates
from turbine_dev.rehearsal.host import network
from turbine_dev.rehearsal.host.image import INSTALLED_WITH, REPO_ROOT
from turbine_dev.rehearsal.rolling_update import roll_api_servers
from turbine_dev.rehearsal.services import database, iam_enforcement, loadbalancer, package_index
from turbine_dev.rehearsal.services.dag_repository import DagRepository, git_dag
from turbine_dev.rehearsal.services.target_health import TARGET_HEALTH_FILE, HealthChecker
from turbine_dev.runs.processes import ManagedProcess, terminating_signals_raise
from turbine_dev.strict.role_permissions import policy_document
from turbine_operator.adapters.sources import cfn_dir

AWS_PORT = 4566
MANIFEST = REPO_ROOT / "examples" / "turbine-stack.yaml"
SIGNAL_TIMEOUT = float(os.environ.get("TURBINE_REHEARSAL_SIGNAL_TIMEOUT", "1200"))
# Compresses the target groups' health check intervals and deregistration delay (1: as configured).
TIME_FACTOR = float(os.environ.get("TURBINE_REHEARSAL_TIME_FACTOR", "1"))
# Narrow runs: "rolling-update", boot then only the API servers' rolling update; "burst", boot then only
# the burst (turbine_dev.rehearsal.burst); empty: everything.
ONLY = os.environ.get("TURBINE_REHEARSAL_ONLY", "")


def start_aws(workdir: Path) -> EmbeddedAws:
    endpoint = f"http://{network.GATEWAY}:{AWS_PORT}"
    env = {**os.environ, **DUMMY_CREDENTIALS}
    process = ManagedProcess(
        "embedded-aws",
        [sys.executable, "-m", "turbine_dev.rehearsal.services.aws_server", network.GATEWAY, str(AWS_PORT),
         str(workdir / "lifecycle-actions.jsonl")],
        workdir / "embedded-aws.log", env=env,
    )  # fmt: skip

    def healthy() -> bool:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=5) as reply:  # noqa: S310
            return bool(reply.status == 200)

    process.wait_until(healthy, 60, "moto-api")
    return EmbeddedAws(endpoint_url=endpoint, region=DEFAULT_REGION, process=process)


def own_policies(aws: EmbeddedAws, role: str) -> list[dict[str, Any]]:
    """The role's policies as the stack made them: inline, and managed ones of its own (AWS's managed
    policies are AWS's to scope; their permissions are not listed as unused)."""
    iam = aws.client("iam")
    documents = [
        policy_document(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
        for name in iam.list_role_policies(RoleName=role)["PolicyNames"]
    ]
    for attached in iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]:
        if ":aws:policy/" in attached["PolicyArn"]:
            continue
        version = iam.get_policy(PolicyArn=attached["PolicyArn"])["Policy"]["DefaultVersionId"]
        held = iam.get_policy_version(PolicyArn=attached["PolicyArn"], VersionId=version)["PolicyVersion"]
        documents.append(policy_document(held["Document"]))
    return documents


def iam_report(aws: EmbeddedAws, workdir: Path, report: dict[str, Any]) -> None:
    """The IAM section, also when the rehearsal failed part way (a denied call is often why)."""
    if "iam" in report:
        return
    try:
        report["iam"] = iam_enforcement.summary(workdir, lambda role: own_policies(aws, role))
    except Exception:  # the report must still be written
        report["iam_failure"] = traceback.format_exc()


def rehearse(  # noqa: PLR0912, PLR0915 - the rehearsal from start to teardown, in order
    workdir: Path, report_path: Path | None
) -> int:
    started = time.monotonic()
    report: dict[str, Any] = {"workdir": str(workdir), "checks": {}}
    os.environ.update({"AWS_ENDPOINT_URL": f"http://{network.GATEWAY}:{AWS_PORT}", **DUMMY_CREDENTIALS})
    network.create_vpc()
    code = 1
    cluster: Cluster | None = None
    db = None
    aws = None
    dags: DagRepository | None = None
    services = contextlib.ExitStack()
    with terminating_signals_raise():
        try:
            aws = start_aws(workdir)
            index = Path(os.environ["TURBINE_REHEARSAL_PACKAGE_INDEX"])
            services.enter_context(package_index.serving(index, network.GATEWAY, network.PACKAGE_INDEX_PORT))
            venv = Path(os.environ["TURBINE_REHEARSAL_VENV"])
            report["image"] = {"airflow_installed_with": (venv / INSTALLED_WITH).read_text().strip()}
            dags = DagRepository(workdir)
            dags.start()
            report["git_revisions"] = [dags.commit({"rehearsal_git.py": git_dag("v1")}, "v1")]
            # The worker set scaled down to what this machine runs (burst.py): the product's 16 slots a
            # worker would make each worker of the burst hold 16 real tasks.
            stack, outputs, parameters = create_stack(
                aws, MANIFEST, "turbine-rehearsal-bundle", {"dags": dags.spec(), "config": AIRFLOW_CONFIG},
                workers={"maxSize": MAX_WORKERS}, worker_slots=WORKER_SLOTS,
            )  # fmt: skip
            secret = json.loads(
                aws.client("secretsmanager").get_secret_value(SecretId=outputs["DatabaseSecretArn"])[
                    "SecretString"
                ]
            )
            db = database.start(workdir / "rds", network.GATEWAY, 5432, secret["username"],
                                secret["password"],
                                "airflow")  # fmt: skip
            efs = workdir / "efs"
            efs.mkdir()
            cluster = Cluster(
                aws=aws, workdir=workdir, master_stack=stack, outputs=outputs, parameters=parameters,
                templates=load_templates(cfn_dir() / "templates"),
                venv=venv, efs=efs, dags=dags,
            )  # fmt: skip
            port = int(parameters.get("WebServerPort", "8080"))

            def running_webservers() -> dict[str, str]:
                assert cluster is not None
                live = [i for i in cluster.instances if i.process is not None and i.process.poll() is None]
                return {i.instance_id: i.address for i in live if i.role == "webserver"}

            checker = HealthChecker(
                aws.client("elbv2"), running_webservers, workdir / TARGET_HEALTH_FILE, TIME_FACTOR
            )
            checker.start()

            def webservers() -> list[tuple[str, int]]:
                # Where the load balancers send a request: the targets their health checks route to.
                addresses = running_webservers()
                return [(addresses[t], port) for t in checker.routable() if t in addresses]

            for listener in sorted({80, port}):
                loadbalancer.listen(network.LOAD_BALANCER, listener, webservers)
            first_boot = time.monotonic()
            cluster.boot(SIGNAL_TIMEOUT, report)
            # Roles without a creation signal show their boot's outcome only in the user data's status.
            for instance in cluster.instances:
                if report["signals"].get(instance.role, "").startswith("SUCCESS"):
                    continue
                exited = cluster.wait_for_user_data(instance, SIGNAL_TIMEOUT)
                if exited != 0:
                    raise BootFailure(f"{instance.role}: user data exited {exited}\n{instance.log()}")
            report["figures"] = {"boot_seconds": round(time.monotonic() - first_boot, 1)}
            # A worker's boot, from its launch to the end of its user data (Airflow installed from the
            # lock, Celery started): the part of the scale-out timeline in cfn/README.md a worker adds.
            report["figures"]["worker_boot_seconds"] = [
                round((instance.meta / "user-data-exit").stat().st_mtime - instance.booted_at, 1)
                for instance in cluster.instances
                if instance.role == "workerset"
            ]
            report["boot_profiles"] = boot_profiles.after_boot(cluster, outputs["DatabaseSecretArn"])
            report["checks"]["master_secret_at_boot_only"] = boot_profiles.master_secret_at_boot_only(
                report["boot_profiles"]
            )
            from turbine_dev.rehearsal.scenarios import run_scenarios  # noqa: PLC0415

            if ONLY != "rolling-update":
                run_scenarios(cluster, report, first_boot, ONLY)
            # Last: it replaces the API servers the scenarios above talk to.
            if ONLY != "burst":
                roll_api_servers(
                    cluster, checker, f"http://{network.LOAD_BALANCER}:{port}/api/v2/monitor/health", report
                )
            report["iam"] = iam_enforcement.summary(workdir, lambda role: own_policies(aws, role))
            report["checks"]["no_call_denied_by_iam"] = not any(r["denied"] for r in report["iam"].values())
            code = 0 if all(report["checks"].values()) else 1
        except BootFailure as failure:
            report["failure"] = str(failure)
        except KeyboardInterrupt as interrupted:  # SIGTERM or SIGINT: still the report, its IAM section too
            report["failure"] = f"interrupted ({interrupted})"
        except Exception:
            report["failure"] = traceback.format_exc()
            if cluster is not None:
                report["failure"] += "\n" + "\n".join(i.log() for i in cluster.instances)
        finally:
            if cluster is not None:
                cluster.shutdown()
            if db is not None:
                db.stop()
            if aws is not None:
                iam_report(aws, workdir, report)
                aws.stop()
            if dags is not None:
                dags.stop()
            services.close()
    report.setdefault("figures", {})["rehearsal_seconds"] = round(
        time.monotonic() - started + float(os.environ.get("TURBINE_REHEARSAL_IMAGE_SECONDS", "0")), 1
    )
    text = json.dumps(report, indent=2)
    print(text)
    if report_path is not None:
        report_path.write_text(text)
    return code
