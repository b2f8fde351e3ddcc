"""Deleting a TurbineStack: retain or delete its stack, and never lose track of it.

Every path that is not finished asks to be retried; nothing here ever gives up, because a
released finalizer with a live stack would orphan the stack.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.cloudformation import StackGateway
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.access.ownership import (
    Claim,
    OwnerRef,
    Ownership,
    named_owner,
    needs_template,
    ownership,
)
from turbine_operator.core.api.conditions import Verdict, progressing, ready_reason, stalled
from turbine_operator.core.api.spec import DeletionPolicy, TurbineStackSpec
from turbine_operator.core.errors import AwsError, ClusterError, SpecError, TransientAwsError
from turbine_operator.core.naming import client_request_token, default_stack_name
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.core.observed.stack_status import StackPhase, phase_of
from turbine_operator.core.plan import delete_retries
from turbine_operator.core.plan.accounts import account_move
from turbine_operator.core.render.templates import is_turbine_master
from turbine_operator.core.report.reporting import Announcement
from turbine_operator.core.report.status import StatusFacts, status_patch
from turbine_operator.operations.clock import Clock, timestamp, utc_now
from turbine_operator.operations.stack.references import ClusterReader
from turbine_operator.operations.stack.stack_names import legacy_stack
from turbine_operator.operations.stack.tenancy import OutsideGrant, TenantGrants
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
        self._tenants = TenantGrants(objects, settings.tenants_config_map, required=settings.require_tenants)

    def delete(self, resource: StackResource, attempt: int) -> Outcome:
        """`attempt` is kopf's retry count, which counts every look: retries of a failed delete are counted in
        status.deleteRetries instead, so a restart neither repeats nor skips one."""
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
        try:
            if not resource.names_its_stack:
                # Named by default: with its tenant's prefix, as the reconcile names it.
                prefix = self._tenants.stack_name_prefix(resource.namespace)
                stack_name = default_stack_name(resource.namespace, resource.name, prefix)
                spec = dataclasses.replace(spec, stack_name=stack_name)
            spec = self._tenants.within_grant(spec, resource.namespace)
        except OutsideGrant as refused:
            # Its tenant does not grant the role (or region) it names: no AWS call is made with it.
            message = f"{refused.message}; no AWS call is made for it, and any stack it created stays in AWS"
            return Outcome(status={}, announcement=Announcement("StackRetained", message, warning=True))
        except ClusterError as error:
            return self._waiting(resource, progressing("Retrying", f"the Kubernetes API failed ({error})"))
        moved = account_move(
            resource.status.get("stackId"), role_arn=spec.role_arn, service_role_arn=spec.service_role_arn
        )
        if moved:
            # The other account has no stack of this one's id: looked for there, it would read as gone and
            # the finalizer would go while the stack runs on.
            return self._waiting(resource, stalled(moved.reason.value, moved.message), warn=True)
        try:
            gateway = StackGateway(self._sessions, region, spec.role_arn)
            return self._delete(resource, spec, gateway, stack_name)
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
    ) -> Outcome:
        recorded = resource.status.get("stackId")
        stack = gateway.observe_stack(recorded or stack_name)
        if stack is None and recorded:
            # The recorded stack is gone (DELETE_COMPLETE), but one of the name may have been made after it
            # (its CreateChangeSet's reply lost with a killed operator): its tags say whether it is ours.
            stack = gateway.observe_stack(stack_name)
        if stack is None:
            # A stack an earlier operator named by its legacy default, whose status was lost: deleted with it.
            stack = legacy_stack(resource, stack_name, gateway)
            if stack is not None:
                stack_name = stack.name
        if stack is None:
            return Outcome(
                status={}, announcement=Announcement("StackDeleted", f"Stack {stack_name} is gone")
            )
        owned, refusal = self._ownership(resource, spec, stack, gateway)
        if owned.claim is Claim.LOST_IN_DELETION:
            # Perhaps the stub this TurbineStack deleted a moment ago: released now, the TurbineStack would
            # go before its stack, and nothing would be left to notice should that deletion fail.
            return self._waiting(
                resource, progressing("Deleting", f"Stack {stack_name} is {stack.status}"), stack
            )
        if not owned.manageable:
            message = f"Stack {stack_name} belongs to someone else{refusal}; left untouched"
            return Outcome(status={}, announcement=Announcement("StackNotOwned", message, warning=True))
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
        if phase is StackPhase.DELETE_FAILED:
            return self._retry_failed_delete(resource, spec, gateway, stack, stack_name)
        token = client_request_token(resource.uid, "delete", stack.stack_id)
        gateway.delete_stack(stack.stack_id, token, spec.service_role_arn)
        announcement = Announcement("StackDeleting", f"Deleting stack {stack_name}")
        return self._waiting(
            resource, progressing("Deleting", f"Deleting stack {stack_name}"), stack, announcement
        )

    def _retry_failed_delete(
        self,
        resource: StackResource,
        spec: TurbineStackSpec,
        gateway: StackGateway,
        stack: ObservedStack,
        stack_name: str,
    ) -> Outcome:
        """DeleteStack again once the gap since the last retry has passed (core/plan/delete_retries.py)."""
        now = self._clock()
        retries = delete_retries.remembered(resource.status)
        wait = delete_retries.wait_before_retry(retries, now)
        if wait is not None:
            due = timestamp(now + wait)
            why = stack.status_reason or stack.status
            message = f"Deleting stack {stack_name} failed ({why}); the next try is due at {due}"
            return self._waiting(
                resource, stalled("StackDeleteFailed", message), stack, retry_after=wait.total_seconds()
            )
        # Read what failed before deleting again: afterwards those resources are in progress once more.
        failed = gateway.failed_resources(stack.stack_id)
        token = client_request_token(resource.uid, "delete", stack.stack_id, str(retries.sent + 1))
        gateway.delete_stack(stack.stack_id, token, spec.service_role_arn)
        sent = delete_retries.after_retry(retries, now)
        due = timestamp(sent.next_attempt or now)
        listed = ", ".join(failed) or stack.status_reason or ""
        retry = f"retry {sent.sent} sent, the next not before {due}"
        message = f"Deleting stack {stack_name} failed ({retry}): {listed}"
        verdict = stalled("StackDeleteFailed", message)
        return self._waiting(
            resource,
            verdict,
            stack,
            Announcement(verdict.reason, message, warning=True),
            extra=delete_retries.status_fields(sent, due),
        )

    def _ownership(
        self, resource: StackResource, spec: TurbineStackSpec, stack: ObservedStack, gateway: StackGateway
    ) -> tuple[Ownership, str]:
        """Whose the stack is (core.access.ownership); what makes it someone else's when it is not ours."""
        owner = named_owner(stack, resource.uid)
        alive, why = self._owner_alive(owner) if spec.adopt and owner is not None else (False, "")
        recorded = resource.status.get("stackId")
        if needs_template(
            stack, uid=resource.uid, recorded_stack_id=recorded, adopt=spec.adopt, owner_alive=alive
        ):
            # An adopter deletes only a Turbine stack: the template says (read-only GetTemplate).
            template = gateway.original_template(stack.stack_id)
            stack = dataclasses.replace(stack, turbine_master=is_turbine_master(template))
        owned = ownership(
            stack, uid=resource.uid, recorded_stack_id=recorded, adopt=spec.adopt, owner_alive=alive
        )
        if owned.claim is Claim.NOT_TURBINE:
            why = " (its template is not a Turbine master, and spec.adopt takes only Turbine stacks)"
        return owned, why

    def _owner_alive(self, owner: OwnerRef) -> tuple[bool, str]:
        try:
            alive = self._objects.turbine_stack_uid(owner.namespace, owner.name) == owner.uid
        except ClusterError as error:
            if error.transient:
                raise
            # A namespace-scoped install may not read TurbineStacks of other namespaces (403): that the owner
            # is gone cannot be shown, so its stack is kept as a live one's. Retrying would meet the same 403
            # forever and hold this TurbineStack's deletion with it; releasing it leaves only the stack it
            # would have adopted, which was never its own.
            return True, f" (TurbineStack {owner.namespace}/{owner.name}, which cannot be read: {error})"
        return alive, " (a TurbineStack that still exists)" if alive else ""

    def _waiting(
        self,
        resource: StackResource,
        verdict: Verdict,
        stack: ObservedStack | None = None,
        announcement: Announcement | None = None,
        *,
        warn: bool = False,
        retry_after: float | None = None,
        extra: dict[str, Any] | None = None,
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
            status={**status_patch(resource.status, facts), **(extra or {})},
            announcement=announcement,
            finished=False,
            retry_after=retry_after or self._settings.poll_interval,
        )
