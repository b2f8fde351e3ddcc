"""spec.airflow.dags as Airflow's DAG bundle configuration, rendered into the master parameter DagBundle.

Every role's bootstrap decodes the parameter into [dag_processor] dag_bundle_config_list: the DAG
processor parses the bundle, the scheduler hands each task its bundle version, and each worker checks that
version out itself (GitDagBundle clones into the bundle storage path). The dags-folder bundle stays first, so
/airflow/dags (CodeDeploy deployments) keeps working next to turbine-dags.

Base64 because the value passes through /etc/turbine/turbine.env, which bash sources: JSON's quotes and
braces would not survive it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.naming import DAGS_CONNECTION_ID

BUNDLE_NAME = "turbine-dags"
DAG_BUNDLE_PARAMETER = "DagBundle"
DAG_BUNDLE_FIELD = "spec.airflow.dags"
_LOCAL = {
    "name": "dags-folder",
    "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
    "kwargs": {},
}
_GIT = "airflow.providers.git.bundles.git.GitDagBundle"
_S3 = "airflow.providers.amazon.aws.bundles.s3.S3DagBundle"


def dag_bundle_config(spec: TurbineStackSpec) -> list[dict[str, Any]] | None:
    """The bundle list for Airflow, or None to keep Airflow's default (the dags folder alone)."""
    dags = spec.airflow.dags
    if dags is None:
        return None
    kwargs: dict[str, Any] = {"refresh_interval": dags.refresh_seconds}
    if dags.git is not None:
        classpath = _GIT
        kwargs |= {"repo_url": dags.git.url, "tracking_ref": dags.git.ref}
        if dags.git.subdir:
            kwargs["subdir"] = dags.git.subdir
        if dags.git.credentials is not None:
            # Read through the Secrets Manager backend the bootstrap configures (core.airflow.dag_connection).
            kwargs["git_conn_id"] = DAGS_CONNECTION_ID
    else:
        assert dags.s3 is not None  # exactly one, as the model checks
        classpath = _S3
        # No connection: the instance role's credentials (boto3's default chain).
        kwargs |= {"bucket_name": dags.s3.bucket, "prefix": dags.s3.prefix, "aws_conn_id": None}
    return [_LOCAL, {"name": BUNDLE_NAME, "classpath": classpath, "kwargs": kwargs}]


def dag_bundle_parameter(spec: TurbineStackSpec) -> str:
    config = dag_bundle_config(spec)
    if config is None:
        return ""
    return base64.b64encode(json.dumps(config, separators=(",", ":"), sort_keys=True).encode()).decode()


def dag_bucket_parameter(spec: TurbineStackSpec) -> str:
    """The bucket the instance roles may read DAGs from (parameter DagBucket), or empty."""
    dags = spec.airflow.dags
    return dags.s3.bucket if dags is not None and dags.s3 is not None else ""
