"""Chaos tests get an embedded AWS of their own, so the faults they inject never reach other tests."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws, embedded_aws
from turbine_dev.runs.chaos import Figures

CHAOS_BUCKET = "turbine-chaos-templates"
FIGURES = pytest.StashKey[Figures]()


@pytest.fixture(scope="package")
def chaos_aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedAws]:
    with embedded_aws(tmp_path_factory.mktemp("chaos-aws")) as aws:
        aws.client("s3").create_bucket(Bucket=CHAOS_BUCKET)
        yield aws


@pytest.fixture
def chaos_bucket(chaos_aws: EmbeddedAws) -> str:
    return CHAOS_BUCKET


@pytest.fixture
def chaos_figures(request: pytest.FixtureRequest) -> Figures:
    """The figures of every trial of the session, printed at its end."""
    return request.config.stash.setdefault(FIGURES, Figures())


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    figures = config.stash.get(FIGURES, None)
    if figures is None:
        return
    terminalreporter.section("chaos")
    for line in figures.lines():
        terminalreporter.write_line(line)
    # A copy for whoever quotes the figures: CHAOS_SUMMARY=<file>.
    if os.environ.get("CHAOS_SUMMARY"):
        summary = {**figures.__dict__, "faults": dict(figures.faults)}
        Path(os.environ["CHAOS_SUMMARY"]).write_text(json.dumps(summary, indent=2) + "\n")
