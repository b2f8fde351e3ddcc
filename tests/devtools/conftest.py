"""One strict embedded AWS for the emulator's own tests, blank and at known settings for each test; and the
in-process one of in_process_aws.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from turbine_dev.aws.embedded_aws import EmbeddedAws
from turbine_dev.aws.embedded_aws import embedded_aws as start_embedded_aws

from .in_process_aws import in_process_aws  # noqa: F401 - a fixture, registered here for the folder

# Long enough that an IN_PROGRESS status is still visible on the next call of a loaded machine,
# short enough that the tests wait little for the end.
TIMINGS = {
    "operation_seconds": 3.0,
    "change_set_seconds": 2.0,
    "change_set_delete_seconds": 2.0,
    "drift_polls": 3,
    "drift_seconds": 0.0,
    "consistency_seconds": 0.0,
    "fault_rate": 0.0,
    "fault_seed": 0,
    "fault_kinds": ["throttling", "internal", "unavailable", "connection"],
    "fault_services": [],
    "lose_response_rate": 0.0,
    "kill_delay_seconds": 0.0,
}


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedAws]:
    with start_embedded_aws(tmp_path_factory.mktemp("strict-aws")) as aws:
        yield aws


@pytest.fixture
def strict_aws(strict_server: EmbeddedAws) -> Iterator[EmbeddedAws]:
    strict_server.reset()
    strict_server.configure(**TIMINGS)
    strict_server.kill_after_mutation(None)
    strict_server.reset_stats()
    yield strict_server
    strict_server.configure(fault_rate=0.0)
    strict_server.kill_after_mutation(None)
