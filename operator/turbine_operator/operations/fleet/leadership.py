"""Hot standby: a replica acts only while it holds the Lease (core/plan/leadership.py has the rules).

`acquire` blocks until this replica holds the Lease; `keep` renews it in a thread and calls `on_lost`
when it could not renew within the renew deadline (the caller then stops the process, so a replica
that lost the Lease never acts again); `release` hands the Lease over at a clean shutdown, so a
standby takes over at once instead of after a lease duration.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from turbine_operator.adapters.kube.leases import Leases, LeaseTaken
from turbine_operator.core.errors import ClusterError
from turbine_operator.core.plan import leadership
from turbine_operator.core.plan.leadership import LeaseRecord, Observation

logger = logging.getLogger(__name__)


class LeaderElector:
    def __init__(
        self,
        leases: Leases,
        identity: str,
        *,
        lease_seconds: float = leadership.LEASE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._leases, self.identity = leases, identity
        self._lease_seconds, self._clock = lease_seconds, clock
        self._held: LeaseRecord | None = None
        self._renewed_at = 0.0

    def try_acquire(self, observation: Observation | None) -> Observation | None:
        """One look at the Lease: takes it if the rules allow. Returns the new observation."""
        record = self._leases.read()
        now = self._clock()
        observation = None if record is None else leadership.observe(observation, record, now)
        if not leadership.may_take(observation, self.identity, now):
            return observation
        try:
            self._held = self._leases.write(
                record,
                self.identity,
                self._lease_seconds,
                leadership.transitions_after(record, self.identity),
            )
        except LeaseTaken:
            return observation  # another standby was quicker; look again later
        self._renewed_at = now
        return None

    @property
    def leading(self) -> bool:
        return self._held is not None

    def acquire(self, stop: threading.Event) -> bool:
        """Waits until this replica holds the Lease (True), or until `stop` is set (False)."""
        observation: Observation | None = None
        logger.info("Waiting to lead on Lease %s as %s", self._leases, self.identity)
        while not stop.is_set():
            try:
                observation = self.try_acquire(observation)
            except ClusterError as error:
                logger.warning("Leader election: %s", error)
            if self.leading:
                logger.info("Leading on Lease %s as %s", self._leases, self.identity)
                return True
            stop.wait(leadership.RETRY_SECONDS)
        return False

    def renew(self) -> bool:
        """One renewal; False once the renew deadline passed without one (leadership is lost)."""
        try:
            self._held = self._leases.write(
                self._held, self.identity, self._lease_seconds, self._transitions()
            )
            self._renewed_at = self._clock()
        except LeaseTaken:
            self._held = None
            return False
        except ClusterError as error:
            logger.warning("Renewing the Lease %s failed: %s", self._leases, error)
        return not leadership.lost(self._renewed_at, self._clock())

    def keep(self, stop: threading.Event, on_lost: Callable[[], None]) -> threading.Thread:
        """Renews in a daemon thread until `stop` is set; calls `on_lost` when leadership is lost."""

        def run() -> None:
            while not stop.wait(
                leadership.RENEW_SECONDS if self._recently_renewed() else leadership.RETRY_SECONDS
            ):
                if not self.renew():
                    logger.critical(
                        "Lost the Lease %s: stopping so that only the new leader acts", self._leases
                    )
                    on_lost()
                    return

        thread = threading.Thread(target=run, name="turbine-leader-lease", daemon=True)
        thread.start()
        return thread

    def release(self) -> None:
        """Hands the Lease over at a clean shutdown: an empty holder lets a standby take it at once."""
        if self._held is None:
            return
        try:
            self._leases.write(self._held, "", 1, self._transitions())
        except (LeaseTaken, ClusterError) as error:
            logger.warning("Releasing the Lease %s failed: %s", self._leases, error)
        self._held = None

    def _recently_renewed(self) -> bool:
        return self._clock() - self._renewed_at < leadership.RENEW_SECONDS

    def _transitions(self) -> int:
        return self._held.transitions if self._held is not None else 0
