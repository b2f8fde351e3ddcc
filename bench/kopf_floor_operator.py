"""The least a kopf operator does for a TurbineStack, for bench/fixed_costs.py.

It adds kopf's finalizer (a delete handler) and writes the status `TURBINE_FLOOR_WRITES` times, the last one
Ready, posting an event with every write but the last, and calls nothing else. With 3 writes it makes the
writes the operator makes to Ready: a create handler's, then a timer's, then the timer's again. Run it with
`kopf run --standalone`.
"""

from __future__ import annotations

import datetime
import logging
import os
from typing import Any

import kopf

from turbine_operator.handlers.diffbase import ProgressAnnotations, StatusDiffBaseStorage

RESOURCE = ("turbine.dev", "v1alpha1", "turbinestacks")
WRITES = int(os.environ.get("TURBINE_FLOOR_WRITES", "1"))


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # The operator's kopf settings that bear on the cost of an object (handlers/lifecycle.py configure_kopf):
    # kopf's record of the handled spec travels in the status write, so the writes are the operator's own.
    settings.persistence.finalizer = "turbine.dev/finalizer"
    settings.persistence.progress_storage = ProgressAnnotations(prefix="turbine.dev", v1=False)
    settings.persistence.diffbase_storage = StatusDiffBaseStorage()
    settings.posting.level = logging.INFO
    settings.scanning.disabled = True


def _phase(status: kopf.Status) -> int:
    # A status field of the CRD's schema (an unknown one would be pruned): PHASE_1, PHASE_2, ...
    return int(str(status.get("stackStatus") or "PHASE_0").removeprefix("PHASE_"))


def _write(body: kopf.Body, patch: kopf.Patch, phase: int) -> None:
    done = phase >= WRITES
    patch.status["stackStatus"] = f"PHASE_{phase}"
    patch.status["conditions"] = [
        {
            "type": "Ready",
            "status": "True" if done else "False",
            "reason": "Floor",
            "message": f"phase {phase}",
            "lastTransitionTime": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "observedGeneration": body.metadata.get("generation", 0),
        }
    ]
    if not done:
        kopf.info(body, reason="Phase", message=f"phase {phase}")


@kopf.on.create(*RESOURCE)
async def create(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    _write(body, patch, 1)


def _unfinished(status: kopf.Status, **_: Any) -> bool:
    return 0 < _phase(status) < WRITES


@kopf.timer(*RESOURCE, interval=1.0, when=_unfinished)
async def advance(body: kopf.Body, patch: kopf.Patch, status: kopf.Status, **_: Any) -> None:
    _write(body, patch, _phase(status) + 1)


@kopf.on.delete(*RESOURCE)
async def delete(**_: Any) -> None:
    pass
