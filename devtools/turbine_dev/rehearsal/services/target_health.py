"""The load balancers' health checks, as the template's target groups configure them.

Each target group is read from the embedded AWS (DescribeTargetGroups: path, port, matcher, interval,
timeout, thresholds; DescribeTargetGroupAttributes: the deregistration delay) and its registered
targets from DescribeTargetHealth. Every interval each registered target gets an HTTP GET; its state
follows Elastic Load Balancing's documented rules:

- a newly registered target is `initial` (Elb.InitialHealthChecking) and becomes `healthy` after
  one passing check ("After your target is registered, it must pass one health check to be
  considered healthy"), `unhealthy` after UnhealthyThresholdCount failures;
- a healthy target becomes `unhealthy` after UnhealthyThresholdCount consecutive failures
  (Target.ResponseCodeMismatch, Target.Timeout or Target.FailedHealthChecks), an unhealthy one
  `healthy` again after HealthyThresholdCount consecutive passes;
- a deregistered target is `draining` (Target.DeregistrationInProgress) for the deregistration
  delay, then gone.
https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html
https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html

What it observes is written to `observations` (read by the embedded AWS's DescribeTargetHealth,
turbine_dev.aws.moto_target_health), so an instance asking for its own health gets this answer. The
load balancer stand-in routes only to healthy targets, or to every registered one when none is
healthy (an ALB "fails open"). `time_factor` > 1 compresses the intervals and the delay.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

_CODES = re.compile(r"(\d+)(?:-(\d+))?")
# Beside the lifecycle-action log the embedded AWS of the rehearsal writes (aws_server).
TARGET_HEALTH_FILE = "target-health.json"
# A deregistered target stops receiving requests at once, not at its next health check.
REGISTRATION_POLL_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class HealthCheck:
    """A target group's health check settings, as DescribeTargetGroups answers them."""

    arn: str
    port: int
    path: str
    interval: float
    timeout: float
    healthy_threshold: int
    unhealthy_threshold: int
    matcher: str
    deregistration_delay: float

    def matches(self, status: int) -> bool:
        return any(int(low) <= status <= int(high or low) for low, high in _CODES.findall(self.matcher))


@dataclasses.dataclass
class Target:
    state: str = "initial"
    reason: str | None = "Elb.InitialHealthChecking"
    description: str | None = "Initial health checks in progress"
    passes: int = 0
    failures: int = 0
    draining_until: float | None = None
    next_check: float = 0.0

    def observe(self, check: HealthCheck, failure: tuple[str, str] | None) -> None:
        if failure is None:
            self.passes, self.failures = self.passes + 1, 0
            needed = 1 if self.state == "initial" else check.healthy_threshold
            if self.state != "healthy" and self.passes >= needed:
                self.state, self.reason, self.description = "healthy", None, None
            return
        self.passes, self.failures = 0, self.failures + 1
        if self.state == "initial" and self.failures < check.unhealthy_threshold:
            return
        if self.state == "healthy" and self.failures < check.unhealthy_threshold:
            return
        self.state, (self.reason, self.description) = "unhealthy", failure

    def record(self) -> dict[str, str]:
        return {
            key: value
            for key, value in (
                ("State", self.state),
                ("Reason", self.reason),
                ("Description", self.description),
            )
            if value is not None
        }


def probe(check: HealthCheck, address: str) -> tuple[str, str] | None:
    """None when the target passes one check, else (reason code, description)."""
    url = f"http://{address}:{check.port}{check.path}"
    try:
        with urllib.request.urlopen(url, timeout=check.timeout) as reply:
            status = int(reply.status)
    except urllib.error.HTTPError as error:
        status = int(error.code)
    except TimeoutError:
        return "Target.Timeout", "Request timed out"
    except (OSError, urllib.error.URLError) as error:
        if "timed out" in str(error):
            return "Target.Timeout", "Request timed out"
        return "Target.FailedHealthChecks", "Health checks failed"
    if check.matches(status):
        return None
    return "Target.ResponseCodeMismatch", f"Health checks failed with these codes: [{status}]"


