"""Issue 24's burst: a backlog of several times what the workers can hold, queued at once, on a worker set
scaled down to this machine (MAX_WORKERS workers of WORKER_SLOTS slots; the product's are 10 of 16).

One run of `rehearsal_burst` queues BURST_TASKS short tasks. Real Airflow schedules them and real Celery
workers run them; the deployed load function, the alarms and the policies decide the group's capacity in
simulated metric time (turbine_dev.aws.metric_time): first as fast as it computes, up to the first
decision, then one simulated minute every TICK_SECONDS of wall time, so that the fifteen minutes the
shrink alarm waits and the policies' cooldowns pass in seconds while the tasks take their real time.
The harness is EC2 around it: it boots an instance the group launched, tells an instance held in
Terminating:Wait that it is to terminate (its target lifecycle state), and stops it once its lifecycle
action is completed and it has left the group.

Figures: the first decision (workers asked for), the most tasks running at once (from Airflow's own
start and end dates), seconds from the trigger to the last task's end, tasks failed, tasks that hit
task_queued_timeout, tasks lost to a scale-in, and the group's size once drained.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import json
import math
import threading
import time
import traceback
import urllib.error
from typing import Any

from turbine_dev.aws.metric_time import (
    EXTRA_PERIODS,
    Action,
    DeployedLoadFunction,
    GroupScaling,
    whole_minute_after,
)
from turbine_dev.rehearsal.cluster import Cluster, Instance
from turbine_dev.rehearsal.dag_files import BURST_TASKS, REVISION_KEY

DAG = "rehearsal_burst"
MAX_WORKERS = 5
WORKER_SLOTS = 4
TICK_SECONDS = 2.0
# Airflow's, as the stack sets it (cfn/scripts/turbine-bootstrap.sh).
TASK_QUEUED_TIMEOUT = 2400.0
TIMEOUT_SECONDS = 900.0
DONE = frozenset({"success", "failed", "upstream_failed", "skipped", "removed"})
STUCK_EVENTS = ("stuck in queued",)
MINUTE = datetime.timedelta(minutes=1)


class Airflow:
    """What the burst asks the REST API (scenarios.Api, passed in to keep the modules apart)."""

    def __init__(self, api: Any) -> None:
        self.api = api

    def task_instances(self, run_id: str) -> list[dict[str, Any]]:
        answer = self.api.call("GET", f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances?limit=100")
        return [dict(ti) for ti in answer.get("task_instances", [])]

    def stuck_in_queued_events(self) -> int:
        """The scheduler's event log entries for a task it found queued beyond task_queued_timeout."""
        answer = self.api.call("GET", f"/api/v2/eventLogs?dag_id={DAG}&limit=1000")
        events = answer.get("event_logs", [])
        return sum(1 for event in events if str(event.get("event", "")).startswith(STUCK_EVENTS))


@dataclasses.dataclass
class Worker:
    instance: Instance
    hostname: str
    told_at: float | None = None
    running_when_told: int = 0
    stopped_at: float | None = None
    deployed: bool = False


def _hostname(instance: Instance) -> str:
    return str(json.loads((instance.state / "config.json").read_text())["hostname"])


def _leaving(worker: Worker) -> bool:
    return worker.told_at is not None and worker.stopped_at is None


def _short(hostname: object) -> str:
    """A worker's host name as Airflow records it may be qualified; the instance's is not."""
    return str(hostname or "").split(".")[0]


def _instant(value: str | None) -> float | None:
    return None if not value else datetime.datetime.fromisoformat(value).timestamp()


def peak_concurrency(instances: list[dict[str, Any]]) -> int:
    """The most task instances running at one moment, from their start and end dates."""
    edges: list[tuple[float, int]] = []
    for ti in instances:
        start, end = _instant(ti.get("start_date")), _instant(ti.get("end_date"))
        if start is not None and end is not None:
            edges += [(start, 1), (end, -1)]
    running = peak = 0
    for _, step in sorted(edges):  # an end sorts before a start at the same instant
        running += step
        peak = max(peak, running)
    return peak


