"""Deleting a TurbineStack: retain or delete its stack, and never lose track of it.

Every path that is not finished asks to be retried; nothing here ever gives up, because a
released finalizer with a live stack would orphan the stack.
"""

from __future__ import annotations

from turbine_operator.adapters.aws_sessions import AwsSessions
from turbine_operator.adapters.cloudformation import StackGateway
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.conditions import Verdict, progressing, ready_reason, stalled
from turbine_operator.core.errors import AwsError, TransientAwsError
from turbine_operator.core.naming import client_request_token
from turbine_operator.core.observations import ObservedStack
from turbine_operator.core.planning import is_owned_by
from turbine_operator.core.reporting import Announcement
from turbine_operator.core.stack_status import StackPhase, phase_of
from turbine_operator.core.status import StatusFacts, status_patch
from turbine_operator.operations.resources import Clock, Outcome, StackResource, timestamp, utc_now


class Deleter:
    def __init__(self, sessions: AwsSessions, settings: OperatorSettings, clock: Clock = utc_now) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock

    def delete(self, resource: StackResource, attempt: int) -> Outcome:
        stack_name = resource.status.get("stackName")
        region = resource.status.get("region") or resource.spec.get("region") or self._settings.default_region
        policy = resource.spec.get("deletionPolicy", "Retain")
        if not stack_name:
            return Outcome(status={}, announcement=None)  # never reconciled: nothing in AWS to look after
        if policy != "Delete":
            return Outcome(
                status={},
                announcement=Announcement(
                    "StackRetained", f"deletionPolicy is Retain: stack {stack_name} stays in AWS"
                ),
            )
        gateway = StackGateway(self._sessions, region, resource.spec.get("roleArn"))
        try:
            return self._delete(resource, gateway, stack_name, attempt)
        except TransientAwsError as error:
            return self._waiting(
                resource, progressing("Retrying", f"AWS is unavailable or throttling ({error})")
            )
        except AwsError as error:
            return self._waiting(resource, stalled("StackDeleteFailed", str(error)), warn=True)

    def _delete(
        self, resource: StackResource, gateway: StackGateway, stack_name: str, attempt: int
    ) -> Outcome:
        stack = gateway.observe_stack(resource.status.get("stackId") or stack_name)
        if stack is None:
            return Outcome(
                status={}, announcement=Announcement("StackDeleted", f"Stack {stack_name} is gone")
            )
        if not is_owned_by(stack, resource.uid) and not resource.spec.get("adopt", False):
            return Outcome(
                status={},
                announcement=Announcement(
                    "StackNotOwned",
                    f"Stack {stack_name} belongs to someone else; left untouched",
                    warning=True,
                ),
            )
        phase = phase_of(stack.status)
        if phase is StackPhase.IN_PROGRESS:
            return self._waiting(
                resource, progressing("Deleting", f"Stack {stack_name} is {stack.status}"), stack
            )
        if stack.termination_protection:
            if resource.spec.get("terminationProtection", False):
                verdict = stalled(
                    "TerminationProtected",
                    f"Stack {stack_name} has termination protection: set spec.terminationProtection to false "
                    "to delete it, or spec.deletionPolicy to Retain to keep it",
                )
                return self._waiting(resource, verdict, stack, warn=True)
            gateway.set_termination_protection(stack.stack_id, enabled=False)
        discriminators = [stack.stack_id] + ([str(attempt)] if phase is StackPhase.DELETE_FAILED else [])
        role = resource.spec.get("serviceRoleArn")
        # Read what failed before deleting again: afterwards those resources are in progress once more.
        failed = gateway.failed_resources(stack.stack_id) if phase is StackPhase.DELETE_FAILED else []
        gateway.delete_stack(
            stack.stack_id, client_request_token(resource.uid, "delete", *discriminators), role
        )
        if phase is StackPhase.DELETE_FAILED:
            listed = ", ".join(failed) or stack.status_reason or ""
            verdict = stalled("StackDeleteFailed", f"Deleting stack {stack_name} failed, retrying: {listed}")
            return self._waiting(resource, verdict, stack, warn=True)
        announcement = Announcement("StackDeleting", f"Deleting stack {stack_name}")
        return self._waiting(
            resource, progressing("Deleting", f"Deleting stack {stack_name}"), stack, announcement
        )

    def _waiting(
        self,
        resource: StackResource,
        verdict: Verdict,
        stack: ObservedStack | None = None,
        announcement: Announcement | None = None,
        *,
        warn: bool = False,
    ) -> Outcome:
        facts = StatusFacts(
            generation=resource.generation,
            now=timestamp(self._clock()),
            stack_name=None,
            region=None,
            verdict=verdict,
            stack=stack,  # so STATUS shows DELETE_IN_PROGRESS and friends while the stack goes
            synced=False,
        )
        if (
            warn
            and announcement is None
            and ready_reason(resource.status.get("conditions") or []) != verdict.reason
        ):
            announcement = Announcement(verdict.reason, verdict.message, warning=True)
        return Outcome(
            status=status_patch(resource.status, facts),
            announcement=announcement,
            finished=False,
            retry_after=self._settings.poll_interval,
        )
