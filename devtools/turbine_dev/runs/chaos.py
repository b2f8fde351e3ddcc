"""Chaos trials: TurbineStacks created, updated and deleted while the operator is SIGKILLed and AWS fails.

One trial is one seed. The seed draws the plan (which TurbineStacks, which updates and deletes, the
pauses between them), the moments the operator is killed and the emulator's fault sequence, so
`CHAOS_SEED=<n>` replays a trial (the operator's own timing still varies from run to run). The
operator dies two ways: at random moments (a timer), and right after a mutating AWS call returned and
before its status write (the embedded CloudFormation's kill-after-mutation hook). At the end of the
trial, with a last operator left alive, every invariant of issue 12 is checked: every TurbineStack
converged, exactly one stack per TurbineStack, no orphaned stack, no stack touched by a non-owner; and
then, of issue 25, that nothing creates a change set for QUIET_SECONDS while neither a spec nor a stack
changes (a replayed token or an accepted empty change set used to loop unseen).

What the users do is planned in turbine_dev.runs.chaos_plan. A TurbineStack whose update the embedded AWS
rolled back must say so (Stalled UpdateRolledBack, its stack rolled back indeed), and its user then
changes the spec to try again, as the condition's message asks.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import os
import random
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi, condition_of
from turbine_dev.runs.chaos_plan import OTHER_ACCOUNT, OTHER_ACCOUNT_ROLE, Step, plan_trial
from turbine_dev.runs.operator_process import start_operator_process
from turbine_dev.runs.probes import turbine_stack
from turbine_dev.runs.processes import ManagedProcess
from turbine_operator.core.naming import (
    MANAGED_BY_TAG,
    OWNER_NAME_TAG,
    OWNER_NAMESPACE_TAG,
    OWNER_UID_TAG,
    default_stack_name,
    namespace_segment,
)

FAULT_RATE = 0.3
# Of the injected 5xx and dropped connections, the share applied with the response lost.
LOSE_RESPONSE_RATE = 0.5
# Short enough for twenty trials in a few minutes, long enough that kills land in the middle of operations.
OPERATION_SECONDS = 1.0
CHANGE_SET_SECONDS = 0.5
# Change sets take realistic times compressed fifty-fold (nested ones 0.2 to 4.8 s, median 0.7 s), so
# edits often fall within one computation; a new one is invisible to DescribeChangeSet for a moment.
REALISTIC_TIME_FACTOR = 0.02
DESCRIBE_CHANGE_SET_LAG_SECONDS = 0.3
KILL_AFTER_MUTATION_PROBABILITY = 0.3
# The kill follows the mutation's response at once: any later, and a busy machine lets the operator
# write its status first, which is exactly the window these kills are for.
KILL_DELAY_SECONDS = 0.0
TIMER_KILL_SECONDS = (1.0, 6.0)  # counted from the operator's start-up message
MIN_KILLS = 3
CONVERGENCE_SECONDS = 120.0
# After convergence, how long the last operator is watched for CreateChangeSet calls nothing asked for.
# Issue 25 asks for 60 s at production pace; the trials poll every 0.5 s instead of 15 s, so 15 s here
# holds thirty looks, more than 60 s would at production pace, and a looping reconcile shows many times.
QUIET_SECONDS = float(os.environ.get("CHAOS_QUIET_SECONDS", "15"))
RECREATE_WAIT_SECONDS = 60.0
# UPDATE_ROLLBACK_COMPLETE too: "Successful return of one or more stacks to a previous working state after a
# failed stack update" (stack status codes, User Guide), a state updates start from. A rolled-back stack whose
# previous state is what the spec says again (maxSize A, B rolled back, A again) is converged; its
# parameters are checked as any other's.
SETTLED_STATUSES = frozenset({"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE"})
# A user waits this long for status.stackId before pointing spec.roleArn elsewhere (the stack exists).
RECORDED_WAIT_SECONDS = 60.0
# The Stalled reasons of an update the embedded AWS failed, and the stack statuses that make them true.
ROLLED_BACK_REASONS = frozenset({"UpdateRolledBack", "UpdateRollbackFailed"})
ROLLED_BACK_STATUSES = frozenset({"UPDATE_ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_FAILED"})
MAX_RETRIES_PER_STACK = 3  # spec changes after a rollback, per TurbineStack
BYSTANDER_TEMPLATE = json.dumps(
    {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "A stack another team owns; the operator must never touch it.",
        "Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    }
)
OTHER_OWNER_TAGS = {
    MANAGED_BY_TAG: "turbine-operator",
    OWNER_NAMESPACE_TAG: "another-team",
    OWNER_NAME_TAG: "theirs",
    OWNER_UID_TAG: "00000000-0000-4000-8000-000000000000",
}


# ------------------------------------------------------------------------------------------- the figures


@dataclasses.dataclass
class Figures:
    """What the trials did and found; every count of a broken invariant must be zero."""

    trials: int = 0
    operator_starts: int = 0
    timer_kills: int = 0
    mutation_kills: int = 0
    aws_calls: int = 0
    faults: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    non_converged: int = 0
    duplicates: int = 0
    orphans: int = 0
    missing: int = 0
    touched_by_non_owner: int = 0
    crashes: int = 0
    churn: int = 0  # change sets created while nothing changed
    false_stalls: int = 0  # a rollback reported where the stack did not roll back
    # The perturbations carried out: retag, revisit, twice, rerole, rollback, rollback_failed,
    # delete_failed (each failure also counted "not reached" when no operation of the trial took it up),
    # and retry (a spec changed after a reported rollback).
    perturbations: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    failed_seeds: list[int] = dataclasses.field(default_factory=list)

    def count(self, violations: list[str]) -> None:
        """Counts a trial's violations by kind (the text before the first colon)."""
        kinds = collections.Counter(violation.split(":", 1)[0] for violation in violations)
        self.non_converged += kinds["not converged"] + kinds["stuck"]
        self.duplicates += kinds["duplicate"]
        self.orphans += kinds["orphan"]
        self.missing += kinds["missing"]
        self.touched_by_non_owner += kinds["touched by a non-owner"]
        self.crashes += kinds["crash"]
        self.churn += kinds["churn"]
        self.false_stalls += kinds["false stall"]

    def add(self, other: Figures) -> None:
        for field in dataclasses.fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if isinstance(mine, collections.Counter):
                mine.update(theirs)
            elif isinstance(mine, list):
                mine.extend(theirs)
            else:
                setattr(self, field.name, mine + theirs)

    def lines(self) -> list[str]:
        faults = ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults.items())) or "none"
        perturbations = (
            ", ".join(f"{kind} {count}" for kind, count in sorted(self.perturbations.items())) or "none"
        )
        return [
            f"chaos: {self.trials} trials, {self.operator_starts} operator starts, "
            f"{self.timer_kills + self.mutation_kills} SIGKILLs ({self.timer_kills} at random moments, "
            f"{self.mutation_kills} right after a mutating AWS call)",
            f"chaos: {self.aws_calls} AWS calls, {sum(self.faults.values())} injected faults ({faults})",
            f"chaos: non-converged {self.non_converged}, duplicates {self.duplicates}, "
            f"orphans {self.orphans}, missing stacks {self.missing}, "
            f"touched by a non-owner {self.touched_by_non_owner}, operator crashes {self.crashes}, "
            f"change sets while nothing changed {self.churn}, false rollback stalls {self.false_stalls}",
            f"chaos: perturbations {perturbations}",
            f"chaos: failed seeds {self.failed_seeds or 'none'}",
        ]


