"""spec.airflow.users and spec.airflow.dags on the real control plane with the embedded AWS.

Users: the operator publishes the declared users, with their Secrets' passwords, to the stack's users
secret, follows a changed Secret and a removed user, and copies the scheduler's report into status.
DAGs: the bundle reaches the stack's DagBundle parameter, the git credentials the connection secret, and the
scheduler's report on the bundle reaches status.dags and a warning event. No secret lands anywhere else.

The scheduler's side (Airflow applying them) is the boot rehearsal's; here the test writes the reports as
turbine-airflow-users.py and turbine-dag-report.py do.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from integration.test_additional_templates_and_policies import _every_log_message
from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.kube import KubeApi, condition_of, wait_for
from turbine_dev.runs.operator_runner import running_operator
from turbine_dev.runs.probes import turbine_stack
from turbine_operator.core.naming import default_stack_name
from turbine_operator.core.plan.drift import REQUEST_ANNOTATION
from turbine_operator.core.render.templates import load_template

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed", "kubeconfig_environment")]

SMALL_MASTER = (
    Path(__file__).resolve().parents[1] / "fixtures" / "small-cfn" / "templates" / "turbine-master.yaml"
)
FIRST, SECOND = "first-Password-1", "second-Password-2"


@pytest.fixture
def users_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The small master with the users and DAG secrets and reports of the scheduler and cluster templates."""
    master = load_template(SMALL_MASTER.read_bytes(), SMALL_MASTER.name)
    master["Resources"] |= {
        "AirflowUsersSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": "{}"}},
        "AirflowUsersReport": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": {"Fn::Sub": "/turbine/${AWS::StackName}/airflow-users-report"},
                "Type": "String",
                "Value": "{}",
            },
        },
    }
    master["Resources"] |= {
        "DagsConnectionSecret": {"Type": "AWS::SecretsManager::Secret", "Properties": {"SecretString": "{}"}},
        "DagsReport": {
            "Type": "AWS::SSM::Parameter",
            "Properties": {
                "Name": {"Fn::Sub": "/turbine/${AWS::StackName}/dags-report"},
                "Type": "String",
                "Value": "{}",
            },
        },
    }
    master["Outputs"] |= {
        "AirflowUsersSecretArn": {"Value": {"Ref": "AirflowUsersSecret"}},
        "AirflowUsersReportParameter": {"Value": {"Ref": "AirflowUsersReport"}},
        "DagsConnectionSecretArn": {"Value": {"Ref": "DagsConnectionSecret"}},
        "DagsReportParameter": {"Value": {"Ref": "DagsReport"}},
    }
    folder = tmp_path / "cfn"
    (folder / "templates").mkdir(parents=True)
    # JSON is YAML: the operator reads it as the master template.
    (folder / "templates" / "turbine-master.yaml").write_text(json.dumps(master))
    monkeypatch.setenv("TURBINE_CFN_DIR", str(folder))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _user(name: str) -> dict[str, Any]:
    return {
        "username": name,
        "email": f"{name}@example.com",
        "role": "Admin",
        "passwordSecretKeyRef": {"name": "airflow-users", "key": name},
    }


def _users_status(kube: KubeApi, namespace: str) -> dict[str, Any]:
    return dict(((kube.get_stack(namespace, "airflow") or {}).get("status") or {}).get("airflowUsers") or {})


def _document(aws: EmbeddedAws, arn: str) -> dict[str, Any]:
    return dict(json.loads(aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]))


