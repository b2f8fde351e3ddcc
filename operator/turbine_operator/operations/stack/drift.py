"""Resource drift: CloudFormation drift detection on the spec's interval, followed without waiting.

A detection is started on one look and read on later ones, at doubling gaps; starts are rate-limited
operator-wide, the stalest stack first, because CloudFormation limits concurrent drift detections per
account. `wait` tells a settled stack's timer when its drift next needs a look, so it need not tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.cloudformation import StackGateway
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.api.conditions import READY, condition_is
from turbine_operator.core.api.spec import TurbineStackSpec
from turbine_operator.core.errors import AwsError, SpecError, TransientAwsError
from turbine_operator.core.observed.observations import ResourceDrift
from turbine_operator.core.plan.drift import (
    REQUEST_ANNOTATION,
    detection_read_wait,
    drift_condition,
    resource_drift_due,
    resource_drift_overdue,
    resource_drift_patch,
    resource_drift_wait,
)
from turbine_operator.core.report.reporting import Announcement
from turbine_operator.operations.clock import Clock, timestamp, utc_now
from turbine_operator.operations.fleet.rate_limits import FairTurns
from turbine_operator.operations.turbine_stack import Outcome, StackResource

logger = logging.getLogger(__name__)


def _ready(status: Mapping[str, Any]) -> bool:
    return condition_is(status.get("conditions") or [], READY)


class DriftDetector:
    def __init__(
        self,
        sessions: AwsSessions,
        settings: OperatorSettings,
        turns: FairTurns,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._turns = turns
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        # In memory: when each detection in flight started and was last read (after a restart, a
        # detection found in status counts as started then).
        self._reads: dict[str, tuple[float, float | None]] = {}

    def wait(self, resource: StackResource) -> float | None:
        """Seconds until this stack's drift needs a look (None: drift detection does not apply to it)."""
        spec = self._applies_to(resource)
        if spec is None:
            self._turns.withdraw(resource.uid)
            return None
        drift = resource.status.get("drift") or {}
        if drift.get("detectionId"):
            started, last_read = self._read_times(resource.uid)
            return detection_read_wait(started, last_read, self._monotonic(), self._settings.poll_interval)
        turn = self._turns.retry_in(resource.uid)
        if turn is not None:
            return turn
        requested = resource.annotations.get(REQUEST_ANNOTATION)
        return resource_drift_wait(drift, self._clock(), spec.drift_detection.interval, requested)

    def forget(self, uid: str) -> None:
        self._turns.withdraw(uid)
        with self._lock:
            self._reads.pop(uid, None)

    def _applies_to(self, resource: StackResource) -> TurbineStackSpec | None:
        try:
            spec = resource.parsed_spec(self._settings.default_region)
        except SpecError:
            return None  # the reconcile reports it
        status = resource.status
        if spec.suspend or not spec.drift_detection.enabled:
            return None
        return spec if status.get("stackId") and _ready(status) else None

    def _read_times(self, uid: str) -> tuple[float, float | None]:
        with self._lock:
            return self._reads.setdefault(uid, (self._monotonic(), None))

    def check(self, resource: StackResource) -> Outcome | None:
        """The status to write, or None when there is nothing to do on this tick."""
        spec = self._applies_to(resource)
        if spec is None:
            return None
        stack_id = str(resource.status["stackId"])
        drift = dict(resource.status.get("drift") or {})
        try:
            gateway = StackGateway(self._sessions, spec.region, spec.role_arn)
            if drift.get("detectionId"):
                started, last_read = self._read_times(resource.uid)
                poll = self._settings.poll_interval
                if detection_read_wait(started, last_read, self._monotonic(), poll) > 0:
                    return None
                with self._lock:
                    self._reads[resource.uid] = (started, self._monotonic())
                return self._follow(resource, gateway, stack_id, drift)
            requested = resource.annotations.get(REQUEST_ANNOTATION)
            now, interval = self._clock(), spec.drift_detection.interval
            if not resource_drift_due(drift, now, interval, requested):
                self._turns.withdraw(resource.uid)
                return None
            overdue = resource_drift_overdue(drift, now, interval, requested)
            if not self._turns.try_acquire(resource.uid, overdue):
                return None  # stacks that have waited longer go first; this one waits for its turn
            detection_id = gateway.start_drift_detection(stack_id)
            with self._lock:
                self._reads[resource.uid] = (self._monotonic(), None)
            return Outcome(status={"drift": {"detectionId": detection_id, "lastRequest": requested}})
        except TransientAwsError as error:
            logger.info(
                "Drift detection of %s/%s waits for AWS: %s", resource.namespace, resource.name, error
            )
            return None  # the next tick tries again
        except AwsError as error:
            patch = resource_drift_patch(None, [], drift, timestamp(self._clock()))
            return Outcome(
                status={"drift": patch},
                announcement=Announcement("DriftDetectionFailed", str(error), warning=True),
            )

    def _follow(
        self, resource: StackResource, gateway: StackGateway, stack_id: str, drift: dict[str, Any]
    ) -> Outcome | None:
        detection = gateway.drift_detection(str(drift["detectionId"]))
        if detection.status == "DETECTION_IN_PROGRESS":
            return None
        with self._lock:
            self._reads.pop(resource.uid, None)
        drifts: list[ResourceDrift] = []
        # IN_SYNC covers the nested stacks too, so there is nothing to list. A failed detection may
        # still have checked some resources, so it is listed like a drifted one.
        if detection.stack_drift_status != "IN_SYNC":
            for label, nested_id in gateway.nested_stacks(stack_id):
                drifts += gateway.resource_drifts(nested_id, label)
        now = timestamp(self._clock())
        patch = resource_drift_patch(detection.stack_drift_status, drifts, drift, now)
        merged = {**drift, **patch}
        conditions = drift_condition(
            resource.status.get("conditions") or [], merged, resource.generation, now
        )
        announcement = None
        was_drifted = int(drift.get("driftedResourceCount") or 0)
        if drifts and not was_drifted:
            names = ", ".join(f"{d.stack_name}/{d.logical_resource_id}" for d in drifts[:5])
            announcement = Announcement(
                "ResourcesDrifted", f"{len(drifts)} resource(s) drifted: {names}", True
            )
        elif was_drifted and not drifts:
            announcement = Announcement("ResourceDriftCleared", "No resource drift any more")
        if detection.status == "DETECTION_FAILED":
            announcement = Announcement(
                "DriftDetectionFailed", detection.reason or "drift detection failed", True
            )
        return Outcome(status={"drift": patch, "conditions": conditions}, announcement=announcement)
