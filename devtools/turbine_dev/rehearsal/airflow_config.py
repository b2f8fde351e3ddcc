"""The rehearsal's spec.airflow.config scenario: options set in the TurbineStack are what Airflow reads on
every role, as an administrator would see them with `airflow config get-value`."""

from __future__ import annotations

from typing import Any

from turbine_dev.rehearsal.cluster import Cluster

# Harmless to the other scenarios: a longer DAG import timeout, and an object-storage XCom threshold that
# applies only with an object-storage path (none is set). common.io's section holds a dot, which Airflow's
# variable name turns into an underscore (AIRFLOW__COMMON_IO__...).
AIRFLOW_CONFIG = {
    "core.dagbag_import_timeout": "45",
    "common.io.xcom_objectstorage_threshold": "1048576",
}
ROLES = {"scheduler", "webserver", "workerset"}


def config_reaches_every_role(cluster: Cluster, report: dict[str, Any]) -> bool:
    """Each running instance's `airflow config get-value` for each option; True when every role has them."""
    found: dict[str, str] = {}
    for instance in cluster.instances:
        if instance.process is None or instance.process.poll() is not None:
            continue
        for key in AIRFLOW_CONFIG:
            section, _, option = key.rpartition(".")
            read = instance.run(
                [
                    "runuser",
                    "-u",
                    "airflow",
                    "--",
                    "/usr/local/bin/airflow",
                    "config",
                    "get-value",
                    section,
                    option,
                ],
                check=False,
            )
            found[f"{instance.role}/{instance.instance_id}/{key}"] = (
                read.stdout.strip() or read.stderr.strip()[-200:]
            )
    report["airflow_config"] = found
    roles = {name.split("/")[0] for name in found}
    return roles >= ROLES and all(
        value == AIRFLOW_CONFIG[name.split("/")[2]] for name, value in found.items()
    )
