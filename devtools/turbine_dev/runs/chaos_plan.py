"""What the users of a chaos trial do, drawn from its seed; turbine_dev.runs.chaos carries it out.

Two or three TurbineStacks are created, then updated, deleted and re-created in a random order. Besides
maxSize updates, the users:
- retag a stack (only tags change: an update CloudFormation executes with no resource changes);
- revisit a change set under the Manual policy (maxSize B, C, then B again before going back to Auto,
  the edits often faster than a change set is computed);
- edit twice within one change-set computation (the second edit at most 0.3 s after the first, where the
  emulator computes a nested change set in 0.2 to 4.8 s);
- point spec.roleArn at another account's role and back: the stack cannot move there, and no second
  stack may be created in that account;
and the embedded AWS fails some of their operations: an update rolls back, or its rollback fails too and
needs ContinueUpdateRollback; a deletion ends DELETE_FAILED and must be sent again.
In some trials an "intruder" TurbineStack names another team's stack in spec.stackName and is deleted
with deletionPolicy Delete: the other team's stack must come out untouched.
"""

from __future__ import annotations

import dataclasses
import os
import random

DEFAULT_TRIALS = 20
# A role of another account than the embedded AWS's default one (123456789012).
OTHER_ACCOUNT = "210987654321"
OTHER_ACCOUNT_ROLE = f"arn:aws:iam::{OTHER_ACCOUNT}:role/chaos-elsewhere"
UPDATE_FAILURE_RATE = 0.25
DELETE_FAILURE_RATE = 0.5
UPDATE_FAILURES = ("rollback", "rollback_failed")
SIZES = range(1, 10)


def chaos_seeds() -> list[int]:
    """`CHAOS_SEED=<n>` replays one trial; else `CHAOS_TRIALS` (default 20) seeds from `CHAOS_FIRST_SEED`
    (default 1), so the trials can be split between sessions."""
    if os.environ.get("CHAOS_SEED"):
        return [int(os.environ["CHAOS_SEED"])]
    first = int(os.environ.get("CHAOS_FIRST_SEED", "1"))
    return list(range(first, first + int(os.environ.get("CHAOS_TRIALS", str(DEFAULT_TRIALS)))))


@dataclasses.dataclass(frozen=True)
class Step:
    """One change a user makes, after `pause` seconds."""

    pause: float
    # create | update | delete | retag | manual (updatePolicy Manual) | auto (back to Auto)
    # | rerole (spec.roleArn to OTHER_ACCOUNT_ROLE) | unrole (spec.roleArn removed again)
    action: str
    name: str
    max_size: int = 0
    policy: str = "Delete"
    stack_name: str | None = None  # an explicit spec.stackName (the intruder's)
    tags: tuple[tuple[str, str], ...] = ()  # retag: spec.tags
    # Injected into the embedded AWS just before the step: an update's "rollback" or "rollback_failed",
    # a deletion's "delete_failed".
    failure: str = ""
    perturbation: str = ""  # counted in the figures: retag, revisit, twice or rerole


@dataclasses.dataclass(frozen=True)
class TrialPlan:
    seed: int
    steps: tuple[Step, ...]
    tail: float  # seconds of chaos after the last step


def plan_trial(seed: int, bystander_stack: str) -> TrialPlan:
    rng = random.Random(seed)  # noqa: S311 - reproducible, not a secret
    names = ["alpha", "bravo", "charlie"][: rng.choice([2, 3])]
    steps: list[Step] = []
    live: dict[str, int] = {}  # name -> workers.maxSize
    policy: dict[str, str] = {}
    for name in names:
        live[name], policy[name] = rng.randint(1, 9), rng.choice(["Delete", "Retain"])
        steps.append(Step(rng.uniform(0, 1.0), "create", name, live[name], policy[name]))
    intruder = rng.random() < 0.4
    if intruder:
        steps.insert(
            rng.randint(0, len(steps)),
            Step(rng.uniform(0, 1.0), "create", "intruder", 3, "Delete", stack_name=bystander_stack),
        )
    for _ in range(rng.randint(3, 6)):
        # A name retained in AWS is not re-created: its new object would rightly refuse the old stack.
        recreatable = sorted(name for name in names if name not in live and policy[name] == "Delete")
        choices = ["update"] * 3 * bool(live) + ["delete"] * bool(live) + ["recreate"] * bool(recreatable)
        choices += ["retag", "revisit", "twice", "rerole"] * bool(live)
        if not choices:
            break
        action, pause = rng.choice(choices), rng.uniform(0.2, 2.5)
        if action == "recreate":
            name = rng.choice(recreatable)
            live[name], policy[name] = rng.randint(1, 9), "Delete"
            steps.append(Step(pause, "create", name, live[name], policy[name]))
            continue
        name = rng.choice(sorted(live))
        if action == "retag":
            tags = (("team", rng.choice(["data", "ml", "platform"])), ("chaos-round", str(len(steps))))
            steps.append(Step(pause, "retag", name, tags=tags, perturbation="retag"))
        elif action == "revisit":
            steps += _revisit(rng, name, live, pause)
        elif action == "twice":
            first = _other_size(rng, live[name])
            live[name] = _other_size(rng, first)
            steps += [
                Step(pause, "update", name, first),
                Step(rng.uniform(0.0, 0.3), "update", name, live[name], perturbation="twice"),
            ]
        elif action == "rerole":
            steps += [
                Step(pause, "rerole", name, perturbation="rerole"),
                Step(rng.uniform(1.0, 4.0), "unrole", name),
            ]
        elif action == "update":
            live[name] = _other_size(rng, live[name])
            failure = rng.choice(UPDATE_FAILURES) if rng.random() < UPDATE_FAILURE_RATE else ""
            steps.append(Step(pause, "update", name, live[name], failure=failure))
        else:
            fails = policy[name] == "Delete" and rng.random() < DELETE_FAILURE_RATE
            del live[name]
            steps.append(Step(pause, "delete", name, failure="delete_failed" if fails else ""))
    if intruder:
        steps.append(Step(rng.uniform(0.2, 2.0), "delete", "intruder"))
    return TrialPlan(seed, tuple(steps), tail=rng.uniform(0.5, 3.0))


def _other_size(rng: random.Random, size: int) -> int:
    return rng.choice([other for other in SIZES if other != size])


def _revisit(rng: random.Random, name: str, live: dict[str, int], pause: float) -> list[Step]:
    """Under Manual, maxSize B, then C, then B again, then back to Auto: B's change set is deleted as stale
    when C's is created, and wanted again under its old name (issue 25's reported loop: 10 -> 7 -> 5 -> 7)."""
    b, c = rng.sample([size for size in SIZES if size != live[name]], 2)
    live[name] = b
    return [
        Step(pause, "manual", name, b, perturbation="revisit"),
        Step(rng.uniform(0.1, 2.0), "update", name, c),
        Step(rng.uniform(0.1, 2.0), "update", name, b),
        Step(rng.uniform(0.5, 3.0), "auto", name),
    ]
