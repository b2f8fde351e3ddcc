"""The strict embedded AWS's clock, settings and counters, shared by the moto patches and the HTTP layer.

Dev and test tooling only. One `STATE` per embedded-AWS process. Every request holds `STATE.lock`
while moto serves it (moto is not thread-safe, and the timeline must not move under a request);
at the start of each request `advance()` runs the deferred work whose time has come (a change set
or stack whose deletion has finished). The visible states in between are overlays: a stack or
change set shows its IN_PROGRESS status until its phase ends, then moto's own status again.
See docs/embedded-aws.md for each behaviour and the AWS documentation it follows.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import heapq
import itertools
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

LOG = logging.getLogger("turbine_dev.strict_aws")

FAULT_KINDS = ("throttling", "internal", "unavailable", "connection")
UPDATE_FAILURES = ("rollback", "rollback_failed", "continue_failed")
# Change-set creation on AWS, in seconds: (median, log-normal sigma, shortest, longest) with nested stacks
# (IncludeNestedStacks, a change set per nested stack: tens of seconds, now and then minutes) and without.
# AWS documents no durations; these are what Turbine's seven-stack change sets were observed to take.
REALISTIC_CHANGE_SET_SECONDS = {True: (35.0, 0.6, 10.0, 240.0), False: (6.0, 0.5, 2.0, 60.0)}


@dataclasses.dataclass
class Settings:
    """What `POST /_turbine/config` and `EmbeddedAws.configure()` change. Defaults: strict but fast."""

    operation_seconds: float = 1.5
    change_set_seconds: float = 0.6
    change_set_delete_seconds: float = 0.5
    # When set, change-set creation times are drawn from REALISTIC_CHANGE_SET_SECONDS (seconds to minutes,
    # as a Turbine stack's nested change sets take), multiplied by it: 1.0 as on AWS, 0.01 for a test.
    realistic_time_factor: float = 0.0
    # DescribeChangeSet answers ChangeSetNotFound for this long after CreateChangeSet (eventual consistency).
    describe_change_set_lag_seconds: float = 0.0
    drift_polls: int = 3
    drift_seconds: float = 0.0
    consistency_seconds: float = 0.2
    fault_rate: float = 0.0
    fault_seed: int = 0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    fault_services: tuple[str, ...] = ()
    # "<stack name>=rollback|rollback_failed|continue_failed": the stack's next update (or continued
    # rollback) fails so, each entry once (turbine_dev.strict.strict_rollbacks).
    update_failures: tuple[str, ...] = ()
    # "<stack name>": the stack's next DeleteStack ends in DELETE_FAILED, each entry once
    # (turbine_dev.strict.strict_rollbacks).
    delete_failures: tuple[str, ...] = ()
    lose_response_rate: float = 0.0
    kill_delay_seconds: float = 0.05

    def update(self, changes: dict[str, Any]) -> None:
        known = {field.name for field in dataclasses.fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; known: {sorted(known)}")
        for name, given in changes.items():
            value: Any
            if name in ("fault_kinds", "fault_services", "update_failures", "delete_failures"):
                value = tuple(given)
                if name == "fault_kinds" and not set(value) <= set(FAULT_KINDS):
                    raise ValueError(f"fault_kinds must be among {FAULT_KINDS}")
                if name == "update_failures" and any(
                    entry.partition("=")[2] not in UPDATE_FAILURES for entry in value
                ):
                    raise ValueError(f"update_failures are '<stack name>=<one of {UPDATE_FAILURES}>'")
            elif name in ("drift_polls", "fault_seed"):
                value = int(given)
            else:
                value = float(given)
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return {key: list(v) if isinstance(v, tuple) else v for key, v in dataclasses.asdict(self).items()}


@dataclasses.dataclass
class Overlay:
    """Statuses shown instead of moto's until each phase's end (monotonic seconds)."""

    phases: list[tuple[float, str]]
    execution: list[tuple[float, str]] = dataclasses.field(default_factory=list)
    outputs: list[Any] | None = None  # shown while the first phase lasts (None: moto's own)

    @staticmethod
    def current(phases: list[tuple[float, str]], now: float) -> str | None:
        return next((status for until, status in phases if now < until), None)


@dataclasses.dataclass
class KillHook:
    pid: int
    probability: float
    rng: random.Random


def phases(start: float, duration: float, *statuses: str) -> list[tuple[float, str]]:
    """Splits `duration` evenly between `statuses`, in order."""
    step = duration / len(statuses)
    return [(start + step * (index + 1), status) for index, status in enumerate(statuses)]


class StrictState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.settings = Settings()
        self.fault_rng = random.Random(0)  # noqa: S311 - seeded to reproduce a run, not a secret
        self.duration_rng = random.Random(0)  # noqa: S311 - as above
        self.kill: KillHook | None = None
        self.counters: collections.Counter[str] = collections.Counter()
        self._instant: float | None = None
        self.forget_world()

    def forget_world(self) -> None:
        """What moto's reset forgets too: every stack's tokens, overlays and pending work."""
        self.stacks: dict[str, Overlay] = {}
        self.change_sets: dict[str, Overlay] = {}
        # Per (account, region): every token used, with the request it came with and the answer.
        self.tokens: dict[tuple[str, str], dict[str, tuple[Any, Any]]] = {}
        self.created_at: dict[str, float] = {}
        self.drift_polls: collections.Counter[str] = collections.Counter()
        self.drift_started: dict[str, float] = {}
        self.obsolete: set[str] = set()  # change sets whose stack was updated after they were created
        self.change_set_created: dict[str, float] = {}  # change-set ARN -> when CreateChangeSet made it
        self._pending: list[tuple[float, int, Callable[[], None]]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        return self._instant if self._instant is not None else time.monotonic()

    @contextlib.contextmanager
    def one_instant(self) -> Iterator[None]:
        """The clock stands still while one request is answered.

        AWS answers from one snapshot. Without this, a reply's fields read the clock one by one:
        botocore's shape puts ExecutionStatus before Status, so a change set read as its creation
        phase ended showed CREATE_COMPLETE with UNAVAILABLE, a pair CloudFormation never shows.
        """
        self._instant = time.monotonic()
        try:
            yield
        finally:
            self._instant = None

    def configure(self, changes: dict[str, Any]) -> None:
        self.settings.update(changes)
        if "fault_seed" in changes or "fault_rate" in changes:
            self.fault_rng = random.Random(self.settings.fault_seed)  # noqa: S311 - as above
            self.duration_rng = random.Random(self.settings.fault_seed)  # noqa: S311 - as above

    def change_set_seconds(self, nested: bool) -> float:
        """How long a new change set takes to compute: `change_set_seconds`, or a realistic draw."""
        factor = self.settings.realistic_time_factor
        if factor <= 0:
            return self.settings.change_set_seconds
        median, sigma, shortest, longest = REALISTIC_CHANGE_SET_SECONDS[nested]
        drawn = self.duration_rng.lognormvariate(math.log(median), sigma)
        return min(max(drawn, shortest), longest) * factor

    def later(self, delay: float, work: Callable[[], None]) -> None:
        heapq.heappush(self._pending, (self.now() + delay, next(self._sequence), work))

    def advance(self) -> None:
        now = self.now()
        while self._pending and self._pending[0][0] <= now:
            _, _, work = heapq.heappop(self._pending)
            try:
                work()
            except Exception:
                LOG.exception("deferred work failed")

    # Overlays -------------------------------------------------------------------------------------

    def stack_status(self, stack_id: str) -> str | None:
        overlay = self.stacks.get(stack_id)
        return Overlay.current(overlay.phases, self.now()) if overlay else None

    def busy_status(self, stack_id: str) -> str | None:
        """The IN_PROGRESS status that refuses another operation on the stack, if any."""
        status = self.stack_status(stack_id)
        return status if status and status.endswith("_IN_PROGRESS") else None

    def stack_outputs(self, stack_id: str) -> list[Any] | None:
        overlay = self.stacks.get(stack_id)
        if overlay is None or overlay.outputs is None or not overlay.phases:
            return None
        return overlay.outputs if self.now() < overlay.phases[0][0] else None

    def change_set_status(self, change_set_id: str) -> str | None:
        overlay = self.change_sets.get(change_set_id)
        return Overlay.current(overlay.phases, self.now()) if overlay else None

    def change_set_execution(self, change_set_id: str) -> str | None:
        overlay = self.change_sets.get(change_set_id)
        return Overlay.current(overlay.execution, self.now()) if overlay else None

    # Chaos ----------------------------------------------------------------------------------------

    def draw_fault(self, service: str) -> str | None:
        settings = self.settings
        if settings.fault_rate <= 0 or not settings.fault_kinds:
            return None
        if settings.fault_services and service not in settings.fault_services:
            return None
        if self.fault_rng.random() >= settings.fault_rate:
            return None
        return self.fault_rng.choice(settings.fault_kinds)

    def draw_response_lost(self, kind: str) -> bool:
        """Whether an injected 5xx or dropped connection happens after the call was applied."""
        if kind == "throttling" or self.settings.lose_response_rate <= 0:
            return False
        return self.fault_rng.random() < self.settings.lose_response_rate

    def draw_kill(self) -> int | None:
        hook = self.kill
        if hook is None or hook.rng.random() >= hook.probability:
            return None
        return hook.pid

    def stats(self) -> dict[str, Any]:
        faults = {kind: self.counters[f"fault.{kind}"] for kind in FAULT_KINDS}
        return {
            "calls": self.counters["calls"],
            "calls_by_action": {
                key.removeprefix("call."): value
                for key, value in self.counters.items()
                if key.startswith("call.")
            },
            "faults": faults,
            "faults_total": sum(faults.values()),
            "responses_lost": self.counters["responses_lost"],
            "mutations": self.counters["mutations"],
            "kills": self.counters["kills"],
            "token_retries": self.counters["token_retries"],
            "token_conflicts": self.counters["token_conflicts"],
        }


STATE = StrictState()
