"""The rehearsal's own parts that need no root: stack order, unit files, metadata answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from turbine_dev.rehearsal.burst import peak_concurrency
from turbine_dev.rehearsal.cluster import with_worker_slots
from turbine_dev.rehearsal.creation_order import signalled_resources, stack_waves
from turbine_dev.rehearsal.host.imds import lookup
from turbine_dev.rehearsal.host.units import expand, parse_sections, read_environment_file

STACK = "AWS::CloudFormation::Stack"


def test_waves_follow_refs_getatts_and_depends_on_also_through_other_resources() -> None:
    template = {
        "Resources": {
            "Web": {"Type": STACK, "Properties": {"Parameters": {"Db": {"Ref": "Database"}}}},
            "Database": {"Type": "AWS::RDS::DBInstance"},
            "Sched": {"Type": STACK, "Properties": {"Url": {"Fn::GetAtt": ["Web", "Outputs.Url"]}}},
            "Hook": {"Type": "AWS::SQS::Queue", "DependsOn": "Sched"},
            "Workers": {"Type": STACK, "DependsOn": ["Hook"], "Properties": {}},
            "Other": {"Type": STACK, "Properties": {"Text": {"Fn::Sub": "x-${Database.Endpoint.Address}"}}},
        }
    }
    assert stack_waves(template) == [["Other", "Web"], ["Sched"], ["Workers"]]


def test_signalled_resources_are_those_with_a_resource_signal_creation_policy() -> None:
    template = {
        "Resources": {
            "Group": {"Type": "AWS::AutoScaling::AutoScalingGroup",
                      "CreationPolicy": {"ResourceSignal": {"Count": {"Ref": "Size"}}}},
            "Other": {"Type": "AWS::AutoScaling::AutoScalingGroup"},
        }
    }  # fmt: skip
    assert signalled_resources(template) == ["Group"]


def test_unit_sections_keep_repeated_keys_and_environment_files_lose_their_quotes() -> None:
    sections = parse_sections("[Service]\nExecStartPre=/bin/a\nExecStartPre=-/bin/b\n# c\nUser=airflow\n")
    assert sections["Service"]["ExecStartPre"] == ["/bin/a", "-/bin/b"]
    assert read_environment_file("A='x y'\n# no\nB=\"z\"\nC=plain\n") == {"A": "x y", "B": "z", "C": "plain"}
    assert expand(["run", "${A}", "$B"], {"A": "1", "B": "2"}) == ["run", "1", "2"]


CREDENTIALS = {"AccessKeyId": "ASIA0123456789ABCDEF", "SecretAccessKey": "s", "Token": "t"}
PROFILE = "arn:aws:iam::123456789012:instance-profile/p"
LAUNCH_PROFILES: dict[str, Any] = {PROFILE: {"role_name": "r", "credentials": CREDENTIALS}}
PROFILES: dict[str, Any] = {"launch_profile": PROFILE, "profiles": LAUNCH_PROFILES}


def test_metadata_answers_the_lifecycle_state_the_harness_sets(tmp_path: Path) -> None:
    data = {"instance_id": "i-1", "region": "us-east-1", "local_ipv4": "10.0.0.1", "user_data": "#!/bin/bash",
            "tags": {"team": "data"}, **PROFILES}  # fmt: skip
    (tmp_path / "imds.json").write_text(json.dumps(data))
    assert lookup(tmp_path, "/latest/meta-data/autoscaling/target-lifecycle-state") == "InService"
    (tmp_path / "target-lifecycle-state").write_text("Terminated\n")
    assert lookup(tmp_path, "/latest/meta-data/autoscaling/target-lifecycle-state") == "Terminated"
    assert lookup(tmp_path, "/latest/meta-data/tags/instance") == "team"
    assert lookup(tmp_path, "/latest/meta-data/tags/instance/team") == "data"
    assert lookup(tmp_path, "/latest/meta-data/iam/security-credentials/") == "r"
    served = json.loads(lookup(tmp_path, "/latest/meta-data/iam/security-credentials/r") or "")
    assert served["Code"] == "Success"
    # The session's own credentials, by which the embedded AWS knows its role (host/role_credentials.py).
    assert {key: served[key] for key in CREDENTIALS} == CREDENTIALS


def test_metadata_serves_the_role_of_the_profile_associated_now(tmp_path: Path) -> None:
    # An instance that replaced its launch profile (ReplaceIamInstanceProfileAssociation) gets the other
    # role's credentials; the association is looked up beside the request path, never in it (Association).
    run = "arn:aws:iam::123456789012:instance-profile/run"
    other = {"AccessKeyId": "ASIAFEDCBA9876543210", "SecretAccessKey": "s2", "Token": "t2"}
    profiles = {**LAUNCH_PROFILES, run: {"role_name": "run-role", "credentials": other}}
    data = {"instance_id": "i-1", "region": "us-east-1", "local_ipv4": "10.0.0.1", "user_data": "",
            "tags": None, "launch_profile": PROFILE, "profiles": profiles}  # fmt: skip
    (tmp_path / "imds.json").write_text(json.dumps(data))
    assert lookup(tmp_path, "/latest/meta-data/iam/security-credentials/") == "r"
    assert lookup(tmp_path, "/latest/meta-data/iam/security-credentials/", run) == "run-role"
    assert lookup(tmp_path, "/latest/meta-data/iam/security-credentials/r", run) is None
    served = json.loads(lookup(tmp_path, "/latest/meta-data/iam/security-credentials/run-role", run) or "")
    assert {key: served[key] for key in other} == other


def test_metadata_has_no_tags_where_the_launch_template_keeps_them_out(tmp_path: Path) -> None:
    data = {"instance_id": "i-1", "region": "us-east-1", "local_ipv4": "10.0.0.1", "user_data": "#!/bin/bash",
            "tags": None, **PROFILES}  # fmt: skip
    (tmp_path / "imds.json").write_text(json.dumps(data))
    assert lookup(tmp_path, "/latest/meta-data/tags/instance") is None
    assert lookup(tmp_path, "/latest/meta-data/instance-id") == "i-1"
    assert lookup(tmp_path, "/latest/meta-data/iam/security-credentials/r") is not None


def test_the_burst_s_peak_is_the_most_tasks_running_at_one_moment() -> None:
    def ti(start: int, end: int) -> dict[str, Any]:
        return {"start_date": f"2026-12-08T00:{start:02d}:00Z", "end_date": f"2026-12-08T00:{end:02d}:00Z"}

    # Two overlap, a third starts as the first ends (not running together), a fourth never started.
    instances = [ti(0, 2), ti(1, 3), ti(2, 4), {"start_date": None, "end_date": None}]
    assert peak_concurrency(instances) == 2
    assert peak_concurrency([ti(0, 5)] * 15) == 15


def test_the_scaled_down_worker_set_changes_only_the_slots_of_a_worker() -> None:
    template = (Path(__file__).resolve().parents[2] / "cfn/templates/turbine-cluster.yaml").read_bytes()
    scaled = with_worker_slots(template, 4)
    [removed] = [line for line in template.splitlines() if line not in scaled.splitlines()]
    [added] = [line for line in scaled.splitlines() if line not in template.splitlines()]
    assert (removed.strip(), added.strip()) == (b"Concurrency: 16", b"Concurrency: 4")