@pytest.mark.usefixtures("users_templates")
def test_declared_users_are_published_follow_their_secret_and_report_back(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    kube.put_secret(namespace, "airflow-users", {"ada": FIRST, "bob": FIRST})
    with _every_log_message() as logs, running_operator([namespace]):
        body = turbine_stack("airflow", template_bucket, airflow={"users": [_user("ada"), _user("bob")]})
        kube.create_stack(namespace, body)
        kube.wait_condition(namespace, "airflow", "Ready", timeout=60)
        outputs = kube.get_stack(namespace, "airflow")["status"]["outputs"]  # type: ignore[index]
        arn, parameter = outputs["AirflowUsersSecretArn"], outputs["AirflowUsersReportParameter"]
        first = wait_for(
            lambda: _users_status(kube, namespace).get("version"), 30, "the users to be published"
        )
        document = _document(aws_environment, arn)
        assert document["version"] == first
        assert [(u["username"], u["password"]) for u in document["users"]] == [("ada", FIRST), ("bob", FIRST)]

        # The scheduler applies it and reports (turbine-airflow-users.py); the operator copies the report.
        report = {"version": first, "applied": ["ada", "bob"], "failed": [], "removed": [],
                  "unmanaged": ["admin"], "time": "2026-11-26T10:00:00Z"}  # fmt: skip
        aws_environment.client("ssm").put_parameter(
            Name=parameter, Value=json.dumps(report), Type="String", Overwrite=True
        )
        applied = wait_for(
            lambda: (s := _users_status(kube, namespace)).get("appliedVersion") == first and s,
            30,
            "the report to reach the status",
        )
        assert applied["applied"] == ["ada", "bob"]
        assert applied["unmanaged"] == ["admin"]
        assert "AirflowUsersApplied" in {e.reason for e in kube.events_for(namespace, "airflow")}

        # A changed Secret publishes a new version with the new password, through the Secret's watch.
        kube.put_secret(namespace, "airflow-users", {"ada": SECOND, "bob": FIRST})
        second = wait_for(
            lambda: (v := _users_status(kube, namespace).get("version")) != first and v, 30, "a new version"
        )
        assert _document(aws_environment, arn)["users"][0]["password"] == SECOND

        # A user dropped from the spec is listed for removal.
        kube.patch_stack(namespace, "airflow", {"spec": {"airflow": {"users": [_user("ada")]}}})
        wait_for(
            lambda: (v := _users_status(kube, namespace).get("version")) not in (first, second) and v,
            30,
            "the removal to be published",
        )
        document = _document(aws_environment, arn)
        assert [u["username"] for u in document["users"]] == ["ada"]
        assert document["removed"] == ["bob"]

        stack = kube.get_stack(namespace, "airflow")
        events = [f"{e.reason} {e.message}" for e in kube.events_for(namespace, "airflow")]
        cloudformation = aws_environment.client("cloudformation")
        described = cloudformation.describe_stacks(StackName=default_stack_name(namespace, "airflow"))[
            "Stacks"
        ][0]
        template = cloudformation.get_template(StackName=default_stack_name(namespace, "airflow"))[
            "TemplateBody"
        ]
        kube.delete_stack(namespace, "airflow")
        wait_for(lambda: kube.get_stack(namespace, "airflow") is None, 60, "the TurbineStack to be deleted")
    places = {
        "status": json.dumps(stack),
        "events": json.dumps(events),
        "logs": "\n".join(logs),
        "parameters": json.dumps(described.get("Parameters", [])),
        "template": json.dumps(template, default=str),
        "report": aws_environment.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"],
    }
    assert logs, "the log capture saw nothing, so it proves nothing"
    assert [place for place, text in places.items() for password in (FIRST, SECOND) if password in text] == []


@pytest.mark.usefixtures("users_templates")
def test_a_missing_password_secret_stalls_naming_the_user(
    kube: KubeApi, namespace: str, template_bucket: str
) -> None:
    with running_operator([namespace]):
        kube.create_stack(
            namespace, turbine_stack("airflow", template_bucket, airflow={"users": [_user("ada")]})
        )
        body = kube.wait_condition(namespace, "airflow", "Stalled", timeout=60)
        stalled = next(c for c in body["status"]["conditions"] if c["type"] == "Stalled")
        assert stalled["reason"] == "ReferenceNotFound"
        assert stalled["message"].startswith(
            "spec.airflow.users[ada].passwordSecretKeyRef: Secret airflow-users"
        )
        kube.delete_stack(namespace, "airflow")
        wait_for(lambda: kube.get_stack(namespace, "airflow") is None, 60, "the TurbineStack to be deleted")


TOKEN = "ghp_integration-token-1"
REPOSITORY = "https://git.example.com/data/dags.git"


@pytest.mark.usefixtures("users_templates")
def test_a_dag_source_reaches_the_stack_its_credentials_the_secret_and_its_report_the_status(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    kube.put_secret(namespace, "dag-repository", {"token": TOKEN})
    dags = {
        "git": {
            "url": REPOSITORY,
            "subdir": "dags",
            "credentials": {
                "username": "x-access-token",
                "passwordSecretKeyRef": {"name": "dag-repository", "key": "token"},
            },
        }
    }
    with _every_log_message() as logs, running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("airflow", template_bucket, airflow={"dags": dags}))
        kube.wait_condition(namespace, "airflow", "Ready", timeout=60)
        stack_name = default_stack_name(namespace, "airflow")
        cloudformation = aws_environment.client("cloudformation")
        described = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        parameters = {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}
        [_, bundle] = json.loads(base64.b64decode(parameters["DagBundle"]))
        assert bundle["kwargs"] == {"repo_url": REPOSITORY, "tracking_ref": "main", "subdir": "dags",
                                    "refresh_interval": 60, "git_conn_id": "turbine_dags"}  # fmt: skip
        outputs = kube.get_stack(namespace, "airflow")["status"]["outputs"]  # type: ignore[index]
        version = wait_for(
            lambda: (
                ((kube.get_stack(namespace, "airflow") or {}).get("status") or {})
                .get("dags", {})
                .get("credentialsVersion")
            ),
            30,
            "the credentials to be published",
        )
        connection = _document(aws_environment, outputs["DagsConnectionSecretArn"])
        assert connection == {"conn_type": "git", "host": REPOSITORY, "login": "x-access-token",
                              "password": TOKEN, "version": version}  # fmt: skip

        # The scheduler reports a broken commit (turbine-dag-report.py); 120 s on, the operator reads it.
        broken = [{"file": "broken.py", "error": "ModuleNotFoundError: No module named 'x'"}]
        report = {"revision": "b" * 40, "refreshed": "2026-11-26T10:00:00+00:00", "importErrors": broken}
        aws_environment.client("ssm").put_parameter(
            Name=outputs["DagsReportParameter"], Value=json.dumps(report), Type="String", Overwrite=True
        )
        kube.custom.patch_namespaced_custom_object_status(
            "turbine.dev", "v1alpha1", namespace, "turbinestacks", "airflow",
            {"status": {"dags": {"checkedTime": "2026-01-01T00:00:00Z"}}},
        )  # fmt: skip
        dags_status = wait_for(
            lambda: (
                (
                    d := ((kube.get_stack(namespace, "airflow") or {}).get("status") or {}).get("dags") or {}
                ).get("revision")
                == "b" * 40
                and d
            ),
            30,
            "the report to reach status.dags",
        )
        assert dags_status["importErrors"] == [
            {"file": "broken.py", "error": "ModuleNotFoundError: No module named 'x'"}
        ]
        assert dags_status["credentialsVersion"] == version
        warnings = [e for e in kube.events_for(namespace, "airflow") if e.reason == "DagImportErrors"]
        assert warnings
        assert warnings[0].type == "Warning"
        assert "broken.py" in warnings[0].message
        body = kube.get_stack(namespace, "airflow")
        events = [f"{e.reason} {e.message}" for e in kube.events_for(namespace, "airflow")]
        kube.delete_stack(namespace, "airflow")
        wait_for(lambda: kube.get_stack(namespace, "airflow") is None, 60, "the TurbineStack to be deleted")
    places = {
        "status": json.dumps(body),
        "events": json.dumps(events),
        "logs": "\n".join(logs),
        "parameters": json.dumps(parameters),
        "template": json.dumps(
            cloudformation.get_template(StackName=stack_name)["TemplateBody"], default=str
        ),
    }
    assert [place for place, text in places.items() if TOKEN in text] == []


@pytest.mark.usefixtures("users_templates")
def test_a_turbinestack_naming_someone_elses_stack_never_writes_its_users_or_credentials_there(
    kube: KubeApi, namespace: str, template_bucket: str, aws_environment: EmbeddedAws
) -> None:
    # The users secret makes Airflow users (Admins included) and the connection secret is the DAG repository's
    # credentials: a TurbineStack that names another's stack in spec.stackName must get neither written.
    kube.put_secret(namespace, "airflow-users", {"mallory": FIRST})
    kube.put_secret(namespace, "dag-repository", {"token": TOKEN})
    with running_operator([namespace]):
        kube.create_stack(namespace, turbine_stack("airflow", template_bucket))
        kube.wait_condition(namespace, "airflow", "Ready", timeout=60)
        outputs = kube.get_stack(namespace, "airflow")["status"]["outputs"]  # type: ignore[index]
        users, connection = outputs["AirflowUsersSecretArn"], outputs["DagsConnectionSecretArn"]
        before = (_document(aws_environment, users), _document(aws_environment, connection))

        dags = {
            "git": {
                "url": REPOSITORY,
                "credentials": {
                    "username": "x",
                    "passwordSecretKeyRef": {"name": "dag-repository", "key": "token"},
                },
            }
        }
        intruder = turbine_stack(
            "intruder",
            template_bucket,
            stackName=default_stack_name(namespace, "airflow"),
            airflow={"users": [_user("mallory")], "dags": dags},
        )
        kube.create_stack(namespace, intruder)
        stalled = kube.wait_condition(namespace, "intruder", "Stalled", timeout=30)
        assert condition_of(stalled, "Stalled")["reason"] == "StackNotOwned"  # type: ignore[index]
        # Two more looks: the settled timer's first one, and one asked for.
        kube.patch_stack(namespace, "intruder", {"metadata": {"annotations": {REQUEST_ANNOTATION: "now"}}})
        time.sleep(3.0)
        assert (_document(aws_environment, users), _document(aws_environment, connection)) == before
        status = kube.get_stack(namespace, "intruder")["status"]  # type: ignore[index]
        assert not status.get("outputs")
        assert "airflowUsers" not in status
        assert not (status.get("dags") or {}).get("credentialsSecretArn")