class Burst:
    def __init__(self, cluster: Cluster, api: Any, report: dict[str, Any]) -> None:
        self.cluster, self.airflow, self.report = cluster, Airflow(api), report
        self.group = cluster.outputs["WorkerAutoScalingGroupName"]
        self.clients = {n: cluster.aws.client(n) for n in ("lambda", "cloudwatch", "autoscaling", "sqs")}
        self.function = DeployedLoadFunction.of_group(self.clients, self.group)
        self.scaling = GroupScaling(self.clients, self.group, self.function)
        self.min_size = int(cluster.parameters["MinGroupSize"])
        self.workers: dict[str, Worker] = {}
        self.sampled_peak = 0

    # -- the group, as EC2 and Auto Scaling would act on it ---------------------------------------
    def described(self) -> dict[str, Any]:
        autoscaling = self.clients["autoscaling"]
        reply = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])
        [group] = reply["AutoScalingGroups"]
        return dict(group)

    def _template(self) -> Instance:
        return next(i for i in self.cluster.instances if i.role == "workerset")

    def adopt_running(self) -> None:
        """The workers already running (the group's minimum) are the burst's too: a scale-in may take them."""
        for instance in self.cluster.instances:
            alive = instance.process is not None and instance.process.poll() is None
            if instance.role == "workerset" and alive and instance.instance_id not in self.workers:
                self.workers[instance.instance_id] = Worker(instance, _hostname(instance), deployed=True)

    def launch_new(self, group: dict[str, Any]) -> None:
        """Boots each instance the group launched that has not booted yet."""
        known = {i.instance_id for i in self.cluster.instances}
        template = self._template()
        for item in group["Instances"]:
            if item["LifecycleState"] == "InService" and item["InstanceId"] not in known:
                instance = Instance(
                    stack_logical_id=template.stack_logical_id, stack_name=template.stack_name,
                    template=template.template, group=self.group, group_logical_id=template.group_logical_id,
                    instance_id=item["InstanceId"], index=len(self.cluster.instances),
                    state=self.cluster.workdir / "instances" / item["InstanceId"],
                )  # fmt: skip
                self.cluster.launch(instance)
                self.workers[instance.instance_id] = Worker(instance, _hostname(instance))

    def deploy_dags(self) -> None:
        """CodeDeploy deploys the group's last revision to each instance Auto Scaling launches, before it
        enters service ("Integrating CodeDeploy with Amazon EC2 Auto Scaling",
        https://docs.aws.amazon.com/codedeploy/latest/userguide/integrations-aws-auto-scaling.html; the
        deployment group holds the worker group, turbine-cluster.yaml): here as soon as the bootstrap has
        made the airflow user the revision's permissions name, well before it starts Celery."""
        bucket = self.cluster.outputs["DeploymentsBucketName"]
        for worker in self.workers.values():
            passwd = worker.instance.file("/etc/passwd")
            if worker.deployed or not passwd.is_file() or "\nairflow:" not in "\n" + passwd.read_text():
                continue
            result = worker.instance.run(
                ["codedeploy-agent-standin", bucket, REVISION_KEY],
                check=False,
                extra_env={"AWS_ENDPOINT_URL": self.cluster.aws.endpoint_url},
            )
            worker.deployed = result.returncode == 0

    def terminate(self, group: dict[str, Any], running: dict[str, int]) -> None:
        """An instance the scale-in holds in Terminating:Wait learns it through its metadata; one that has
        left the group (its lifecycle action completed) stops, as EC2 terminates it."""
        states = {item["InstanceId"]: item["LifecycleState"] for item in group["Instances"]}
        for worker in self.workers.values():
            instance = worker.instance
            if worker.told_at is None and states.get(instance.instance_id) == "Terminating:Wait":
                (instance.meta / "target-lifecycle-state").write_text("Terminated\n")
                worker.told_at = time.time()
                worker.running_when_told = running.get(worker.hostname, 0)
            elif worker.stopped_at is None and instance.instance_id not in states:
                # Gone from the group, told or not (without a hook EC2 terminates it at once): it stops,
                # with whatever still runs on it.
                if worker.told_at is None:
                    worker.told_at, worker.running_when_told = time.time(), running.get(worker.hostname, 0)
                worker.stopped_at = time.time()
                threading.Thread(target=instance.terminate, daemon=True).start()

    def retire_drained(self) -> None:
        """Workers an earlier scenario drained (their lifecycle action completed) leave the group and stop:
        that scenario asked Auto Scaling for no termination, so the group still lists them."""
        path = self.cluster.workdir / "lifecycle-actions.jsonl"
        records = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
        drained = {r["instance"] for r in records if r["action"] == "CompleteLifecycleAction"}
        states = {item["InstanceId"]: item["LifecycleState"] for item in self.described()["Instances"]}
        for instance in [i for i in self.cluster.instances if i.instance_id in drained]:
            if instance.instance_id in states:
                self.clients["autoscaling"].terminate_instance_in_auto_scaling_group(
                    InstanceId=instance.instance_id,
                    # Counted in the desired capacity only while in service.
                    ShouldDecrementDesiredCapacity=states[instance.instance_id] == "InService",
                )
            if instance.process is not None and instance.process.poll() is None:
                instance.terminate()

    # -- metric time -------------------------------------------------------------------------------
    def metric_start(self) -> datetime.datetime:
        """A whole minute from which no alarm's evaluation range reaches back to a minute an earlier
        scenario published in metric time: CloudWatch evaluates the most recent datapoints of its range
        (metric_time), so the last minute of scale_out_from_zero, 1 unserved task, started a worker."""
        environ = self.function.environ
        now = datetime.datetime.now(datetime.UTC)
        reply = self.clients["cloudwatch"].get_metric_statistics(
            Namespace=environ.get("METRIC_NAMESPACE", "Turbine"),
            MetricName=environ.get("QUEUED_METRIC_NAME", "QueuedTasks"),
            Dimensions=[{"Name": "AutoScalingGroupName", "Value": self.group}],
            StartTime=now - datetime.timedelta(hours=6), EndTime=now + datetime.timedelta(hours=6),
            Period=60, Statistics=["SampleCount"],
        )  # fmt: skip
        latest = [p["Timestamp"] for p in reply.get("Datapoints", [])]
        if not latest:
            return whole_minute_after(now)
        longest = max(int(a["EvaluationPeriods"]) * int(a["Period"]) for a in self.scaling.alarms())
        reach = datetime.timedelta(seconds=longest) + MINUTE * (EXTRA_PERIODS + 2)
        return whole_minute_after(max(now, max(latest) + reach))

    def queued_messages(self) -> int:
        sqs = self.clients["sqs"]
        url = sqs.get_queue_url(QueueName=self.function.environ["QUEUE_NAME"])["QueueUrl"]
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    # -- the run -----------------------------------------------------------------------------------
    def run(self) -> None:
        checks, figures = self.report["checks"], self.report["figures"]
        group = self.described()
        max_size = int(group["MaxSize"])
        self.retire_drained()
        self.adopt_running()
        autoscaling = self.clients["autoscaling"]
        autoscaling.update_auto_scaling_group(
            AutoScalingGroupName=self.group, MinSize=self.min_size,
            DesiredCapacity=max(self.min_size, int(self.described()["DesiredCapacity"])),
        )  # fmt: skip
        _wait_for_dag(self.airflow)
        triggered = time.time()
        run_id = self.airflow.api.trigger(DAG)
        # What the scheduler may queue at once: its parallelism and pool are MaxGroupSize x slots.
        backlog = min(BURST_TASKS, max_size * WORKER_SLOTS)
        deadline = time.monotonic() + 180
        while self.queued_messages() < backlog and time.monotonic() < deadline:
            time.sleep(1)
        figures["burst_seconds_to_queue_backlog"] = round(time.time() - triggered, 1)
        figures["burst_backlog_messages"] = self.queued_messages()

        since = self.metric_start()
        self.scaling.run(since, bool)
        first: Action | None = self.scaling.actions[0] if self.scaling.actions else None
        needed = min(max_size, math.ceil(BURST_TASKS / WORKER_SLOTS))
        figures["burst_first_decision_workers"] = first.desired_after if first else None
        figures["burst_workers_the_backlog_needs"] = needed
        self.report["burst_first_decision"] = (
            None if first is None else {
                "since": since.isoformat(), "at": first.at.isoformat(), "alarm": first.alarm,
                "policy_type": first.policy_type, "desired_before": first.desired_before,
                "desired_after": first.desired_after,
            }
        )  # fmt: skip
        checks["burst_first_decision_asks_for_the_workers_the_backlog_needs"] = (
            first is not None
            and first.policy_type == "TargetTrackingScaling"
            and first.desired_after >= needed
        )

        minute = first.at if first else since
        instances: list[dict[str, Any]] = []
        drained = False
        deadline = time.monotonic() + TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            tick = time.monotonic()
            group = self.described()
            self.launch_new(group)
            self.deploy_dags()
            # The API server may be too busy to answer; the next tick asks again.
            with contextlib.suppress(OSError, urllib.error.URLError):
                instances = self.airflow.task_instances(run_id)
            running: dict[str, int] = {}
            for ti in instances:
                if ti.get("state") == "running":
                    running[_short(ti.get("hostname"))] = running.get(_short(ti.get("hostname")), 0) + 1
            self.sampled_peak = max(self.sampled_peak, sum(running.values()))
            self.terminate(group, running)
            done = len(instances) >= BURST_TASKS and all(ti.get("state") in DONE for ti in instances)
            active = [i for i in group["Instances"] if i["LifecycleState"] == "InService"]
            leaving = [w for w in self.workers.values() if _leaving(w)]
            drained = done and int(group["DesiredCapacity"]) == len(active) == self.min_size and not leaving
            if drained:
                break
            minute += MINUTE
            self.scaling.minute(minute)
            time.sleep(max(0.0, TICK_SECONDS - (time.monotonic() - tick)))

        self.record(instances, triggered, drained, figures, checks)

    def record(
        self,
        instances: list[dict[str, Any]],
        triggered: float,
        drained: bool,
        figures: dict[str, Any],
        checks: dict[str, bool],
    ) -> None:
        ends = [t for t in (_instant(ti.get("end_date")) for ti in instances) if t is not None]
        succeeded = [ti for ti in instances if ti.get("state") == "success"]
        peak = peak_concurrency(instances)
        slots = MAX_WORKERS * WORKER_SLOTS
        waited = [
            start - queued
            for ti in instances
            if (start := _instant(ti.get("start_date"))) is not None
            and (queued := _instant(ti.get("queued_when"))) is not None
        ]
        try:
            stuck_events: int | None = self.airflow.stuck_in_queued_events()
        except (OSError, urllib.error.URLError):
            stuck_events = None
        queued_timeouts = sum(1 for seconds in waited if seconds >= TASK_QUEUED_TIMEOUT)
        scaled_in = {w.hostname for w in self.workers.values() if w.told_at is not None}
        # A task a scale-in killed failed, or ran again (another try).
        killed = [
            ti
            for ti in instances
            if _short(ti.get("hostname")) in scaled_in
            and (ti.get("state") != "success" or int(ti.get("try_number") or 1) > 1)
        ]
        shrinks = [a for a in self.scaling.actions if a.desired_after < a.desired_before]
        figures.update({
            "burst_tasks": BURST_TASKS,
            "burst_slots": f"{MAX_WORKERS} x {WORKER_SLOTS}",
            "burst_peak_running_tasks": peak,
            "burst_peak_running_tasks_sampled": self.sampled_peak,
            "burst_seconds_from_queue_to_last_task_done": round(max(ends) - triggered, 1) if ends else None,
            "burst_tasks_succeeded": len(succeeded),
            "burst_tasks_failed": len(instances) - len(succeeded),
            "burst_longest_queued_seconds": round(max(waited), 1) if waited else None,
            "burst_tasks_hit_task_queued_timeout": queued_timeouts + (stuck_events or 0),
            "burst_workers": len(self.workers),
            "burst_workers_scaled_in": len(scaled_in),
            "burst_tasks_running_on_workers_when_scaled_in": sum(
                w.running_when_told for w in self.workers.values()
            ),
            "burst_tasks_killed_on_scale_in": len(killed),
            "burst_group_size_after_drain": len(
                [i for i in self.described()["Instances"] if i["LifecycleState"] == "InService"]
            ),
            "burst_min_size": self.min_size,
            "burst_scale_in_decisions": len(shrinks),
        })  # fmt: skip
        self.report["burst_scaling_actions"] = [
            f"{a.at.isoformat()} {a.alarm.split('-')[0]} {a.desired_before}->{a.desired_after}"
            for a in self.scaling.actions
        ]
        checks["burst_concurrency_reaches_three_quarters_of_the_slots"] = peak >= math.ceil(0.75 * slots)
        checks["burst_every_task_succeeded"] = len(instances) == BURST_TASKS == len(succeeded)
        checks["burst_no_task_hit_task_queued_timeout"] = (
            stuck_events == 0 and queued_timeouts == 0 and len(waited) == BURST_TASKS
        )
        checks["burst_drains_to_min_size_killing_no_task"] = drained and not killed and bool(shrinks)


def _wait_for_dag(airflow: Airflow) -> None:
    deadline = time.monotonic() + 300
    while True:
        try:
            airflow.api.call("GET", f"/api/v2/dags/{DAG}")
            return
        except urllib.error.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(3)


def burst(cluster: Cluster, api: Any, report: dict[str, Any]) -> None:
    """The burst; a failure is reported with its checks false, and the scenarios after it still run."""
    try:
        Burst(cluster, api, report).run()
    except Exception as failure:  # reported, not raised: the rolling update follows
        report["burst_failure"] = f"{failure}\n{traceback.format_exc()}"
        for name in (
            "burst_first_decision_asks_for_the_workers_the_backlog_needs",
            "burst_concurrency_reaches_three_quarters_of_the_slots",
            "burst_every_task_succeeded",
            "burst_no_task_hit_task_queued_timeout",
            "burst_drains_to_min_size_killing_no_task",
        ):
            report["checks"].setdefault(name, False)
