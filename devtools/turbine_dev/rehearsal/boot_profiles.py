"""Issue 24, the master database secret at boot only, as the booted instances show it.

The scheduler and the API servers boot with a profile whose role reads the database secrets (the templates'
<Kind>BootRole) and, once the database is migrated, take their run profile (turbine-bootstrap.sh
take_run_profile). After the boots, each of them must be associated with its run profile, and a request for
the master secret signed with the credentials the metadata service now hands it must be refused by IAM, as
the embedded AWS evaluates it (services/iam_enforcement.py). The request is a probe of the harness: its
session is labelled `<role>:probe`, which the IAM summary leaves out of what the instances did.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from turbine_dev.rehearsal.cluster import Cluster
from turbine_dev.rehearsal.host import role_credentials
from turbine_dev.rehearsal.services.iam_enforcement import PROBE

MIGRATING_ROLES = ("scheduler", "webserver")
REFUSED = "AccessDeniedException"  # Secrets Manager's code for a request IAM refuses


def after_boot(cluster: Cluster, master_secret_arn: str) -> dict[str, dict[str, str]]:
    """instance id -> the label of the role it runs with now, and what reading the master secret with that
    role's credentials gave ("read", or the error code)."""
    ec2 = cluster.aws.client("ec2")
    found: dict[str, dict[str, str]] = {}
    for instance in cluster.instances:
        if (
            instance.role not in MIGRATING_ROLES
            or instance.process is None
            or instance.process.poll() is not None
        ):
            continue
        [association] = ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance.instance_id]}]
        )["IamInstanceProfileAssociations"]
        session = cluster.profile_sessions(instance)[association["IamInstanceProfile"]["Arn"]]
        # A session of its own: the instance's key would be recorded under the instance's label.
        probe = role_credentials.Session(session.role, session.label + PROBE, instance.instance_id + PROBE)
        credentials = role_credentials.issue(cluster.workdir, probe)
        secrets = cluster.aws.client(
            "secretsmanager",
            session=(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["Token"]),
        )
        try:
            secrets.get_secret_value(SecretId=master_secret_arn)
            outcome = "read"
        except ClientError as error:
            outcome = str(error.response["Error"]["Code"])
        found[instance.instance_id] = {
            "role": instance.role,
            "runs_as": session.label,
            "reading_the_master_secret": outcome,
        }
    return found


def master_secret_at_boot_only(found: dict[str, dict[str, str]]) -> bool:
    """Every scheduler and API server runs with its run role, and that role is refused the master secret."""
    roles = {entry["role"] for entry in found.values()}
    return set(MIGRATING_ROLES) <= roles and all(
        entry["runs_as"] == entry["role"] and entry["reading_the_master_secret"] == REFUSED
        for entry in found.values()
    )