# ----------------------------------------------------------------------------------- the embedded AWS


def configure_emulator(aws: EmbeddedAws, *, fault_rate: float, seed: int) -> None:
    """Slow operations and transient faults, some of them after the mutation was applied."""
    aws.configure(
        operation_seconds=OPERATION_SECONDS,
        change_set_seconds=CHANGE_SET_SECONDS,
        realistic_time_factor=REALISTIC_TIME_FACTOR,
        describe_change_set_lag_seconds=DESCRIBE_CHANGE_SET_LAG_SECONDS,
        fault_rate=fault_rate,
        fault_seed=seed,
        lose_response_rate=LOSE_RESPONSE_RATE,
        kill_delay_seconds=KILL_DELAY_SECONDS,
    )


def faults_by_kind(stats: dict[str, Any]) -> collections.Counter[str]:
    return collections.Counter({str(kind): int(count) for kind, count in (stats.get("faults") or {}).items()})


def total_calls(stats: dict[str, Any]) -> int:
    return int(stats.get("calls") or 0)


# ----------------------------------------------------------------------------------- the operator


class EventLog:
    """What the harness did and when, next to the operator logs, to read them against each other."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, message: str) -> None:
        now = datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S.%f")[:-3]
        with self._lock, self.path.open("a") as out:
            out.write(f"{now} {message}\n")


class OperatorCycler(threading.Thread):
    """Keeps the operator running and kills it: at random moments, and after mutations (the emulator)."""

    def __init__(
        self,
        start: Callable[[int, Callable[[ManagedProcess], None]], ManagedProcess],
        aws: EmbeddedAws,
        seed: int,
        events: EventLog,
    ) -> None:
        super().__init__(name=f"chaos-operator-{seed}", daemon=True)
        self._start = start
        self._aws = aws
        self._seed = seed
        self._rng = random.Random(seed * 7919 + 1)  # noqa: S311 - reproducible, not a secret
        self._events = events
        self._stopping = threading.Event()
        self.first_started = threading.Event()
        self.starts = 0
        self.timer_kills = 0
        self.mutation_kills = 0
        self.crashes: list[str] = []
        self.error: BaseException | None = None
        self._current: ManagedProcess | None = None

    @property
    def kills(self) -> int:
        return self.timer_kills + self.mutation_kills

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        if self.error is not None:
            raise self.error

    def _arm(self, process: ManagedProcess) -> None:
        self._current = process
        seed = self._seed * 1000 + self.starts
        self._aws.kill_after_mutation(process.pid, KILL_AFTER_MUTATION_PROBABILITY, seed)
        self._events(f"operator pid {process.pid} started; kill-after-mutation armed (seed {seed})")

    def run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._one_life()
        except BaseException as error:  # reported by stop()
            self.error = error

    def _one_life(self) -> None:
        self.starts += 1
        try:
            process = self._start(self.starts, self._arm)
        except RuntimeError:
            # The emulator may kill it before it logged its start-up; anything else is a crash.
            if self._current is None or self._current.popen.returncode != -signal.SIGKILL:
                raise
            self.mutation_kills += 1
            self._events(f"operator pid {self._current.pid} killed after a mutation during start-up")
            return
        self.first_started.set()
        delay = self._rng.uniform(*TIMER_KILL_SECONDS)
        deadline = time.monotonic() + delay
        while time.monotonic() < deadline and process.running() and not self._stopping.is_set():
            time.sleep(0.05)
        if not process.running():
            code = process.popen.returncode
            process.kill()  # closes the log
            if code == -signal.SIGKILL:
                self.mutation_kills += 1
                self._events(f"operator pid {process.pid} killed after a mutating AWS call")
            else:
                self.crashes.append(
                    f"operator pid {process.pid} exited with {code} ({process.log_path.name})"
                )
                self._events(self.crashes[-1])
            return
        process.kill()
        if self._stopping.is_set():
            self._events(f"operator pid {process.pid} killed: the chaos phase is over")
        else:
            self.timer_kills += 1
            self._events(f"operator pid {process.pid} SIGKILLed after {delay:.2f} s")


def operator_starter(
    plane: ControlPlane, aws: EmbeddedAws, namespace: str, templates: Path, logs: Path
) -> Callable[[int, Callable[[ManagedProcess], None]], ManagedProcess]:
    """Starts operator number `index` of a trial; `spawned` runs before it connects to anything."""
    settings = {
        "TURBINE_POLL_INTERVAL": "0.5",
        "TURBINE_RESYNC_INTERVAL": "5",
        "TURBINE_WORKERS_INTERVAL": "1",
        "TURBINE_CFN_DIR": str(templates),
    }

    def start(index: int, spawned: Callable[[ManagedProcess], None]) -> ManagedProcess:
        return start_operator_process(
            plane,
            aws,
            logs / f"operator-{index:02d}.log",
            namespaces=[namespace],
            settings=settings,
            spawned=spawned,
            verbose=True,
        )

    return start


def one_life(
    start: Callable[[Callable[[ManagedProcess], None]], ManagedProcess],
    arm: Callable[[ManagedProcess], None],
    done: Callable[[], bool],
    timeout: float,
) -> bool:
    """Runs one operator until `done()`, its death or the timeout; True if it was SIGKILLed meanwhile.

    `arm` runs as soon as the process exists (to register it with the kill hook). A process that
    exits any other way is a crash, raised as such; one that is still alive at the end is killed.
    """
    spawned: list[ManagedProcess] = []

    def on_spawn(process: ManagedProcess) -> None:
        spawned.append(process)
        arm(process)

    try:
        process = start(on_spawn)
    except RuntimeError:
        if spawned and spawned[0].popen.returncode == -signal.SIGKILL:
            return True  # killed after a mutation before it had logged its start-up
        raise
    deadline = time.monotonic() + timeout
    while process.running() and time.monotonic() < deadline and not done():
        time.sleep(0.2)
    code = process.popen.poll()
    process.kill()
    if code is not None and code != -signal.SIGKILL:
        raise RuntimeError(f"the operator exited with {code}:\n{process.log_tail()}")
    return code == -signal.SIGKILL


def owned_stacks(cfn: Any, namespace: str, name: str, uid: str) -> list[dict[str, Any]]:
    """The stacks that are not gone and carry `uid` as their owner or the TurbineStack's stack name
    (the REVIEW_IN_PROGRESS stub a CREATE change set leaves carries no tags in moto)."""
    return [
        stack
        for stack in _all_stacks(cfn)
        if stack["StackStatus"] != "DELETE_COMPLETE"
        and (
            _tags(stack).get(OWNER_UID_TAG) == uid
            or stack["StackName"] == default_stack_name(namespace, name)
        )
    ]


def stack_operations(cfn: Any, namespace: str) -> collections.Counter[str]:
    """Stack-level events (CREATE_IN_PROGRESS, UPDATE_COMPLETE...) of every stack named for `namespace`,
    deleted ones included: one operation started is one *_IN_PROGRESS event."""
    counts: collections.Counter[str] = collections.Counter()
    for page in cfn.get_paginator("list_stacks").paginate():
        for summary in page["StackSummaries"]:
            if not summary["StackName"].startswith(namespace_segment(namespace)):
                continue
            for events in cfn.get_paginator("describe_stack_events").paginate(StackName=summary["StackId"]):
                counts.update(
                    event["ResourceStatus"]
                    for event in events["StackEvents"]
                    if event["ResourceType"] == "AWS::CloudFormation::Stack"
                )
    return counts


# ---------------------------------------------------------------------------------------------- a trial


@dataclasses.dataclass
class Incarnation:
    """One TurbineStack object (a uid): a re-created name is a new incarnation."""

    name: str
    uid: str
    created: datetime.datetime
    policy: str
    intruder: bool
    deleted: bool = False


@dataclasses.dataclass
class TrialResult:
    seed: int
    figures: Figures
    violations: list[str]
    logs: Path

    def failure_report(self) -> str:
        evidence = operator_evidence(self.logs, self.violations)
        return "\n".join(
            [
                f"chaos trial seed {self.seed} failed (replay: CHAOS_SEED={self.seed}); logs in {self.logs}",
                *(f"  - {violation}" for violation in self.violations),
                *self.figures.lines(),
                "operator log lines:",
                *evidence,
            ]
        )


class Trial:
    def __init__(
        self,
        seed: int,
        *,
        plane: ControlPlane,
        kube: KubeApi,
        aws: EmbeddedAws,
        bucket: str,
        templates: Path,
        logs: Path,
    ) -> None:
        self.seed = seed
        self.kube = kube
        self.aws = aws
        self.bucket = bucket
        self.logs = logs
        self.namespace = f"chaos-{seed}-{uuid.uuid4().hex[:6]}"
        self.stack_prefix = namespace_segment(self.namespace)  # this trial's default stack names start so
        self.bystander = f"{self.namespace}-bystander"
        self.plan = plan_trial(seed, self.bystander)
        self.events = EventLog(logs / "harness.log")
        self.start = operator_starter(plane, aws, self.namespace, templates, logs)
        # Only used while the emulator injects no faults (set-up and checks).
        self.cfn = aws.client("cloudformation")
        self.incarnations: list[Incarnation] = []
        self.expected: dict[str, int] = {}  # live name -> workers.maxSize
        self.expected_tags: dict[str, dict[str, str]] = {}  # live name -> spec.tags
        self.perturbations: collections.Counter[str] = collections.Counter()
        # name -> how often its spec was changed after a reported rollback
        self.retries: collections.Counter[str] = collections.Counter()
        self.false_stalls: list[str] = []
        self._rng = random.Random(seed * 104729 + 3)  # noqa: S311 - the retries' sizes; reproducible

    def run(self) -> TrialResult:
        self.kube.create_namespace(self.namespace)
        configure_emulator(self.aws, fault_rate=0.0, seed=self.seed)
        before_stats = self.aws.stats()
        self._create_bystander()
        bystander_before = self._bystander_state()
        self.events(f"seed {self.seed}: plan {self.plan}")
        configure_emulator(self.aws, fault_rate=FAULT_RATE, seed=self.seed)
        cycler = OperatorCycler(self.start, self.aws, self.seed, self.events)
        cycler.start()
        stuck: list[str] = []
        try:
            # The user's changes start once an operator is up; start-ups are slow on a busy machine.
            while not cycler.first_started.wait(0.5) and cycler.is_alive():
                pass
            for step in self.plan.steps:
                time.sleep(step.pause)
                self._perform(step)
            time.sleep(self.plan.tail)
            # At least one operator dies after the last change, wherever its start-up got to.
            last_started = cycler.starts
            while (cycler.kills < MIN_KILLS or cycler.starts <= last_started) and cycler.is_alive():
                time.sleep(0.1)
        except TrialStuck as error:
            stuck.append(f"stuck: {error}")
        finally:
            cycler.stop()
            self.aws.kill_after_mutation(None)
        final = self.start(cycler.starts + 1, lambda process: self.events(f"last operator pid {process.pid}"))
        try:
            converged = self._wait_converged()
            churn = [] if converged else self._churn()
        finally:
            final.kill()
        # A failure injected for an operation the chaos overtook stays for the stack's next one, the last
        # operator's included; one nothing took up is counted as not reached, and dropped.
        self._count_unreached(self.aws.settings())
        self.aws.configure(update_failures=[], delete_failures=[])
        configure_emulator(self.aws, fault_rate=0.0, seed=self.seed)
        stats = self.aws.stats()
        figures = Figures(
            trials=1,
            operator_starts=cycler.starts + 1,
            timer_kills=cycler.timer_kills,
            mutation_kills=cycler.mutation_kills,
            aws_calls=total_calls(stats) - total_calls(before_stats),
            faults=faults_by_kind(stats) - faults_by_kind(before_stats),
            perturbations=self.perturbations,
        )
        violations = stuck + churn + self.false_stalls + [f"crash: {crash}" for crash in cycler.crashes]
        violations += [violation for violation in self._check(converged, bystander_before) if violation]
        figures.count(violations)
        if violations:
            self._write_histories()
        if violations:
            figures.failed_seeds.append(self.seed)
        self.events(f"done: {violations or 'all invariants hold'}")
        return TrialResult(self.seed, figures, violations, self.logs)

    # -- the user's side

    def _perform(self, step: Step) -> None:
        self.events(f"user: {step}")
        if step.failure:
            self._inject(step)
        if step.perturbation:
            self.perturbations[step.perturbation] += 1
        if step.action == "create":
            self._create(step)
        elif step.action == "delete":
            self._delete(step)
        else:
            self.kube.patch_stack(self.namespace, step.name, {"spec": self._spec_change(step)})

    def _create(self, step: Step) -> None:
        self._wait_gone(step.name)
        spec: dict[str, Any] = {"workers": {"maxSize": step.max_size}, "deletionPolicy": step.policy}
        if step.stack_name:
            spec["stackName"] = step.stack_name
        body = self.kube.create_stack(self.namespace, turbine_stack(step.name, self.bucket, **spec))
        created = datetime.datetime.fromisoformat(body["metadata"]["creationTimestamp"])
        self.incarnations.append(
            Incarnation(step.name, body["metadata"]["uid"], created, step.policy, bool(step.stack_name))
        )
        if not step.stack_name:
            self.expected[step.name] = step.max_size

    def _spec_change(self, step: Step) -> dict[str, Any]:
        if step.action in ("update", "manual"):
            self.expected[step.name] = step.max_size
            manual = {"updatePolicy": "Manual"} if step.action == "manual" else {}
            return {"workers": {"maxSize": step.max_size}, **manual}
        if step.action == "auto":
            return {"updatePolicy": "Auto"}
        if step.action == "retag":
            self.expected_tags[step.name] = dict(step.tags)
            return {"tags": dict(step.tags)}
        if step.action == "rerole":
            self._wait_recorded(step.name)
            return {"roleArn": OTHER_ACCOUNT_ROLE}
        if step.action == "unrole":
            return {"roleArn": None}  # a merge patch's null removes the field
        raise ValueError(f"no such step: {step.action}")

    def _delete(self, step: Step) -> None:
        self.kube.delete_stack(self.namespace, step.name)
        self.expected.pop(step.name, None)
        self.expected_tags.pop(step.name, None)
        for incarnation in self.incarnations:
            if incarnation.name == step.name:
                incarnation.deleted = True

    def _inject(self, step: Step) -> None:
        """The embedded AWS fails the stack's next update or deletion as the step says."""
        stack = default_stack_name(self.namespace, step.name)
        if step.failure == "delete_failed":
            setting, entry = "delete_failures", stack
        else:
            setting, entry = "update_failures", f"{stack}={step.failure}"
        self.aws.configure(**{setting: [*self.aws.settings()[setting], entry]})
        self.perturbations[step.failure] += 1

    def _count_unreached(self, settings: dict[str, Any]) -> None:
        for entry in settings["update_failures"]:
            stack, _, failure = entry.partition("=")
            if stack.startswith(self.stack_prefix):
                self.perturbations[f"{failure} not reached"] += 1
        for stack in settings["delete_failures"]:
            if stack.startswith(self.stack_prefix):
                self.perturbations["delete_failed not reached"] += 1

    def _wait_recorded(self, name: str) -> None:
        """A user points spec.roleArn elsewhere once the stack exists (status.stackId recorded)."""
        deadline = time.monotonic() + RECORDED_WAIT_SECONDS
        while not ((self.kube.get_stack(self.namespace, name) or {}).get("status") or {}).get("stackId"):
            if time.monotonic() > deadline:
                raise TrialStuck(f"{name} recorded no status.stackId within {RECORDED_WAIT_SECONDS:.0f} s")
            time.sleep(0.2)

    def _wait_gone(self, name: str) -> None:
        """A re-created name waits until the previous object's finalizer was released, as kubectl would."""
        deadline = time.monotonic() + RECREATE_WAIT_SECONDS
        while self.kube.get_stack(self.namespace, name) is not None:
            if time.monotonic() > deadline:
                self.events(f"{name}: the previous object is still there; not re-created")
                raise TrialStuck(f"{name} was not deleted within {RECREATE_WAIT_SECONDS:.0f} s under chaos")
            time.sleep(0.2)

    # -- the checks

    def _not_converged(self) -> list[str]:
        problems = []
        for name in sorted({incarnation.name for incarnation in self.incarnations}):
            body = self.kube.get_stack(self.namespace, name)
            if name not in self.expected:
                if body is not None:
                    ready = condition_of(body, "Ready") or {}
                    problems.append(
                        f"{name}: deleted but still present "
                        f"(finalizers {body['metadata'].get('finalizers')}, "
                        f"Ready {ready.get('status')} {ready.get('reason')}: {ready.get('message')})"
                    )
                continue
            if body is None:
                problems.append(f"{name}: missing")
                continue
            ready = condition_of(body, "Ready") or {}
            observed = body.get("status", {}).get("observedGeneration")
            generation = body["metadata"]["generation"]
            if ready.get("status") != "True" or observed != generation:
                problems.append(
                    f"{name}: Ready {ready.get('status')} {ready.get('reason')} ({ready.get('message')}), "
                    f"observedGeneration {observed} of {generation}"
                )
        return problems

    def _wait_converged(self) -> list[str]:
        """What is still not converged when everything converged or the time ran out (empty: converged)."""
        deadline = time.monotonic() + CONVERGENCE_SECONDS
        while True:
            problems = self._not_converged()
            if problems and self._retry_rolled_back():
                deadline = max(deadline, time.monotonic() + CONVERGENCE_SECONDS / 2)
                continue
            if not problems or time.monotonic() > deadline:
                self.events(f"convergence: {problems or 'every TurbineStack converged'}")
                return problems
            time.sleep(0.5)

    def _retry_rolled_back(self) -> bool:
        """Changes the spec of each TurbineStack that reports its update rolled back, as the message asks,
        once the stack shows it did roll back; a report the stack contradicts is a false stall."""
        retried = False
        for name in sorted(self.expected):
            body = self.kube.get_stack(self.namespace, name) or {}
            stalled = condition_of(body, "Stalled") or {}
            reason = stalled.get("reason")
            current = body.get("status", {}).get("observedGeneration") == body["metadata"]["generation"]
            if not (stalled.get("status") == "True" and reason in ROLLED_BACK_REASONS and current):
                continue
            status = self._stack_status(default_stack_name(self.namespace, name))
            if status not in ROLLED_BACK_STATUSES:
                self.false_stalls.append(f"false stall: {name} reports {reason}, its stack is {status}")
                continue
            if self.retries[name] >= MAX_RETRIES_PER_STACK:
                continue
            self.retries[name] += 1
            self.perturbations["retry"] += 1
            size = self._rng.choice([size for size in range(1, 10) if size != self.expected[name]])
            self.events(f"user: {name} reports {reason} ({status}); maxSize {size} to try again")
            self.kube.patch_stack(self.namespace, name, {"spec": {"workers": {"maxSize": size}}})
            self.expected[name] = size
            retried = True
        return retried

    def _stack_status(self, stack_name: str) -> str | None:
        """The stack's status, read through the faults the last operator still runs under."""
        for _ in range(20):
            try:
                stacks = self.cfn.describe_stacks(StackName=stack_name)["Stacks"]
            except Exception as error:
                if "does not exist" in str(error):
                    return None
                time.sleep(0.2)
                continue
            return str(stacks[0]["StackStatus"]) if stacks else None
        return None

    def _churn(self) -> list[str]:
        """CreateChangeSet calls while every TurbineStack is converged and nothing changes (none expected)."""

        def created() -> int:
            return int(self.aws.stats()["calls_by_action"].get("cloudformation.CreateChangeSet", 0))

        before = created()
        time.sleep(QUIET_SECONDS)
        calls = created() - before
        self.events(f"quiet: {calls} CreateChangeSet calls in {QUIET_SECONDS:.0f} s after convergence")
        if not calls:
            return []
        return [f"churn: {calls} CreateChangeSet calls in the {QUIET_SECONDS:.0f} s after convergence"]

    def _check(self, not_converged: list[str], bystander_before: dict[str, Any]) -> list[str]:
        """Every broken invariant, each line starting with its kind (see `Figures.count`)."""
        violations = [f"not converged: {problem}" for problem in not_converged]
        stacks = self._our_stacks()
        by_uid: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        for stack in stacks:
            by_uid[_tags(stack).get(OWNER_UID_TAG, "")].append(stack)
        known = {incarnation.uid: incarnation for incarnation in self.incarnations}
        for incarnation in self.incarnations:
            violations += self._check_owned(incarnation, by_uid.get(incarnation.uid, []))
        for uid, owned in by_uid.items():
            if uid not in known:
                violations += [self._check_unowned(stack, uid) for stack in owned]
        for stack in stacks:
            violations += self._check_ownership(stack, known)
        named = collections.Counter(stack["StackName"] for stack in stacks)
        violations += [
            f"duplicate: {count} live stacks are named {name}" for name, count in named.items() if count > 1
        ]
        violations += [
            f"duplicate: {stack['StackName']} ({stack['StackStatus']}) was created in account "
            f"{OTHER_ACCOUNT}, where spec.roleArn pointed for a while"
            for stack in self._stacks_in_other_account()
        ]
        touched = self._bystander_changes(bystander_before)
        if touched:
            violations.append(f"touched by a non-owner: {self.bystander}: {touched}")
        return violations

    def _check_unowned(self, stack: dict[str, Any], uid: str) -> str:
        """A stack named for this trial that no TurbineStack of it owns by its tags.

        Untagged, it is judged by its name: the REVIEW_IN_PROGRESS stub a CREATE change set leaves
        carries no tags in moto. A stub of a name only ever deleted with Retain is retained, not orphaned.
        """
        name = stack["StackName"].removeprefix(self.stack_prefix)
        same = [i for i in self.incarnations if i.name == name and not i.intruder]
        shown = f"{stack['StackName']} ({stack['StackStatus']}, owner tag {uid!r})"
        if uid == "" and any(not i.deleted for i in same):
            return f"not converged: {shown} has no owner tags, though TurbineStack {name} is live"
        if uid == "" and same and all(i.policy == "Retain" for i in same):
            return ""
        return f"orphan: {shown} has no owner in this trial"

    def _check_owned(self, incarnation: Incarnation, owned: list[dict[str, Any]]) -> list[str]:
        """Exactly one stack for a live TurbineStack, none for one deleted with Delete, at most one else."""
        who = f"{incarnation.name} ({incarnation.uid})"
        names = [f"{s['StackName']} ({s['StackStatus']})" for s in owned]
        if incarnation.intruder:
            return [f"touched by a non-owner: the intruder {who} owns {names}"] if owned else []
        problems = [f"duplicate: {who} owns {names}"] * (len(owned) - 1)
        if not incarnation.deleted:
            if not owned:
                problems.append(f"missing: {who} owns no stack")
            for stack in owned:
                problems += self._check_live_stack(incarnation, stack)
        elif incarnation.policy == "Delete" and owned:
            problems += [f"orphan: {name} of {who}, deleted with deletionPolicy Delete" for name in names]
        return problems

    def _check_live_stack(self, incarnation: Incarnation, stack: dict[str, Any]) -> list[str]:
        problems = []
        wanted = self.expected.get(incarnation.name)
        parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
        if stack["StackStatus"] not in SETTLED_STATUSES:
            problems.append(f"not converged: stack {stack['StackName']} is {stack['StackStatus']}")
        if parameters.get("MaxGroupSize") != str(wanted):
            problems.append(
                f"not converged: stack {stack['StackName']} has MaxGroupSize "
                f"{parameters.get('MaxGroupSize')}, the spec says {wanted}"
            )
        tags, wanted_tags = _tags(stack), self.expected_tags.get(incarnation.name, {})
        if any(tags.get(key) != value for key, value in wanted_tags.items()):
            problems.append(
                f"not converged: stack {stack['StackName']} has tags {tags}, the spec says {wanted_tags}"
            )
        return problems

    def _check_ownership(self, stack: dict[str, Any], known: dict[str, Incarnation]) -> list[str]:
        """A stack carries its creator's tags and was created by it, not taken over from someone else."""
        tags = _tags(stack)
        owner = known.get(tags.get(OWNER_UID_TAG, ""))
        if owner is None:
            return []
        problems = []
        if tags.get(OWNER_NAME_TAG) != owner.name or stack["StackName"] != default_stack_name(
            self.namespace, owner.name
        ):
            problems.append(f"touched by a non-owner: {stack['StackName']} carries the tags {tags}")
        if stack["CreationTime"] < owner.created - datetime.timedelta(seconds=1):
            problems.append(
                f"touched by a non-owner: {stack['StackName']} was created at {stack['CreationTime']}, "
                "before "
                f"its owner {owner.name} ({owner.uid}, created {owner.created}): taken over"
            )
        return problems

    def _write_histories(self) -> None:
        """The operator's Kubernetes events and CloudFormation's stack events, next to the logs."""
        events = self.kube.core.list_namespaced_event(self.namespace).items
        lines = [
            f"{e.last_timestamp or e.event_time} {e.involved_object.name} {e.type} {e.reason} "
            f"x{e.count or 1}: {e.message}"
            for e in sorted(events, key=lambda e: str(e.last_timestamp or e.event_time))
        ]
        (self.logs / "kubernetes-events.txt").write_text("\n".join(lines) + "\n")
        lines = []
        for page in self.cfn.get_paginator("list_stacks").paginate():
            for summary in page["StackSummaries"]:
                if summary["StackName"].startswith(self.stack_prefix):
                    stack_events = self.cfn.describe_stack_events(StackName=summary["StackId"])["StackEvents"]
                    lines += [
                        f"{e['Timestamp']} {summary['StackId']} {e['LogicalResourceId']} "
                        f"{e['ResourceStatus']} {e.get('ResourceStatusReason') or ''}"
                        for e in reversed(stack_events)
                    ]
        (self.logs / "stack-events.txt").write_text("\n".join(lines) + "\n")

    # -- AWS reads

    def _our_stacks(self) -> list[dict[str, Any]]:
        """Every stack that is not gone and is tagged or named for this trial's namespace.

        By name too: the REVIEW_IN_PROGRESS stub a CREATE change set leaves carries no tags in moto.
        """
        return [
            stack
            for stack in _all_stacks(self.cfn)
            if stack["StackStatus"] != "DELETE_COMPLETE"
            and stack["StackName"] != self.bystander
            and (
                _tags(stack).get(OWNER_NAMESPACE_TAG) == self.namespace
                or stack["StackName"].startswith(self.stack_prefix)
            )
        ]

    def _stacks_in_other_account(self) -> list[dict[str, Any]]:
        """This trial's stacks in the account spec.roleArn pointed at (none may exist)."""
        credentials = self.aws.client("sts").assume_role(
            RoleArn=OTHER_ACCOUNT_ROLE, RoleSessionName="chaos-check"
        )["Credentials"]
        cfn = self.aws.client(
            "cloudformation",
            session=(credentials["AccessKeyId"], credentials["SecretAccessKey"], credentials["SessionToken"]),
        )
        return [
            stack
            for stack in _all_stacks(cfn)
            if stack["StackStatus"] != "DELETE_COMPLETE" and stack["StackName"].startswith(self.stack_prefix)
        ]

    def _create_bystander(self) -> None:
        stack_id = self.cfn.create_stack(
            StackName=self.bystander, TemplateBody=BYSTANDER_TEMPLATE, Tags=_tag_list(OTHER_OWNER_TAGS)
        )["StackId"]
        deadline = time.monotonic() + 60
        # By id: a new stack is briefly invisible by name (the emulator's consistency window).
        while self.cfn.describe_stacks(StackName=stack_id)["Stacks"][0]["StackStatus"] != "CREATE_COMPLETE":
            if time.monotonic() > deadline:
                raise TrialStuck(f"the bystander stack {self.bystander} was not created")
            time.sleep(0.2)

    def _bystander_state(self) -> dict[str, Any]:
        stacks = [s for s in _all_stacks(self.cfn) if s["StackName"] == self.bystander]
        state: dict[str, Any] = {"stacks": len(stacks)}
        if stacks:
            stack = stacks[0]
            state |= {
                "status": stack["StackStatus"],
                "last updated": stack.get("LastUpdatedTime"),
                "tags": _tags(stack),
                "termination protection": stack.get("EnableTerminationProtection"),
                "change sets": sorted(
                    s["ChangeSetName"]
                    for s in self.cfn.list_change_sets(StackName=stack["StackId"])["Summaries"]
                ),
                "events": len(self.cfn.describe_stack_events(StackName=stack["StackId"])["StackEvents"]),
            }
        return state

    def _bystander_changes(self, before: dict[str, Any]) -> dict[str, Any]:
        after = self._bystander_state()
        return {
            key: f"{before.get(key)!r} -> {after.get(key)!r}"
            for key in before
            if before.get(key) != after.get(key)
        }


class TrialStuck(RuntimeError):
    """The trial could not go on: a deleted TurbineStack never went away, so its name cannot be reused."""


def _tags(stack: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in stack.get("Tags", [])}


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _all_stacks(cfn: Any) -> Iterator[dict[str, Any]]:
    for page in cfn.get_paginator("describe_stacks").paginate():
        yield from page["Stacks"]


_INTERESTING = re.compile(r"ERROR|Traceback|Error|Exception|killed|Stall|orphan|SIGKILL")


def operator_evidence(logs: Path, violations: list[str], limit: int = 60) -> list[str]:
    """Operator log lines about the TurbineStacks named in the violations, and every error line."""
    names = set(re.findall(r"\b(alpha|bravo|charlie|intruder)\b", " ".join(violations)))
    lines: list[str] = []
    for log in sorted([*logs.glob("*.log"), *logs.glob("*.txt")]):
        for line in log.read_text(errors="replace").splitlines():
            if _INTERESTING.search(line) or any(f"/{name}" in line or f"-{name}" in line for name in names):
                lines.append(f"{log.name}: {line[:400]}")
    return lines[-limit:]
