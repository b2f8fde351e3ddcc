"""One idempotent reconcile: parse, render, observe, plan, execute one action, report.

It is safe to run at any time and any number of times: every AWS request is derived from the
desired state (content-addressed change set names and ClientRequestTokens), so a repeated or
interrupted run never starts a second operation.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.cloudformation import StackGateway
from turbine_operator.adapters.aws.s3_objects import RememberedObjects, UploadedBundles
from turbine_operator.adapters.settings import OperatorSettings
from turbine_operator.core.access.ownership import OwnerRef, named_owner
from turbine_operator.core.airflow.airflow_users import desired_users
from turbine_operator.core.airflow.dag_connection import desired_connection
from turbine_operator.core.api.conditions import Verdict, progressing, stalled
from turbine_operator.core.api.spec import TurbineStackSpec, UpdatePolicy
from turbine_operator.core.errors import (
    AwsAccessDenied,
    AwsEndpointUnusable,
    AwsError,
    AwsResourceBusy,
    ClusterError,
    ReferenceMissing,
    SpecError,
    TemplateBucketMissing,
    TransientAwsError,
)
from turbine_operator.core.naming import (
    CHANGE_SET_PREFIX,
    OWNER_UID_TAG,
    change_set_token,
    continue_rollback_token,
    default_stack_name,
    execute_token,
    stale_change_sets,
)
from turbine_operator.core.observed.observations import (
    LatestOperation,
    ObservedChangeSet,
    ObservedStack,
    StackMemory,
)
from turbine_operator.core.observed.stack_status import StackPhase, phase_of
from turbine_operator.core.plan import planning
from turbine_operator.core.plan.accounts import account_move
from turbine_operator.core.plan.drift import StackShape, spec_differences
from turbine_operator.core.render.bundle import TurbineSources
from turbine_operator.core.render.rendering import IMAGE_PARAMETER, DesiredStack, Owner, desired_stack
from turbine_operator.core.render.templates import is_turbine_master
from turbine_operator.core.report.reporting import (
    failure_announcement,
    outage_announcement,
    pending_change_set,
    reconcile_announcement,
    suspension_announcement,
    verdict_for,
)
from turbine_operator.core.report.status import (
    StatusFacts,
    memory_from_status,
    recovered_memory,
    status_patch,
    tolerated_failure_patch,
)
from turbine_operator.operations.airflow.airflow_parts import AirflowParts, follow_airflow
from turbine_operator.operations.clock import Clock, timestamp, utc_now
from turbine_operator.operations.fleet.images import NewestImages
from turbine_operator.operations.fleet.rate_limits import UpdateSlots
from turbine_operator.operations.stack.references import ClusterReader, fetch_references
from turbine_operator.operations.stack.stack_names import legacy_stack
from turbine_operator.operations.stack.tenancy import RECHECK_REFUSED_SECONDS, OutsideGrant, TenantGrants
from turbine_operator.operations.turbine_stack import Outcome, StackResource


@dataclasses.dataclass
class _Observation:
    spec: TurbineStackSpec
    desired: DesiredStack
    gateway: StackGateway
    stack: ObservedStack | None
    memory: StackMemory
    latest: LatestOperation | None = None  # read only for stacks whose last operation failed


@dataclasses.dataclass(frozen=True)
class _Executed:
    memory: StackMemory
    created_stack_id: str | None = None  # the stack a CREATE change set made, as its reply named it


class Reconciler:
    def __init__(
        self,
        sessions: AwsSessions,
        sources: TurbineSources,
        settings: OperatorSettings,
        objects: ClusterReader,
        *,
        clock: Clock = utc_now,
        slots: UpdateSlots | None = None,
    ) -> None:
        self._slots = slots or UpdateSlots(limit=0)
        self._sessions = sessions
        self._sources = sources
        self._objects = objects
        self._settings = settings
        self._clock = clock
        self._remembered = RememberedObjects()
        self._uploads = UploadedBundles()
        # Per TurbineStack: what the last spec comparison saw, and its differences.
        self._comparisons: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
        self._comparisons_lock = threading.Lock()
        # Per TurbineStack: the desired hash of the CREATE change set this process executed.
        self._created: dict[str, str] = {}
        self._images = NewestImages()
        self._tenants = TenantGrants(objects, settings.tenants_config_map, required=settings.require_tenants)

    def reconcile(self, resource: StackResource) -> Outcome:
        now = timestamp(self._clock())
        try:
            spec = resource.parsed_spec(self._settings.default_region)
        except SpecError as error:
            return self._report(resource, now, stalled("InvalidSpec", str(error)))
        if spec.suspend:
            return self._suspended(resource, spec, now)
        admitted = self._admitted(resource, spec, now)
        if isinstance(admitted, Outcome):
            return admitted
        spec = admitted
        try:
            # Building the gateway may assume spec.roleArn, which AWS can refuse like any call.
            gateway = StackGateway(
                self._sessions, spec.region, spec.role_arn, self._remembered, self._uploads
            )
            found = self._stack_of(resource, spec, gateway, now)
            if isinstance(found, Outcome):
                return found
            spec, stack = found
            if moved := self._account_move(resource, spec, stack):
                # Reported without the stack found: status.stackId keeps naming this TurbineStack's.
                return self._report(resource, now, verdict_for(moved, spec.stack_name), spec=spec)
            spec = dataclasses.replace(
                spec, image_id=_image_of(spec, stack, lambda: self._images.newest(gateway))
            )
            fetched = fetch_references(spec, resource.namespace, self._objects, gateway)
            desired = desired_stack(
                spec, Owner(resource.namespace, resource.name, resource.uid), self._sources, fetched
            )
            airflow = AirflowParts(desired_users(spec, fetched), desired_connection(spec, fetched))
        except ReferenceMissing as error:
            return self._report(resource, now, stalled("ReferenceNotFound", str(error)), spec=spec)
        except SpecError as error:
            return self._report(resource, now, stalled("InvalidSpec", str(error)), spec=spec)
        except ClusterError as error:
            if error.transient:
                verdict = progressing("Retrying", f"the Kubernetes API is unavailable ({error}); retrying")
                return self._report(resource, now, verdict, spec=spec, retry=True)
            return self._report(resource, now, stalled("ReferenceNotReadable", str(error)), spec=spec)
        except AwsError as error:  # assuming spec.roleArn, observing the stack, the image, s3Url templates
            return self._aws_failure(resource, now, error, spec)
        memory = memory_from_status(resource.status)
        try:
            observation = _Observation(spec, desired, gateway, stack, memory)
            outcome, shown = self._act(resource, observation, now)
            return follow_airflow(
                outcome,
                airflow,
                spec=spec,
                stack=shown,  # someone else's stack without its outputs: its secrets are not ours to write
                status=resource.status,
                sessions=self._sessions,
                poll_interval=self._settings.poll_interval,
                now=self._clock(),
            )
        except AwsError as error:
            return self._aws_failure(resource, now, error, spec, desired)
        except ClusterError as error:  # looking up the TurbineStack that owns a stack to adopt
            verdict = progressing("Retrying", f"the Kubernetes API is unavailable ({error}); retrying")
            return self._report(resource, now, verdict, spec=spec, desired=desired, retry=True)

    @staticmethod
    def _account_move(
        resource: StackResource, spec: TurbineStackSpec, stack: ObservedStack | None = None
    ) -> planning.Stall | None:
        return account_move(
            resource.status.get("stackId"),
            role_arn=spec.role_arn,
            service_role_arn=spec.service_role_arn,
            stack=stack,
        )

    def _aws_failure(
        self,
        resource: StackResource,
        now: str,
        error: AwsError,
        spec: TurbineStackSpec,
        desired: DesiredStack | None = None,
    ) -> Outcome:
        # AWS messages may quote parameter values, Secret ones included.
        shown = desired.redacted(str(error)) if desired else str(error)
        if isinstance(error, AwsResourceBusy):
            verdict = progressing("Retrying", f"AWS refused the request for now ({shown}); retrying")
            return self._report(resource, now, verdict, spec=spec, desired=desired, retry=True)
        if isinstance(error, TransientAwsError):
            verdict = progressing("Retrying", f"AWS is unavailable or throttling ({shown}); retrying")
            return self._report(resource, now, verdict, spec=spec, desired=desired, retry=True)
        if isinstance(error, TemplateBucketMissing):
            message = (
                f"spec.templateBucket.name: S3 bucket {spec.template_bucket.name} does not exist in "
                f"{spec.region} or is not reachable ({error.code})"
            )
            verdict = stalled("TemplateBucketMissing", message)
        elif isinstance(error, AwsEndpointUnusable):
            message = f"spec.region: no AWS endpoint answers for {spec.region} ({shown})"
            verdict = stalled("AwsEndpointUnusable", message)
        else:
            verdict = stalled(_stall_reason(error), shown)
        return self._report(resource, now, verdict, spec=spec, desired=desired)

    def _act(
        self, resource: StackResource, seen: _Observation, now: str
    ) -> tuple[Outcome, ObservedStack | None]:
        """The outcome of one plan and its action, and the stack as this TurbineStack may see it
        (planning.shown_stack)."""
        intent = planning.Intent(
            desired_hash=seen.desired.hash,
            owner_uid=resource.uid,
            adopt=seen.spec.adopt,
            auto_execute=seen.spec.update_policy is UpdatePolicy.AUTO,
            approved_change_set=seen.spec.approved_change_set,
            termination_protection=seen.spec.termination_protection,
            remediate=seen.spec.drift_detection.remediate,
            update_slot_free=self._slots.available_to(resource.uid),
            recorded_stack_id=resource.status.get("stackId"),
        )
        gateway = seen.gateway
        looked_up: dict[str, ObservedChangeSet | None] = {}  # change sets read already, by name
        if planning.needs_owner_from_change_set(seen.stack):
            seen, looked_up = self._owner_from_change_set(intent, seen)
        stack = seen.stack
        # Only an adopter needs to know whether the stack's owner still exists.
        owner_alive = intent.adopt and self._owner_alive(named_owner(stack, resource.uid))
        if stack is not None and planning.needs_template(intent, stack, owner_alive):
            # Adopted only if a Turbine master (core.access.ownership): read-only, and before any change set.
            template = gateway.original_template(stack.stack_id)
            stack = dataclasses.replace(stack, turbine_master=is_turbine_master(template))
            seen = dataclasses.replace(seen, stack=stack)
        if stack is not None and planning.needs_last_operation(stack):
            seen = dataclasses.replace(seen, latest=gateway.latest_operation(stack.stack_id))
        # Status may be lost or stale: AWS (tags, the last operation's token) says what was applied and tried.
        memory = recovered_memory(seen.memory, stack, seen.latest.token if seen.latest else None)
        differences = None
        if planning.needs_spec_comparison(intent, stack, memory, owner_alive):
            differences = self._spec_differences(resource.uid, seen)
        change_set = None
        if planning.needs_change_set(intent, stack, memory, differences, owner_alive):
            assert stack is not None
            wanted = planning.desired_change_set(intent, stack)
            if wanted in looked_up:
                change_set = looked_up[wanted]
            else:
                change_set = gateway.describe_change_set(stack.name, wanted)
        action = planning.plan(
            intent, stack, change_set, memory, differences=differences, owner_alive=owner_alive
        )
        if planning.needs_update_slot(action, stack) and not self._slots.try_acquire(resource.uid):
            # Another stack took the last slot meanwhile: plan again with that fact.
            intent = dataclasses.replace(intent, update_slot_free=False)
            action = planning.plan(
                intent, stack, change_set, memory, differences=differences, owner_alive=owner_alive
            )
        self._account_update_slot(
            resource.uid, action, stack, planning.holds_update_slot(intent, stack, owner_alive)
        )
        executed = self._execute(action, resource, dataclasses.replace(seen, memory=memory))
        memory = executed.memory
        verdict = verdict_for(action, seen.desired.stack_name)
        reason_detail = self._failure_detail(action, seen)
        if reason_detail:
            verdict = dataclasses.replace(verdict, message=f"{verdict.message}; {reason_detail}")
        pending = (
            pending_change_set(action.change_set) if isinstance(action, planning.AwaitApproval) else None
        )
        shown = planning.shown_stack(intent, seen.stack, owner_alive)
        facts = StatusFacts(
            generation=resource.generation,
            now=now,
            stack_name=seen.desired.stack_name,
            region=seen.spec.region,
            verdict=verdict,
            stack=shown,
            stack_id=executed.created_stack_id,
            # status.stackId proves a stack this TurbineStack's (core.access.ownership): never someone else's.
            managed=seen.stack is None or planning.may_manage(intent, seen.stack, owner_alive),
            stack_status_reason=reason_detail,
            desired_hash=seen.desired.hash,
            memory=memory,
            pending_change_set=pending,
            spec_differences=differences,
        )
        announcement = reconcile_announcement(
            action,
            verdict,
            stack_name=seen.desired.stack_name,
            conditions=resource.status.get("conditions") or [],
            differences=differences,
            remediate=intent.remediate,
        )
        return Outcome(status=status_patch(resource.status, facts), announcement=announcement), shown

    @staticmethod
    def _owner_from_change_set(
        intent: planning.Intent, seen: _Observation
    ) -> tuple[_Observation, dict[str, ObservedChangeSet | None]]:
        """A stack in review with its owner's tags, read from the desired change set when it exists (the
        one the plan looks at anyway), else from the stack's first change set of ours."""
        assert seen.stack is not None
        stack, gateway = seen.stack, seen.gateway
        wanted = planning.desired_change_set(intent, stack)
        named = gateway.describe_change_set(stack.name, wanted)
        if named is not None and OWNER_UID_TAG in named.tags:
            tags = dict(named.tags)
        else:
            tags = gateway.change_set_tags(stack.stack_id, CHANGE_SET_PREFIX)
        stack = dataclasses.replace(stack, tags={**tags, **stack.tags})
        return dataclasses.replace(seen, stack=stack), {wanted: named}

    def forget(self, uid: str) -> None:
        """The TurbineStack is gone: whatever slot it held is free."""
        self._slots.release(uid)
        with self._comparisons_lock:
            self._comparisons.pop(uid, None)
            self._created.pop(uid, None)

    def _account_update_slot(
        self, uid: str, action: planning.Action, stack: ObservedStack | None, updating: bool
    ) -> None:
        if isinstance(action, planning.WaitForUpdateSlot):
            self._slots.waiting(uid)
        elif updating:
            self._slots.occupy(uid)  # also after a restart, when this process took no slot yet
        elif not planning.needs_update_slot(action, stack):
            self._slots.release(uid)

    def _owner_alive(self, owner: OwnerRef | None) -> bool:
        """Whether the TurbineStack a stack's tags name (not this one) still exists."""
        if owner is None or not owner.namespace or not owner.name:
            return False
        try:
            return self._objects.turbine_stack_uid(owner.namespace, owner.name) == owner.uid
        except ClusterError as error:
            if error.transient:
                raise
            # Not allowed to read it (a namespace-scoped install, HTTP 403): that it is gone cannot be shown,
            # so it counts as existing (docs/ownership.md) rather than a Retrying that never ends.
            return True

    def _spec_differences(self, uid: str, seen: _Observation) -> list[str]:
        """At a settled resync: how the live stack differs from the spec.

        The stack's template changes only with an update, which moves its LastUpdatedTime. While that
        time, the desired state and the stack's parameters and tags are what the last comparison saw,
        its answer holds and the template is not read again (GetTemplate was half an idle stack's calls).
        """
        assert seen.stack is not None
        stack = seen.stack
        seen_as = (
            stack.stack_id,
            stack.last_updated or "",
            seen.desired.hash,
            repr(sorted(stack.parameters.items())),
            repr(sorted(stack.tags.items())),
        )
        with self._comparisons_lock:
            remembered = self._comparisons.get(uid)
            created = self._created.pop(uid, None)
        if remembered is not None and remembered[0] == seen_as:
            return list(remembered[1])
        # Created by our change set and never updated since, its template is the desired one: only its
        # parameters and tags (from DescribeStacks) are compared, without GetTemplate.
        differences = self._compare(
            seen, created_as_desired=created == seen.desired.hash and not stack.updated
        )
        with self._comparisons_lock:
            self._comparisons[uid] = (seen_as, tuple(differences))
        return differences

    @staticmethod
    def _compare(seen: _Observation, *, created_as_desired: bool) -> list[str]:
        assert seen.stack is not None
        # Secret values are never compared: a difference would be reported with both values.
        secret = seen.desired.secret_parameters
        template = json.loads(seen.desired.bundle.files[seen.desired.template_key])
        desired = StackShape(
            template=template,
            parameters=_without(seen.desired.parameters, secret),
            tags=seen.desired.tags,
        )
        live = StackShape(
            template=template if created_as_desired else seen.gateway.original_template(seen.stack.stack_id),
            parameters=_without(seen.stack.parameters, secret),
            tags=seen.stack.tags,
        )
        return spec_differences(desired, live)

    def _execute(self, action: planning.Action, resource: StackResource, seen: _Observation) -> _Executed:
        """Performs the action's AWS calls; returns what to remember about them."""
        desired, gateway, memory = seen.desired, seen.gateway, seen.memory
        match action:
            case planning.StartChangeSet(name=name, kind=kind, request=request):
                gateway.upload_bundle(desired)
                token = change_set_token(resource.uid, name, kind.value, request)
                created = gateway.create_change_set(desired, name, kind, token)
                # Counted once answered (AlreadyExists included): the next request, even for this name, is
                # another. A request that failed is not counted, so its retry repeats the token.
                memory = dataclasses.replace(memory, change_set_requests=request + 1)
                # Only then the stale ones, and never on a stack in review: it is known as ours by our
                # change sets' tags alone. CloudFormation deletes a stack's other change sets when one is
                # executed (API_ExecuteChangeSet).
                if seen.stack is not None and kind is planning.ChangeSetKind.UPDATE:
                    for stale in stale_change_sets(gateway.change_set_names(seen.stack.stack_id), keep=name):
                        try:
                            gateway.delete_change_set(seen.stack.stack_id, stale)
                        except AwsResourceBusy:
                            # Still being created (a spec edited twice within one computation, which takes
                            # tens of seconds for nested stacks): CloudFormation refuses to delete it yet
                            # (API_DeleteChangeSet). It is not ours to wait for: executing the desired one
                            # deletes it (API_ExecuteChangeSet), as does the next change set's cleanup.
                            continue
                # Recorded at once: DescribeStacks by name may not show a new stack yet (eventual
                # consistency), and a delete that looked it up by name would take it for gone.
                return _Executed(memory, created_stack_id=created if seen.stack is None else None)
            case planning.DiscardChangeSet(name=name):
                gateway.delete_change_set(desired.stack_name, name)
            case planning.ExecuteChangeSet(change_set=change_set):
                token = execute_token(desired.hash, change_set.change_set_id or change_set.name)
                gateway.execute_change_set(desired.stack_name, change_set.name, token)
                if seen.stack is not None and phase_of(seen.stack.status) is StackPhase.REVIEW:
                    with self._comparisons_lock:
                        self._created[resource.uid] = desired.hash
                return _Executed(dataclasses.replace(memory, attempted_hash=desired.hash))
            case planning.AcceptEmptyChangeSet(name=name):
                gateway.delete_change_set(desired.stack_name, name)
                return _Executed(dataclasses.replace(memory, applied_hash=desired.hash))
            case planning.ContinueRollback():
                assert seen.stack is not None
                token = continue_rollback_token(
                    desired.hash,
                    seen.stack.stack_id,
                    seen.stack.last_updated or "",
                    tried=memory.attempted_hash,
                )
                gateway.continue_update_rollback(desired.stack_name, token, desired.service_role_arn)
                return _Executed(dataclasses.replace(memory, continued_rollback_hash=desired.hash))
            case planning.SetTerminationProtection(enabled=enabled):
                gateway.set_termination_protection(desired.stack_name, enabled)
                return _Executed(dataclasses.replace(memory, applied_hash=desired.hash))
            case planning.InSync():
                return _Executed(dataclasses.replace(memory, applied_hash=desired.hash))
        return _Executed(memory)

    def _failure_detail(self, action: planning.Action, seen: _Observation) -> str | None:
        if not isinstance(action, planning.Stall) or seen.stack is None:
            return None
        if action.reason in (
            planning.StallReason.CREATE_FAILED,
            planning.StallReason.UPDATE_ROLLED_BACK,
            planning.StallReason.UPDATE_ROLLBACK_FAILED,
        ):
            latest = seen.latest or seen.gateway.latest_operation(seen.stack.stack_id)
            first = latest.first_failure
            return f"first failure: {seen.desired.redacted(first)}" if first else None
        if action.reason is planning.StallReason.DELETE_FAILED:
            failed = seen.gateway.failed_resources(seen.stack.stack_id)
            return f"resources that failed to delete: {', '.join(failed)}" if failed else None
        return None

    def _suspended(self, resource: StackResource, spec: TurbineStackSpec, now: str) -> Outcome:
        # No AWS call at all; the conditions keep saying what was last known.
        status: dict[str, Any] = {"observedGeneration": resource.generation, "region": spec.region}
        if resource.names_its_stack:
            # A default name is recorded only once chosen with the tenant's prefix (_named).
            status["stackName"] = spec.stack_name
        was_suspended = resource.status.get("observedGeneration") == resource.generation
        return Outcome(status=status, announcement=suspension_announcement(was_suspended))

    def _admitted(
        self, resource: StackResource, spec: TurbineStackSpec, now: str
    ) -> TurbineStackSpec | Outcome:
        """The spec named and governed by its tenant, or the outcome for one refused (before any AWS call)."""
        named = self._named(resource, spec, now)
        governed = named if isinstance(named, Outcome) else self._governed(resource, named, now)
        if isinstance(governed, Outcome):
            return governed
        # Before any AWS call: a role of another account is not even assumed.
        if moved := self._account_move(resource, governed):
            return self._report(resource, now, verdict_for(moved, governed.stack_name), spec=governed)
        return governed

    def _stack_of(
        self, resource: StackResource, spec: TurbineStackSpec, gateway: StackGateway, now: str
    ) -> tuple[TurbineStackSpec, ObservedStack | None] | Outcome:
        """The stack by the spec's name; else an earlier operator's for this TurbineStack by the legacy
        default name (operations/stack/stack_names.py), which it then keeps, within its tenant's grant."""
        stack = gateway.describe_stack(spec.stack_name)
        earlier = legacy_stack(resource, spec.stack_name, gateway) if stack is None else None
        if earlier is None:
            return spec, stack
        governed = self._governed(resource, dataclasses.replace(spec, stack_name=earlier.name), now)
        return governed if isinstance(governed, Outcome) else (governed, earlier)

    def _named(self, resource: StackResource, spec: TurbineStackSpec, now: str) -> TurbineStackSpec | Outcome:
        """The spec with its stack name: the one it sets or recorded, else the default with its tenant's
        stack-name prefix (core/naming.py default_stack_name); the outcome when the grants cannot be read."""
        return self._within_tenancy(resource, spec, now, lambda: self._default_named(resource, spec))

    def _default_named(self, resource: StackResource, spec: TurbineStackSpec) -> TurbineStackSpec:
        if resource.names_its_stack:
            return spec
        prefix = self._tenants.stack_name_prefix(resource.namespace)
        if not prefix:
            return spec  # parsed with the default without a prefix already
        return dataclasses.replace(
            spec, stack_name=default_stack_name(resource.namespace, resource.name, prefix)
        )

    def _governed(
        self, resource: StackResource, spec: TurbineStackSpec, now: str
    ) -> TurbineStackSpec | Outcome:
        """The spec with its tenant's defaults, or the outcome for a TurbineStack its tenant does not grant
        what it asks for (before any AWS call)."""
        return self._within_tenancy(
            resource, spec, now, lambda: self._tenants.within_grant(spec, resource.namespace)
        )

    def _within_tenancy(
        self,
        resource: StackResource,
        spec: TurbineStackSpec,
        now: str,
        decide: Callable[[], TurbineStackSpec],
    ) -> TurbineStackSpec | Outcome:
        # A refused TurbineStack that names no stack records no name: a default chosen without its tenant's
        # prefix (unreadable grants), or one outside them, would pin a name it may never use.
        recorded = resource.names_its_stack
        try:
            return decide()
        except OutsideGrant as refused:
            verdict = stalled(refused.reason, refused.message)
            outcome = self._report(resource, now, verdict, spec=spec, record_name=recorded)
            return dataclasses.replace(outcome, retry_after=RECHECK_REFUSED_SECONDS)
        except ClusterError as error:
            verdict = progressing("Retrying", f"the Kubernetes API is unavailable ({error}); retrying")
            return self._report(resource, now, verdict, spec=spec, retry=True, record_name=recorded)

    def _report(
        self,
        resource: StackResource,
        now: str,
        verdict: Verdict,
        *,
        spec: TurbineStackSpec | None = None,
        desired: DesiredStack | None = None,
        retry: bool = False,
        record_name: bool = True,
    ) -> Outcome:
        """Status and a warning event (once per reason) for a reconcile that could not act."""
        if retry:
            held = tolerated_failure_patch(
                resource.status, resource.generation, now, verdict.reason, verdict.message
            )
            if held is not None:
                # A Ready stack stays Ready through a short outage; Synced=False says what failed.
                announcement = outage_announcement(verdict, resource.status.get("conditions") or [])
                return Outcome(held, announcement, retry_after=self._settings.poll_interval)
        facts = StatusFacts(
            generation=resource.generation,
            now=now,
            stack_name=spec.stack_name if spec and record_name else None,
            region=spec.region if spec else None,
            verdict=verdict,
            desired_hash=desired.hash if desired else None,
            synced=not retry,
        )
        announcement = failure_announcement(verdict, resource.status.get("conditions") or [])
        return Outcome(
            status=status_patch(resource.status, facts),
            announcement=announcement,
            retry_after=self._settings.poll_interval if retry else None,
        )


def _image_of(spec: TurbineStackSpec, stack: ObservedStack | None, latest: Callable[[], str]) -> str:
    """The AMI to run: the spec's; else the one the stack already runs; else the newest, resolved now.

    Resolved once and then kept (the stack's own ImageId parameter remembers it), so an update
    that changes nothing the user changed never replaces instances after an AMI release.
    """
    if spec.image_id:
        return spec.image_id
    running = stack.parameters.get(IMAGE_PARAMETER) if stack is not None else None
    return running or latest()


def _without(parameters: Mapping[str, str], names: frozenset[str]) -> dict[str, str]:
    return {name: value for name, value in parameters.items() if name not in names}


def _stall_reason(error: AwsError) -> str:
    if isinstance(error, AwsAccessDenied):
        return "AwsAccessDenied"
    return "AwsRequestRejected"
