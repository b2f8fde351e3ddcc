"""Issue 12's chaos test: seeded trials of creates, updates and deletes under SIGKILLs and AWS faults.

Each trial (turbine_dev.runs.chaos.Trial) kills the operator at random moments and right after mutating
AWS calls, with 30% of AWS calls failing transiently, then checks that every TurbineStack converged,
that each owns exactly one stack, that no stack is orphaned and that no stack was touched by a
non-owner. A failure names its seed: `CHAOS_SEED=<n> pytest tests/chaos` replays that trial.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.k8s.controlplane import ControlPlane
from turbine_dev.k8s.kube import KubeApi
from turbine_dev.runs.chaos import Figures, Trial
from turbine_dev.runs.chaos_plan import chaos_seeds

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("crd_installed")]


@pytest.mark.parametrize("seed", chaos_seeds(), ids=lambda seed: f"seed-{seed}")
def test_chaos_trial(
    seed: int,
    control_plane: ControlPlane,
    kube: KubeApi,
    chaos_aws: EmbeddedAws,
    chaos_bucket: str,
    chaos_figures: Figures,
    small_templates: Path,
    tmp_path: Path,
) -> None:
    trial = Trial(
        seed,
        plane=control_plane,
        kube=kube,
        aws=chaos_aws,
        bucket=chaos_bucket,
        templates=small_templates,
        logs=tmp_path,
    )
    result = trial.run()
    chaos_figures.add(result.figures)
    assert not result.violations, result.failure_report()
