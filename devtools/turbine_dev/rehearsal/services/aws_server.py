"""The embedded AWS of the rehearsal: `python -m turbine_dev.rehearsal.services.aws_server HOST PORT LOG`.

The same moto server and extensions as turbine_dev.aws.moto_server (turbine_dev.aws.extensions.install_all),
bound to the rehearsal network's gateway address so that instances reach it. The strict layer
(turbine_dev.strict.strict_http) serves the CloudFormation calls and moto's own API, one at a time as it
must; the other services are served as moto's server serves them, concurrently, since the instances'
long polls of SQS (up to 20 s each) must not hold up every other call. Added here only: IAM evaluated for
every call an instance or the Lambda makes (turbine_dev.rehearsal.services.iam_enforcement), and the
lifecycle-hook actions a draining worker calls, which moto 5.2.5 lacks. They behave as AWS documents them
(https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CompleteLifecycleAction.html,
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html):
the group must exist and hold the instance, the result must be CONTINUE or ABANDON, and each call
is recorded (one JSON line per call in LOG) so that the rehearsal can see when the drain ended.
"""

from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

from moto.autoscaling.responses import AutoScalingResponse
from moto.core.responses import EmptyResult

from turbine_dev.aws import moto_autoscaling, moto_server
from turbine_dev.aws.embedded_aws import DUMMY_CREDENTIALS
from turbine_dev.aws.extensions import install_all
from turbine_dev.rehearsal.services.iam_enforcement import IamEnforcement
from turbine_dev.rehearsal.services.target_health import TARGET_HEALTH_FILE
from turbine_dev.strict.strict_http import StrictAwsMiddleware

_lock = threading.Lock()
# The credential scope of a Signature Version 4 request to CloudFormation.
_CLOUDFORMATION = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/cloudformation/aws4_request")


def install_lifecycle_actions(log: Path) -> None:
    from moto.autoscaling.exceptions import ValidationError as AutoScalingValidationError  # noqa: PLC0415

    def record(self: Any, action: str) -> None:
        group_name = self._get_param("AutoScalingGroupName")
        instance_id = self._get_param("InstanceId")
        groups = self.autoscaling_backend.autoscaling_groups
        if group_name not in groups:
            raise AutoScalingValidationError(f"Group {group_name} not found")
        members = {instance.instance.id for instance in groups[group_name].instance_states}
        if instance_id not in members:
            raise AutoScalingValidationError(
                f"No active Lifecycle Action found with instance ID {instance_id}"
            )
        result = self._get_param("LifecycleActionResult")
        if action == "CompleteLifecycleAction" and result not in ("CONTINUE", "ABANDON"):
            raise AutoScalingValidationError(f"Invalid LifecycleActionResult {result}")
        entry = {
            "time": time.time(),
            "action": action,
            "group": group_name,
            "hook": self._get_param("LifecycleHookName"),
            "instance": instance_id,
            "result": result,
        }
        with _lock, log.open("a") as records:
            records.write(json.dumps(entry) + "\n")

    def complete_lifecycle_action(self: Any) -> EmptyResult:
        record(self, "CompleteLifecycleAction")
        # A scale-in's instance, held in Terminating:Wait by the hook, now leaves the group.
        moto_autoscaling.complete_termination(
            self.autoscaling_backend, self._get_param("AutoScalingGroupName"), self._get_param("InstanceId")
        )
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self: Any) -> EmptyResult:
        record(self, "RecordLifecycleActionHeartbeat")
        return EmptyResult()

    AutoScalingResponse.complete_lifecycle_action = complete_lifecycle_action  # type: ignore[attr-defined]
    AutoScalingResponse.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat  # type: ignore[attr-defined]


def install_signal_resource(log: Path) -> None:
    """SignalResource, which cfn-signal calls: the stack must exist and hold the resource
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_SignalResource.html)."""
    from moto.cloudformation.exceptions import ValidationError  # noqa: PLC0415
    from moto.cloudformation.responses import CloudFormationResponse  # noqa: PLC0415

    def signal_resource(self: Any) -> EmptyResult:
        stack_name = self._get_param("StackName")
        logical_id = self._get_param("LogicalResourceId")
        status = self._get_param("Status")
        stacks = [s for s in self.cloudformation_backend.stacks.values()
                  if stack_name in (s.name, s.stack_id) and s.status != "DELETE_COMPLETE"]  # fmt: skip
        if not stacks:
            raise ValidationError(stack_name, f"Stack with id {stack_name} does not exist")
        if logical_id not in stacks[0].template_dict.get("Resources", {}):
            raise ValidationError(stack_name, f"Resource {logical_id} does not exist in stack {stack_name}")
        if status not in ("SUCCESS", "FAILURE"):
            raise ValidationError(stack_name, f"Invalid status {status}")
        entry = {"time": time.time(), "stack": stacks[0].name, "resource": logical_id,
                 "unique_id": self._get_param("UniqueId"), "status": status}  # fmt: skip
        with _lock, log.open("a") as records:
            records.write(json.dumps(entry) + "\n")
        return EmptyResult()

    CloudFormationResponse.signal_resource = signal_resource  # type: ignore[attr-defined]


class RehearsalMiddleware:
    """CloudFormation and moto's API through the strict layer (its lock, clock and deferred work), the other
    services straight to moto."""

    def __init__(self, app: moto_server.WsgiApp) -> None:
        self.app = app
        self.strict = StrictAwsMiddleware(app)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith(("/moto-api", "/_turbine/")):
            return self.strict(environ, start_response)
        if _CLOUDFORMATION.search(environ.get("HTTP_AUTHORIZATION", "")):
            return self.strict(environ, start_response)
        return self.app(environ, start_response)


def main(argv: list[str]) -> None:
    host, port, log = argv
    # What the load balancer stand-in's health checks saw (turbine_dev.rehearsal.services.loadbalancer).
    install_all(target_health_observations=Path(log).with_name(TARGET_HEALTH_FILE))
    install_lifecycle_actions(Path(log))
    install_signal_resource(Path(log).with_name("resource-signals.jsonl"))
    workdir = Path(log).parent
    moto_server.serve(
        host,
        int(port),
        lambda app: IamEnforcement(
            RehearsalMiddleware(app), workdir, [DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"]]
        ),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
