"""Deleting a TurbineStack: retain or delete its stack, and never lose track of it.

Every path that is not finished asks to be retried; nothing here ever gives up, because a
released finalizer with a live stack would orphan the stack.
"""

from __future__ import annotations

from turbine_operator.adapters.aws_sessions import AwsSessions
from turbine_operator.adapters.cloudformation import StackGateway
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.accounts import account_move
from turbine_operator.core.conditions import Verdict, progressing, ready_reason, stalled
from turbine_operator.core.errors import AwsError, ClusterError, SpecError, TransientAwsError
from turbine_operator.core.naming import client_request_token
from turbine_operator.core.observations import ObservedStack
from turbine_operator.core.planning import foreign_owner, is_owned_by, owner_lost_in_deletion
from turbine_operator.core.reporting import Announcement
from turbine_operator.core.spec import DeletionPolicy, TurbineStackSpec
from turbine_operator.core.stack_status import StackPhase, phase_of
from turbine_operator.core.status import StatusFacts, status_patch
from turbine_operator.operations.clock import Clock, timestamp, utc_now
from turbine_operator.operations.references import ClusterReader
from turbine_operator.operations.turbine_stack import Outcome, StackResource


class Deleter:
    def __init__(
        self,
        sessions: AwsSessions,
        settings: OperatorSettings,
        objects: ClusterReader,
        clock: Clock = utc_now,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._objects = objects
        self._clock = clock

    def delete(self, resource: StackResource, attempt: int) -> Outcome:
        try:
            spec = resource.parsed_spec(self._settings.default_region)
        except SpecError as error:
            # Deleting on doubt could destroy a stack the user meant to keep.
            message = f"the spec is invalid ({error}); any stack it created stays in AWS"
            return Outcome(status={}, announcement=Announcement("StackRetained", message, warning=True))
        # Status may be lost (or never written, if the operator died right after its first
        # CreateChangeSet): the spec names the same stack, and the stack's tags say whose it is.
        stack_name = resource.status.get("stackName") or spec.stack_name
        region = resource.status.get("region") or spec.region
        if spec.suspend:
            message = f"spec.suspend is true: stack {stack_name} is left in AWS untouched"
            return Outcome(status={}, announcement=Announcement("StackRetained", message))
        if spec.deletion_policy is not DeletionPolicy.DELETE:
            return Outcome(
                status={},
                announcement=Announcement(
                    "StackRetained", f"deletionPolicy is Retain: stack {stack_name} stays in AWS"
                ),
            )
        moved = account_move(
            resource.status.get("stackId"), role_arn=spec.role_arn, service_role_arn=spec.service_role_arn
        )
        if moved:
            # The other account has no stack of this one's id: looked for there, it would read as gone and
            # the finalizer would go while the stack runs on.
            return self._waiting(resource, stalled(moved.reason.value, moved.message), warn=True)
        try:
            gateway = StackGateway(self._sessions, region, spec.role_arn)
            return self._delete(resource, spec, gateway, stack_name, attempt)
        except TransientAwsError as error:
            return self._waiting(
                resource, progressing("Retrying", f"AWS is unavailable or throttling ({error})")
            )
        except AwsError as error:
            return self._waiting(resource, stalled("StackDeleteFailed", str(error)), warn=True)
        except ClusterError as error:
            return self._waiting(resource, progressing("Retrying", f"the Kubernetes API failed ({error})"))

    def _delete(
        self,
        resource: StackResource,
        spec: TurbineStackSpec,
        gateway: StackGateway,
        stack_name: str,
        attempt: int,
    ) -> Outcome:
        stack = gateway.observe_stack(resource.status.get("stackId") or stack_name)
        if stack is None:
            return Outcome(
                status={}, announcement=Announcement("StackDeleted", f"Stack {stack_name} is gone")
            )
        if owner_lost_in_deletion(stack):
            # Perhaps the stub this TurbineStack deleted a moment ago: released now, the TurbineStack would
            # go before its stack, and nothing would be left to notice should that deletion fail.
            return self._waiting(
                resource, progressing("Deleting", f"Stack {stack_name} is {stack.status}"), stack
            )
        if not self._may_delete(resource, spec, stack):
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
            if spec.termination_protection:
                verdict = stalled(
                    "TerminationProtected",
                    f"Stack {stack_name} has termination protection: set spec.terminationProtection to false "
                    "to delete it, or spec.deletionPolicy to Retain to keep it",
                )
                return self._waiting(resource, verdict, stack, warn=True)
            gateway.set_termination_protection(stack.stack_id, enabled=False)
        discriminators = [stack.stack_id] + ([str(attempt)] if phase is StackPhase.DELETE_FAILED else [])
        role = spec.service_role_arn
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

    def _may_delete(self, resource: StackResource, spec: TurbineStackSpec, stack: ObservedStack) -> bool:
        """Ours, or adopted from a TurbineStack that no longer exists: never another live one's."""
        owner = foreign_owner(stack, resource.uid)
        alive = (
            owner is not None and self._objects.turbine_stack_uid(owner.namespace, owner.name) == owner.uid
        )
        if is_owned_by(stack, resource.uid):
            return True
        return spec.adopt and not alive

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
