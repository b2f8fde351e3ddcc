"""The stack created in the embedded AWS from the operator's own rendering, and its instances booted.

The operator renders the TurbineStack (turbine_operator.core.render.rendering.desired_stack), its bundle
is uploaded as the operator uploads it, and the master stack is created in the embedded AWS.
Then each nested role stack's instances boot in the order CloudFormation would create the
stacks (creation_order), each with the user data of its own launch template.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.rehearsal.creation_order import signalled_resources, stack_waves
from turbine_dev.rehearsal.host import image, network, role_credentials
from turbine_dev.rehearsal.host.launch import LaunchRefused, launch
from turbine_dev.rehearsal.services.dag_repository import DagRepository
from turbine_operator.adapters.sources import load_turbine_sources
from turbine_operator.core.api.spec import parse_spec
from turbine_operator.core.render.rendering import Owner, desired_stack
from turbine_operator.core.render.templates import load_template

CLUSTER_TEMPLATE = "turbine-cluster.yaml"
_NESTED_TEMPLATE = re.compile(r"templates/([a-z0-9-]+\.yaml)")
_AWS_HOSTS = re.compile(r"[A-Za-z0-9.-]+\.(?:rds|elb)\.amazonaws\.com")


class BootFailure(AssertionError):
    pass


@dataclasses.dataclass
class Instance:
    stack_logical_id: str
    stack_name: str
    template: str
    group: str
    instance_id: str
    index: int
    state: Path
    group_logical_id: str = ""
    process: subprocess.Popen[bytes] | None = None
    address: str = ""
    netns: str = ""
    netns_fd: int = -1
    booted_at: float = 0.0

    @property
    def meta(self) -> Path:
        return self.state / "meta"

    def terminate(self) -> None:
        """EC2's termination of the instance: its init is told to stop, then it is gone."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()

    @property
    def role(self) -> str:
        return self.template.removeprefix("turbine-").removesuffix(".yaml")

    def file(self, path: str) -> Path:
        """A file of the instance's root as the instance wrote it (its overlay's upper layer)."""
        return self.state / "upper" / path.lstrip("/")

    def log(self, lines: int = 60) -> str:
        parts = []
        for path in [
            self.file("/var/log/cloud-init-output.log"),
            *sorted(self.file("/var/log/journal").glob("*.log")),
        ]:
            if path.is_file():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {self.instance_id} ({self.role}) {path.name} ---\n" + "\n".join(text))
        return "\n".join(parts) or f"--- {self.instance_id} ({self.role}): no log written ---"

    def signals(self) -> list[dict[str, Any]]:
        """The SignalResource calls the embedded AWS received from this instance (its unique id)."""
        path = self.state.parents[1] / "resource-signals.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
        return [record for record in records if record["unique_id"] == self.instance_id]

    def user_data_exit(self) -> int | None:
        path = self.meta / "user-data-exit"
        return int(path.read_text().split()[0]) if path.is_file() else None

    def run(
        self, argv: list[str], check: bool = True, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A command inside the instance, as an administrator would run it through Session Manager."""
        assert self.process is not None
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
        env.update(extra_env or {})
        return subprocess.run(
            ["nsenter", "-t", str(self.process.pid), "-m", "-n", "-r", "-w", "--", *argv],
            check=check, capture_output=True, text=True, env=env,
        )  # fmt: skip


@dataclasses.dataclass
class Cluster:
    aws: EmbeddedAws
    workdir: Path
    master_stack: str
    outputs: dict[str, str]
    parameters: dict[str, str]
    templates: dict[str, dict[str, Any]]
    instances: list[Instance] = dataclasses.field(default_factory=list)
    host_map: dict[str, str] = dataclasses.field(default_factory=dict)
    venv: Path = Path()
    efs: Path = Path()
    dags: DagRepository | None = None

    # -- stack -----------------------------------------------------------------------------------
    def nested_stacks(self, stack: str) -> dict[str, str]:
        """Logical id -> stack name of the nested stacks of `stack`."""
        resources = self.aws.client("cloudformation").list_stack_resources(StackName=stack)[
            "StackResourceSummaries"
        ]
        return {
            r["LogicalResourceId"]: r["PhysicalResourceId"].split("/")[1]
            if r["PhysicalResourceId"].startswith("arn:")
            else r["PhysicalResourceId"]
            for r in resources
            if r["ResourceType"] == "AWS::CloudFormation::Stack"
        }

    def cluster_stack(self) -> tuple[str, dict[str, Any]]:
        """The stack created from turbine-cluster.yaml, found through the master template."""
        master = self.templates["turbine-master.yaml"]
        for logical_id, name in self.nested_stacks(self.master_stack).items():
            url = json.dumps(master["Resources"][logical_id]["Properties"]["TemplateURL"])
            if CLUSTER_TEMPLATE in url:
                return name, self.templates[CLUSTER_TEMPLATE]
        raise BootFailure("the master stack creates no cluster stack")

    def role_instances(self) -> list[list[Instance]]:
        """The instances of each creation wave of the cluster's nested stacks."""
        cluster_name, cluster = self.cluster_stack()
        nested = self.nested_stacks(cluster_name)
        cloudformation = self.aws.client("cloudformation")
        autoscaling = self.aws.client("autoscaling")
        waves: list[list[Instance]] = []
        for wave in stack_waves(cluster):
            members: list[Instance] = []
            for logical_id in wave:
                url = json.dumps(cluster["Resources"][logical_id]["Properties"]["TemplateURL"])
                match = _NESTED_TEMPLATE.search(url)
                assert match, url
                resources = cloudformation.list_stack_resources(StackName=nested[logical_id])[
                    "StackResourceSummaries"
                ]
                groups = [(r["LogicalResourceId"], r["PhysicalResourceId"]) for r in resources
                          if r["ResourceType"] == "AWS::AutoScaling::AutoScalingGroup"]  # fmt: skip
                for group_logical_id, group in groups:
                    [described] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
                        "AutoScalingGroups"
                    ]
                    for item in described["Instances"]:
                        index = sum(len(w) for w in waves) + len(members)
                        members.append(Instance(
                            stack_logical_id=logical_id, stack_name=nested[logical_id],
                            template=match.group(1),
                            group=group, group_logical_id=group_logical_id,
                            instance_id=item["InstanceId"], index=index,
                            state=self.workdir / "instances" / item["InstanceId"],
                        ))  # fmt: skip
            waves.append(members)
        return waves

    # -- instances -------------------------------------------------------------------------------
    def launch(self, instance: Instance) -> None:
        try:
            launched = launch(self.aws, instance.stack_name, instance.group_logical_id, instance.group)
        except LaunchRefused as refused:
            raise BootFailure(f"{instance.role}: {refused}") from refused
        user_data = launched.user_data
        for host in _AWS_HOSTS.findall(user_data):
            self.host_map.setdefault(host, network.GATEWAY if ".rds." in host else network.LOAD_BALANCER)
        state = instance.state
        for folder in ("upper", "work", "root", "meta"):
            (state / folder).mkdir(parents=True, exist_ok=True)
        instance.address = network.instance_address(instance.index)
        # EC2 associates the launch template's profile with the instance; the instance may replace it
        # (turbine-bootstrap.sh take_run_profile), and the metadata service then serves the other role's
        # credentials: each profile of the instance's stack gets its session's now.
        self.aws.client("ec2").associate_iam_instance_profile(
            IamInstanceProfile={"Arn": launched.profile_arn}, InstanceId=instance.instance_id
        )
        profiles = {
            arn: {"role_name": session.role,
                  "credentials": role_credentials.issue(self.workdir, session)}
            for arn, session in self.profile_sessions(instance).items()
        }  # fmt: skip
        (state / "meta" / "imds.json").write_text(json.dumps({
            "instance_id": instance.instance_id, "region": self.aws.region, "local_ipv4": instance.address,
            "user_data": user_data, "tags": launched.metadata(), "aws_endpoint": self.aws.endpoint_url,
            "launch_profile": launched.profile_arn, "profiles": profiles,
        }))  # fmt: skip
        hostname = f"ip-{instance.address.replace('.', '-')}"
        (state / "config.json").write_text(
            json.dumps({"efs_dir": str(self.efs), "venv": str(self.venv), "hostname": hostname})
        )
        upper = state / "upper"
        image.write_standins(upper)
        # Amazon Linux has /etc/sysconfig (services' environment files); Debian, the image here, has not.
        (upper / "etc/sysconfig").mkdir(parents=True, exist_ok=True)
        hosts = ["127.0.0.1 localhost"]
        hosts += [
            f"{network.instance_address(i)} ip-{network.instance_address(i).replace('.', '-')}"
            for i in range(32)
        ]
        hosts += [f"{address} {host}" for host, address in self.host_map.items()]
        (upper / "etc/hosts").write_text("\n".join(hosts) + "\n")
        # Names the rehearsal does not stand in for fail at once instead of timing out.
        (upper / "etc/resolv.conf").write_text(f"nameserver {network.GATEWAY}\n")
        (upper / "etc/systemd").mkdir(parents=True, exist_ok=True)
        # The SDKs reach AWS by its public endpoints; here they are the embedded AWS. Credentials
        # come from the instance profile through the metadata service, as on EC2.
        (upper / "etc/systemd/system.conf").write_text(
            f'[Manager]\nDefaultEnvironment="AWS_ENDPOINT_URL={self.aws.endpoint_url}"\n'
        )
        # pip reaches the stand-in for pypi.org (services.package_index), which serves the lock's files
        # only; the image already holds them all, installed by the bootstrap's own command.
        index = f"http://{network.GATEWAY}:{network.PACKAGE_INDEX_PORT}/simple/"
        (upper / "etc/pip.conf").write_text(f"[global]\nindex-url = {index}\n")
        devtools = str(Path(__file__).resolve().parents[2])
        operator = str(Path(__file__).resolve().parents[3] / "operator")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([devtools, operator])}
        log = (state / "instance.log").open("ab")
        instance.process = subprocess.Popen(
            ["unshare", "--mount", "--net", "--uts", "--propagation", "private", "--",
             sys.executable, "-m", "turbine_dev.rehearsal.host.instance", str(state)],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        # Popen returns before unshare(1) has entered the new namespaces: wire the network only after.
        own = os.readlink("/proc/self/ns/net")
        deadline = time.monotonic() + 30
        while os.readlink(f"/proc/{instance.process.pid}/ns/net") == own and time.monotonic() < deadline:
            time.sleep(0.05)
        network.attach(instance.process.pid, instance.index)
        # Held open, so that the namespace (and its inode number, which identifies it) is never reused
        # by another one while the rehearsal may still sweep processes by it.
        instance.netns_fd = os.open(f"/proc/{instance.process.pid}/ns/net", os.O_RDONLY)
        instance.netns = os.readlink(f"/proc/{instance.process.pid}/ns/net")
        instance.booted_at = time.time()
        (state / "meta" / "network-ready").touch()
        self.instances.append(instance)

    def profile_sessions(self, instance: Instance) -> dict[str, role_credentials.Session]:
        """profile ARN -> the session of its role on `instance`, for every instance profile of its stack."""
        cloudformation, iam = self.aws.client("cloudformation"), self.aws.client("iam")
        resources = cloudformation.list_stack_resources(StackName=instance.stack_name)[
            "StackResourceSummaries"
        ]
        roles = {r["PhysicalResourceId"]: r["LogicalResourceId"] for r in resources
                 if r["ResourceType"] == "AWS::IAM::Role"}  # fmt: skip
        sessions = {}
        for resource in resources:
            if resource["ResourceType"] != "AWS::IAM::InstanceProfile":
                continue
            profile = iam.get_instance_profile(InstanceProfileName=resource["PhysicalResourceId"])
            [role] = profile["InstanceProfile"]["Roles"]
            label = role_credentials.LABELS[roles[role["RoleName"]]]
            sessions[profile["InstanceProfile"]["Arn"]] = role_credentials.Session(
                role=role["RoleName"], label=label, session=instance.instance_id
            )
        return sessions

    def wait_for_signal(self, instance: Instance, resource: str, timeout: float) -> float:
        """Seconds from boot to the instance's SUCCESS signal; fails with its log otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for record in instance.signals():
                if record["stack"] != instance.stack_name or record["resource"] != resource:
                    raise BootFailure(
                        f"{instance.role} signalled {record['stack']}/{record['resource']}, "
                        f"not {instance.stack_name}/{resource}\n{instance.log()}"
                    )
                if record["status"] != "SUCCESS":
                    raise BootFailure(f"{instance.role} signalled FAILURE ({record})\n{instance.log()}")
                return float(record["time"]) - instance.booted_at
            exited = instance.user_data_exit()
            if exited is not None:
                time.sleep(1)
                if not instance.signals():
                    raise BootFailure(
                        f"{instance.role}: user data exited {exited} without a signal\n{instance.log()}"
                    )
            assert instance.process is not None
            if instance.process.poll() is not None:
                raise BootFailure(f"{instance.role}: the instance stopped\n{instance.log()}")
            time.sleep(1)
        raise BootFailure(f"{instance.role}: no signal within {timeout:.0f} s\n{instance.log()}")

    def wait_for_user_data(self, instance: Instance, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = instance.user_data_exit()
            if exited is not None:
                return exited
            time.sleep(1)
        raise BootFailure(f"{instance.role}: user data still running after {timeout:.0f} s\n{instance.log()}")

    def boot(self, signal_timeout: float, report: dict[str, Any]) -> None:
        """Boots every role in creation order; each wave waits for the previous wave's signals."""
        for wave in self.role_instances():
            report.setdefault("waves", []).append(sorted({i.stack_logical_id for i in wave}))
            for instance in wave:
                self.launch(instance)
            for instance in wave:
                template = self.templates[instance.template]
                awaited = signalled_resources(template)
                resource = next(
                    (
                        name
                        for name in awaited
                        if template["Resources"][name]["Type"].endswith("AutoScalingGroup")
                    ),
                    None,
                )
                if resource is None:
                    report.setdefault("signals", {})[instance.role] = "none expected (no CreationPolicy)"
                    continue
                seconds = self.wait_for_signal(instance, resource, signal_timeout)
                report.setdefault("signals", {})[instance.role] = f"SUCCESS after {seconds:.0f} s"

    def shutdown(self) -> None:
        for instance in self.instances:
            if instance.process is not None and instance.process.poll() is None:
                instance.process.send_signal(signal.SIGTERM)
        for instance in self.instances:
            if instance.process is not None:
                try:
                    instance.process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    instance.process.kill()
        # Whatever still runs in an instance's network namespace belonged to it.
        namespaces = {instance.netns for instance in self.instances if instance.netns}
        for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
            try:
                if os.readlink(f"/proc/{pid}/ns/net") in namespaces:
                    os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
        for instance in self.instances:
            if instance.netns_fd >= 0:
                os.close(instance.netns_fd)


_WORKER_SLOTS = re.compile(rb"(\n  WorkerSlots:\n    Celery:\n      Concurrency: )\d+\n")


def with_worker_slots(template: bytes, slots: int) -> bytes:
    """turbine-cluster.yaml with `slots` in its WorkerSlots mapping, which every consumer of Celery's
    worker_concurrency reads (the workers, the load function, the scheduler's limits)."""
    changed, count = _WORKER_SLOTS.subn(rb"\g<1>" + str(slots).encode() + b"\n", template)
    if count != 1:
        raise BootFailure("turbine-cluster.yaml has no WorkerSlots mapping of Celery's Concurrency")
    return changed


def create_stack(
    aws: EmbeddedAws,
    manifest: Path,
    bucket: str,
    airflow: dict[str, Any] | None = None,
    *,
    workers: dict[str, Any] | None = None,
    worker_slots: int | None = None,
) -> tuple[str, dict[str, str], dict[str, str]]:
    """Creates the master stack as the operator would; returns (stack name, outputs, parameters).

    `airflow` adds to the manifest's spec.airflow (the rehearsal's DAG repository), `workers` to its
    spec.workers; `worker_slots` replaces the template's fixed task slots per worker (a worker set scaled
    down to what this machine can run)."""
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["templateBucket"]["name"] = bucket
    document["spec"]["airflow"] = {**(document["spec"].get("airflow") or {}), **(airflow or {})}
    document["spec"]["workers"] = {**(document["spec"].get("workers") or {}), **(workers or {})}
    spec = parse_spec(document["spec"], namespace="default", name=document["metadata"]["name"],
                      default_region=aws.region)  # fmt: skip
    desired = desired_stack(
        spec, Owner("default", document["metadata"]["name"], "rehearsal"), load_turbine_sources(), {}
    )
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=bucket)
    for key, body in desired.bundle.files.items():
        scaled = body
        if worker_slots is not None and key.endswith(CLUSTER_TEMPLATE):
            scaled = with_worker_slots(body, worker_slots)
        s3.put_object(Bucket=bucket, Key=desired.key_prefix + key, Body=scaled)
    parameters = dict(desired.parameters)
    master = load_template(desired.bundle.files[desired.template_key], desired.template_key)
    for name, declared in master.get("Parameters", {}).items():
        if name.endswith("ImageId") and name not in parameters and "Default" not in declared:
            # The operator resolves the image id; any image of the embedded AWS will do here.
            parameters[name] = aws.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    cloudformation = aws.client("cloudformation")
    cloudformation.create_stack(
        StackName=desired.stack_name,
        TemplateURL=f"https://{bucket}.s3.{aws.region}.amazonaws.com/{desired.template_url_key}",
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=list(desired.capabilities),
        Tags=[{"Key": k, "Value": v} for k, v in desired.tags.items()],
    )
    deadline = time.monotonic() + 300
    while True:
        try:
            stack = cloudformation.describe_stacks(StackName=desired.stack_name)["Stacks"][0]
        except cloudformation.exceptions.ClientError as error:
            # A stack just created may not be visible to reads yet, as on AWS (eventual consistency; the
            # strict embedded CloudFormation shows it so, turbine_dev.strict.strict_cfn).
            if "does not exist" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(1)
            continue
        if not stack["StackStatus"].endswith("_IN_PROGRESS") or time.monotonic() > deadline:
            break
        time.sleep(1)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise BootFailure(f"the stack did not create in the embedded AWS: {stack.get('StackStatusReason')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return desired.stack_name, outputs, parameters


def load_templates(cfn: Path) -> dict[str, dict[str, Any]]:
    return {path.name: load_template(path.read_bytes(), str(path)) for path in sorted(cfn.glob("*.yaml"))}