def health_checks(elbv2: Any) -> list[HealthCheck]:
    checks = []
    for group in elbv2.describe_target_groups()["TargetGroups"]:
        attributes = {
            a["Key"]: a["Value"]
            for a in elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])[
                "Attributes"
            ]
        }
        port = group.get("HealthCheckPort", "traffic-port")
        checks.append(HealthCheck(
            arn=group["TargetGroupArn"],
            port=int(group["Port"] if port == "traffic-port" else port),
            path=group.get("HealthCheckPath", "/"),
            interval=float(group.get("HealthCheckIntervalSeconds", 30)),
            timeout=float(group.get("HealthCheckTimeoutSeconds", 5)),
            healthy_threshold=int(group.get("HealthyThresholdCount", 5)),
            unhealthy_threshold=int(group.get("UnhealthyThresholdCount", 2)),
            matcher=str(group.get("Matcher", {}).get("HttpCode", "200")),
            deregistration_delay=float(attributes.get("deregistration_delay.timeout_seconds", 300)),
        ))  # fmt: skip
    return checks


class HealthChecker:
    """Checks every registered target of every target group, as Elastic Load Balancing would."""

    def __init__(
        self,
        elbv2: Any,
        addresses: Callable[[], dict[str, str]],
        observations: Path,
        time_factor: float = 1.0,
    ) -> None:
        self.elbv2 = elbv2
        self.addresses = addresses
        self.observations = observations
        self.time_factor = time_factor
        self.targets: dict[str, dict[str, Target]] = {}
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.rounds = 0

    def registered(self, check: HealthCheck) -> set[str]:
        # Without Targets, DescribeTargetHealth lists the group's registered targets.
        answer = self.elbv2.describe_target_health(TargetGroupArn=check.arn)["TargetHealthDescriptions"]
        return {d["Target"]["Id"] for d in answer if d["TargetHealth"]["State"] not in ("draining", "unused")}

    def check_once(self, pool: concurrent.futures.Executor) -> None:
        now = time.monotonic()
        addresses = self.addresses()
        for check in health_checks(self.elbv2):
            registered = self.registered(check)
            with self.lock:
                known = self.targets.setdefault(check.arn, {})
                for target_id in registered - set(known):
                    known[target_id] = Target()
                for target_id, target in list(known.items()):
                    if target_id in registered or target.state == "draining":
                        continue
                    target.state, target.reason = "draining", "Target.DeregistrationInProgress"
                    target.description = "Target deregistration is in progress"
                    target.draining_until = now + check.deregistration_delay / self.time_factor
                for target_id, target in list(known.items()):
                    if target.draining_until is not None and now >= target.draining_until:
                        del known[target_id]
                # Registration changes take effect at once; checks come every interval.
                due = [t for t in registered if t in addresses and now >= known[t].next_check]
                for target_id in due:
                    known[target_id].next_check = now + check.interval / self.time_factor
            outcomes = dict(zip(due, pool.map(lambda t, c=check: probe(c, addresses[t]), due), strict=True))
            with self.lock:
                for target_id, failure in outcomes.items():
                    if target_id in known and known[target_id].state != "draining":
                        known[target_id].observe(check, failure)
        self.write()
        self.rounds += 1

    def write(self) -> None:
        with self.lock:
            recorded = {
                arn: {t: target.record() for t, target in known.items()}
                for arn, known in self.targets.items()
            }
        temporary = self.observations.with_suffix(".tmp")
        temporary.write_text(json.dumps(recorded))
        temporary.replace(self.observations)

    def healthy(self) -> dict[str, list[str]]:
        """Target group ARN -> its healthy targets."""
        with self.lock:
            return {
                arn: sorted(t for t, s in known.items() if s.state == "healthy")
                for arn, known in self.targets.items()
            }

    def routable(self) -> list[str]:
        """Where a load balancer sends a new request: the healthy targets, or, when none is healthy, every
        registered one (fail open); never a draining one."""
        with self.lock:
            targets = [(t, s.state) for known in self.targets.values() for t, s in known.items()]
        healthy = sorted({t for t, state in targets if state == "healthy"})
        return healthy or sorted({t for t, state in targets if state != "draining"})

    def start(self) -> None:
        def loop() -> None:
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                while not self.stopped.is_set():
                    started = time.monotonic()
                    with contextlib.suppress(Exception):  # the next round retries; AWS keeps checking too
                        self.check_once(pool)
                    # Each round notices (de)registrations; a target is probed when its interval is due.
                    self.stopped.wait(max(0.0, REGISTRATION_POLL_SECONDS - (time.monotonic() - started)))

        threading.Thread(target=loop, daemon=True, name="target-health").start()

    def stop(self) -> None:
        self.stopped.set()
