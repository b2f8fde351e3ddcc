"""The chaos trials' plans: every perturbation issue 25 asks for is drawn, and each is one a user can make."""

from __future__ import annotations

import collections

from turbine_dev.runs.chaos_plan import plan_trial

SEEDS = range(1, 41)  # the sweep issue 25 asks for


def test_forty_seeds_draw_every_perturbation() -> None:
    drawn: collections.Counter[str] = collections.Counter()
    for seed in SEEDS:
        for step in plan_trial(seed, "bystander").steps:
            drawn[step.perturbation] += bool(step.perturbation)
            drawn[step.failure] += bool(step.failure)
    for kind in ("retag", "revisit", "twice", "rerole", "rollback", "rollback_failed", "delete_failed"):
        assert drawn[kind] >= 3, (kind, drawn)


def test_each_perturbation_is_one_a_user_can_make() -> None:
    for seed in SEEDS:
        steps = plan_trial(seed, "bystander").steps
        policy: dict[str, str] = {}
        for index, step in enumerate(steps):
            if step.action == "create":
                policy[step.name] = step.policy
            if step.action == "rerole":  # pointed back at once: the stack stays in its account
                assert (steps[index + 1].action, steps[index + 1].name) == ("unrole", step.name)
            if step.failure == "delete_failed":  # only a deletion that deletes can fail
                assert (step.action, policy[step.name]) == ("delete", "Delete")
            if step.failure in ("rollback", "rollback_failed"):
                assert step.action == "update"
            if step.perturbation == "twice":  # within one change-set computation (0.2 s at the least)
                assert steps[index - 1].action == "update"
                assert step.pause <= 0.3


def test_a_seed_replays_its_plan() -> None:
    assert plan_trial(7, "bystander") == plan_trial(7, "bystander")
