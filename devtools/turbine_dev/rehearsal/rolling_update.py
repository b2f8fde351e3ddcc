"""A rolling update of the API servers, as CloudFormation runs the webserver group's UpdatePolicy.

AutoScalingRollingUpdate with MaxBatchSize 1 and MinInstancesInService 1 on a group at MaxSize: for
each old instance CloudFormation terminates it (the group deregisters it, its target drains),
launches the replacement, and waits for the replacement's SUCCESS signal (WaitOnResourceSignals)
before the next batch.
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-attribute-updatepolicy.html

Meanwhile the harness samples, every second, the healthy targets the load balancers' health checks
see (turbine_dev.rehearsal.services.target_health) and whether the UI answers through the load balancer. The
report gives the fewest healthy API servers seen during the roll and how long it took.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from typing import Any

from turbine_dev.rehearsal.cluster import BootFailure, Cluster, Instance
from turbine_dev.rehearsal.services.target_health import HealthChecker

RESOURCE = "WebserverGroup"


class Sampler:
    def __init__(self, checker: HealthChecker, url: str) -> None:
        self.checker, self.url = checker, url
        self.healthy: list[int] = []
        self.ui_failures = 0
        self.stopped = threading.Event()

    def sample(self) -> None:
        # The fewest over the target groups: the UI's group is the one users reach.
        per_group = self.checker.healthy()
        self.healthy.append(min((len(t) for t in per_group.values()), default=0))
        try:
            with urllib.request.urlopen(self.url, timeout=5) as reply:  # noqa: S310 - the stand-in VPC
                ok = reply.status == 200
        except (OSError, urllib.error.URLError):
            ok = False
        self.ui_failures += 0 if ok else 1

    def start(self) -> None:
        def loop() -> None:
            while not self.stopped.is_set():
                self.sample()
                self.stopped.wait(1.0)

        threading.Thread(target=loop, daemon=True, name="roll-sampler").start()


def _group_instances(cluster: Cluster, group: str) -> set[str]:
    [described] = cluster.aws.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group]
    )["AutoScalingGroups"]
    return {item["InstanceId"] for item in described["Instances"]}


def roll_api_servers(cluster: Cluster, checker: HealthChecker, ui_url: str, report: dict[str, Any]) -> None:
    checks, figures = report["checks"], report["figures"]
    autoscaling = cluster.aws.client("autoscaling")
    olds = [i for i in cluster.instances if i.role == "webserver"]
    sampler = Sampler(checker, ui_url)
    started = time.monotonic()
    sampler.start()
    try:
        for old in olds:
            group = old.group
            before = _group_instances(cluster, group)
            # The group deregisters the instance from its target groups as it terminates it.
            autoscaling.terminate_instance_in_auto_scaling_group(
                InstanceId=old.instance_id, ShouldDecrementDesiredCapacity=True
            )
            [described] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
                "AutoScalingGroups"
            ]
            autoscaling.set_desired_capacity(
                AutoScalingGroupName=group, DesiredCapacity=described["DesiredCapacity"] + 1
            )
            [new_id] = _group_instances(cluster, group) - (before - {old.instance_id}) - {old.instance_id}
            replacement = Instance(
                stack_logical_id=old.stack_logical_id, stack_name=old.stack_name, template=old.template,
                group=group, instance_id=new_id, index=len(cluster.instances),
                state=cluster.workdir / "instances" / new_id,
            )  # fmt: skip
            cluster.launch(replacement)
            # The old instance stops once its connections drained (the target group's delay).
            threading.Timer(checker_delay(checker), old.terminate).start()
            cluster.wait_for_signal(replacement, RESOURCE, timeout=1500)
    except BootFailure as failure:
        report["rolling_update_failure"] = str(failure)
    finally:
        sampler.stopped.set()
    figures["rolling_update_seconds"] = round(time.monotonic() - started, 1)
    figures["rolling_update_min_healthy_api_servers"] = min(sampler.healthy, default=0)
    figures["rolling_update_ui_failed_samples"] = sampler.ui_failures
    figures["rolling_update_samples"] = len(sampler.healthy)
    checks["rolling_update_keeps_a_healthy_api_server"] = (
        "rolling_update_failure" not in report and bool(sampler.healthy) and min(sampler.healthy) >= 1
    )


def checker_delay(checker: HealthChecker) -> float:
    from turbine_dev.rehearsal.services.target_health import health_checks  # noqa: PLC0415

    delays = [c.deregistration_delay for c in health_checks(checker.elbv2)]
    return max(delays, default=0.0) / checker.time_factor
