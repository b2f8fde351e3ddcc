"""One request sees one moment, as AWS answers from one snapshot of a change set.

https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeChangeSet.html
"""

from __future__ import annotations

import itertools
import time

import pytest

from turbine_dev.strict.strict_state import Overlay, StrictState, phases


def test_a_change_set_read_across_its_phase_end_shows_one_consistent_state(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every read of the clock moves it one second on, as a loaded server's would between fields.
    ticks = itertools.count(100.0)
    monkeypatch.setattr(time, "monotonic", lambda: next(ticks))
    state = StrictState()
    start = state.now()
    state.change_sets["cs"] = Overlay(
        phases(start, 2.0, "CREATE_PENDING", "CREATE_IN_PROGRESS"), execution=[(start + 2.0, "UNAVAILABLE")]
    )
    answers = []
    for _ in range(4):
        with state.one_instant():
            # botocore's shape reads ExecutionStatus first, then Status.
            answers.append((state.change_set_execution("cs"), state.change_set_status("cs")))
    # None is "moto's own": CREATE_COMPLETE and AVAILABLE once the overlay has ended.
    consistent = {("UNAVAILABLE", "CREATE_PENDING"), ("UNAVAILABLE", "CREATE_IN_PROGRESS"), (None, None)}
    assert set(answers) <= consistent
    assert answers[-1] == (None, None)
