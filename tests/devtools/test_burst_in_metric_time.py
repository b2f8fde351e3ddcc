"""A burst from queue to drain in simulated metric time, with the production figures: the product's load
function, the worker set's policies and alarms as the template declares them, and the embedded AWS's Auto
Scaling (tests/devtools/test_metric_time.py deploys them), minute by minute.

The workers are simulated here, not real Celery (the boot rehearsal runs real ones): a worker takes
tasks BOOT_MINUTES after Auto Scaling launched it, runs at most its slots at once, holds each task's
message in flight until the task ends (Airflow's acks_late), protects itself from scale-in while a task
runs and clears it once idle (turbine-worker-drain.sh). moto shows a launched worker InService at once;
here it takes no task until it has booted.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import pytest

from turbine_dev.aws.metric_time import whole_minute_after

from .test_metric_time import GROUP, QUEUE, QUEUED_AT, _scaling, _workers, aws, deploy_scaling

__all__ = ["aws"]  # the fixture, used by name

MINUTE = datetime.timedelta(minutes=1)
BOOT_MINUTES = 6  # EC2 launch, the Airflow install and the boot (cfn/README.md's timeline)
TASK_QUEUED_TIMEOUT = datetime.timedelta(seconds=2400)  # turbine-bootstrap.sh


@dataclasses.dataclass
class Worker:
    launched: datetime.datetime
    tasks: dict[str, datetime.datetime] = dataclasses.field(default_factory=dict)  # receipt -> end


@dataclasses.dataclass
class Figures:
    first_decision: tuple[int, int] | None = None
    first_decision_seconds: float | None = None
    peak_running: int = 0
    longest_wait: datetime.timedelta = datetime.timedelta(0)
    last_done: datetime.datetime | None = None
    back_at_min_size: datetime.datetime | None = None
    killed: int = 0


class SimulatedWorkers:
    def __init__(self, aws: dict[str, Any], slots: int, task_minutes: int) -> None:
        self.aws, self.slots, self.task_minutes = aws, slots, task_minutes
        self.url = aws["sqs"].get_queue_url(QueueName=QUEUE)["QueueUrl"]
        self.workers: dict[str, Worker] = {}

    def instances(self) -> list[dict[str, Any]]:
        [group] = self.aws["autoscaling"].describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])[
            "AutoScalingGroups"
        ]
        return list(group["Instances"])

    def step(self, now: datetime.datetime, figures: Figures) -> None:
        present = {i["InstanceId"] for i in self.instances()}
        for instance_id in list(self.workers):
            if instance_id not in present:  # terminated by a scale-in
                figures.killed += len(self.workers.pop(instance_id).tasks)
        for instance_id in present - set(self.workers):
            self.workers[instance_id] = Worker(launched=now)
        for instance_id, worker in self.workers.items():
            for receipt, end in list(worker.tasks.items()):
                if end <= now:
                    self.aws["sqs"].delete_message(QueueUrl=self.url, ReceiptHandle=receipt)
                    del worker.tasks[receipt]
                    figures.last_done = now
            if now - worker.launched >= BOOT_MINUTES * MINUTE:
                self._take(worker, now, figures)
            self.aws["autoscaling"].set_instance_protection(
                AutoScalingGroupName=GROUP, InstanceIds=[instance_id], ProtectedFromScaleIn=bool(worker.tasks)
            )
        figures.peak_running = max(figures.peak_running, sum(len(w.tasks) for w in self.workers.values()))

    def _take(self, worker: Worker, now: datetime.datetime, figures: Figures) -> None:
        while len(worker.tasks) < self.slots:
            reply = self.aws["sqs"].receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=min(10, self.slots - len(worker.tasks)),
                VisibilityTimeout=43200, AttributeNames=["SentTimestamp"],
            )  # fmt: skip
            messages = reply.get("Messages", [])
            if not messages:
                return
            for message in messages:
                worker.tasks[message["ReceiptHandle"]] = now + self.task_minutes * MINUTE
                figures.longest_wait = max(figures.longest_wait, now - QUEUED_AT)


@pytest.mark.parametrize(
    ("tasks", "min_size", "max_size", "slots", "task_minutes"),
    [(200, 2, 10, 16, 10), (40, 1, 5, 4, 3)],
    ids=["production-200-tasks-10x16", "rehearsal-40-tasks-5x4"],
)
def test_a_burst_runs_at_the_group_s_capacity_and_drains_back_without_killing_a_task(
    aws: dict[str, Any], tasks: int, min_size: int, max_size: int, slots: int, task_minutes: int
) -> None:
    deploy_scaling(aws)
    aws["autoscaling"].update_auto_scaling_group(AutoScalingGroupName=GROUP, MinSize=min_size)
    _workers(aws, min_size, max_size=max_size)
    workers = SimulatedWorkers(aws, slots, task_minutes)
    figures = Figures()
    minute = whole_minute_after(QUEUED_AT) - MINUTE
    workers.step(minute - BOOT_MINUTES * MINUTE, figures)  # the running workers booted long ago
    url = workers.url
    for first in range(0, tasks, 10):
        entries = [{"Id": str(i), "MessageBody": f"task-{first + i}"} for i in range(min(10, tasks - first))]
        aws["sqs"].send_message_batch(QueueUrl=url, Entries=entries)
    scaling = _scaling(aws, slots=slots)

    while minute - QUEUED_AT < datetime.timedelta(hours=4):
        minute += MINUTE
        workers.step(minute, figures)
        for action in scaling.minute(minute):
            if figures.first_decision is None:
                figures.first_decision = (action.desired_before, action.desired_after)
                figures.first_decision_seconds = (action.at - QUEUED_AT).total_seconds()
        attributes = aws["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        left = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        if left == 0 and len(workers.instances()) == min_size and figures.last_done is not None:
            figures.back_at_min_size = minute
            break

    assert figures.last_done is not None
    assert figures.back_at_min_size is not None
    print(  # the figures of the burst, for cfn/README.md
        f"burst of {tasks} {task_minutes}-minute tasks on {min_size} running workers, maxSize {max_size} x"
        f" {slots} slots, {BOOT_MINUTES}-minute boots (simulated workers): first decision after"
        f" {figures.first_decision_seconds:.0f} s, {figures.first_decision} workers;"
        f" peak {figures.peak_running} tasks at once of {max_size * slots};"
        f" longest wait in the queue {figures.longest_wait};"
        f" last task done {figures.last_done - QUEUED_AT} after queueing;"
        f" back at {min_size} workers {figures.back_at_min_size - QUEUED_AT} after queueing;"
        f" tasks killed {figures.killed}"
    )
    assert figures.first_decision == (min_size, max_size)
    assert figures.peak_running >= 0.75 * max_size * slots
    assert figures.longest_wait < TASK_QUEUED_TIMEOUT
    assert figures.killed == 0
