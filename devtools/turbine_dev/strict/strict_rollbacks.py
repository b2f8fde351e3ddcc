"""Injected failures of the strict embedded CloudFormation: rollbacks, UPDATE_ROLLBACK_FAILED,
ContinueUpdateRollback and DELETE_FAILED. Dev and test tooling only; see docs/embedded-aws.md.

moto applies every update at once and never fails one. Here a failure is injected by name through the
`update_failures` setting ("<stack name>=rollback", "<stack name>=rollback_failed", or
"<stack name>=continue_failed" for the next ContinueUpdateRollback), each entry used once:

- rollback: UPDATE_IN_PROGRESS, UPDATE_ROLLBACK_IN_PROGRESS, UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS,
  then UPDATE_ROLLBACK_COMPLETE with the stack's template, parameters, tags and outputs as before the
  update ("Successful return of one or more stacks to a previous working state after a failed stack
  update", the stack status codes of the User Guide); the change set ends EXECUTE_FAILED.
- rollback_failed: the rollback fails too and the stack stays UPDATE_ROLLBACK_FAILED, where updates are
  refused ("Stack:<id> is in UPDATE_ROLLBACK_FAILED state and can not be updated.") until
  ContinueUpdateRollback takes it to UPDATE_ROLLBACK_COMPLETE (API_ContinueUpdateRollback).
Every event of these operations carries the token of the request that started it (API_StackEvent).

A deletion fails by name through `delete_failures` ("<stack name>", each entry once): the stack's next
DeleteStack ends in DELETE_FAILED with its resources in place, as when a resource's service refuses
(https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html#troubleshooting-errors-delete-stack-fails);
DeleteStack may be sent again (API_DeleteStack), and the next one deletes it.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from moto.cloudformation import models

from turbine_dev.strict.strict_state import STATE, Overlay, phases

INJECTED = "Resource handler returned message: injected by the embedded AWS"


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """What a rolled-back update puts back."""

    template: Any
    parameters: dict[str, Any]
    tags: dict[str, str]
    resources: frozenset[str] = frozenset()  # the template's logical ids


def injected(stack_name: str, *outcomes: str) -> str | None:
    """The failure injected for the stack's next operation of these outcomes, used up (None: none)."""
    for entry in STATE.settings.update_failures:
        name, _, outcome = entry.partition("=")
        if name == stack_name and outcome in outcomes:
            remaining = list(STATE.settings.update_failures)
            remaining.remove(entry)
            STATE.settings.update_failures = tuple(remaining)
            return outcome
    return None


def delete_fails(stack_name: str) -> bool:
    """Whether the stack's deletion just requested is to end in DELETE_FAILED (the entry is used up)."""
    if stack_name not in STATE.settings.delete_failures:
        return False
    remaining = list(STATE.settings.delete_failures)
    remaining.remove(stack_name)
    STATE.settings.delete_failures = tuple(remaining)
    return True


class InjectedRefusal(Exception):
    """What a resource's service answered to its deletion, as the stack's event quotes it."""

    message = INJECTED


def snapshot(stack: Any) -> Snapshot:
    resources = frozenset((stack.template_dict or {}).get("Resources", {}))
    return Snapshot(stack.template, dict(stack.parameters or {}), dict(stack.tags or {}), resources)


def fail_update(
    stack: Any,
    before: Snapshot,
    outcome: str,
    change_set: Any = None,
    *,
    message: str = INJECTED,
    resource: tuple[str, str] | None = None,
) -> None:
    """The update just started on `stack` fails: `resource` (logical id and status; default the first
    resource, UPDATE_FAILED) says `message`, and the rollback ends as `outcome` says."""
    # moto applied the update at once and recorded it complete: that event never happened.
    if stack.events and stack.events[-1].resource_status == "UPDATE_COMPLETE":
        stack.events.pop()
    seconds = STATE.settings.operation_seconds
    statuses = ["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_IN_PROGRESS"]
    if outcome == "rollback":
        statuses.append("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    overlay = STATE.stacks.get(stack.stack_id)
    outputs = overlay.outputs if overlay is not None else None
    STATE.stacks[stack.stack_id] = Overlay(phases(STATE.now(), seconds, *statuses), outputs=outputs)
    failed, failed_status = resource or (_first_resource(stack), "UPDATE_FAILED")

    def finish() -> None:
        _resource_event(stack, failed, failed_status, message)
        stack._add_stack_event(
            "UPDATE_ROLLBACK_IN_PROGRESS",
            resource_status_reason=f"The following resource(s) failed to update: [{failed}].",
        )
        _restore(stack, before)
        if change_set is not None:
            change_set.execution_status = "EXECUTE_FAILED"
        _end_rollback(stack, failed, succeeded=outcome == "rollback")

    STATE.later(seconds, finish)


def refused_resource_message(refusal: Exception) -> str:
    """A resource event's reason for what a service answered to the resource handler."""
    return f'Resource handler returned message: "{getattr(refusal, "message", None) or refusal}"'


def unmade_resource(stack: Any, change_set: Any) -> str:
    """The resource whose creation failed: moto does not say, so the first of the change set's template
    that moto had not made yet (a stack's first resource if all were)."""
    made = set(stack.resource_map._parsed_resources)
    resources = (getattr(change_set, "template_dict", None) or {}).get("Resources", {})
    return next((name for name in resources if name not in made), _first_resource(stack))


def fail_creation(stack: Any, refusal: Exception, change_set: Any) -> None:
    """A resource's service refused its creation, which moto raised from ExecuteChangeSet itself. On AWS
    the execution is accepted; the resource ends CREATE_FAILED with the service's words, the stack rolls
    back and ends ROLLBACK_COMPLETE with the resources it made deleted ("Successful removal of one or more
    stacks after a failed stack creation or after an explicitly canceled stack creation", the stack status
    codes of the User Guide), and the change set EXECUTE_FAILED. Which resource failed moto does not say:
    the first of the template's that it had not made yet."""
    failed = unmade_resource(stack, change_set)
    with contextlib.suppress(Exception):  # what moto cannot delete of a half-made stack is left behind
        stack.resource_map.delete()
    change_set.execution_status = "EXECUTE_FAILED"
    seconds = STATE.settings.operation_seconds
    statuses = ("CREATE_IN_PROGRESS", "ROLLBACK_IN_PROGRESS")
    STATE.stacks[stack.stack_id] = Overlay(phases(STATE.now(), seconds, *statuses), outputs=[])

    def finish() -> None:
        _resource_event(stack, failed, "CREATE_FAILED", refused_resource_message(refusal))
        stack._add_stack_event(
            "ROLLBACK_IN_PROGRESS",
            resource_status_reason=f"The following resource(s) failed to create: [{failed}]. "
            "Rollback requested by user.",
        )
        stack._add_stack_event("ROLLBACK_COMPLETE")
        stack.status = "ROLLBACK_COMPLETE"
        stack.output_map = {}

    STATE.later(seconds, finish)


def continue_rollback(stack: Any) -> None:
    """ContinueUpdateRollback of a stack in UPDATE_ROLLBACK_FAILED (the caller checked): the rollback goes on
    to UPDATE_ROLLBACK_COMPLETE, or fails again if so injected."""
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason="User Initiated")
    fails = injected(stack.name, "continue_failed") is not None
    seconds = STATE.settings.operation_seconds
    statuses = ["UPDATE_ROLLBACK_IN_PROGRESS"]
    if not fails:
        statuses.append("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    STATE.stacks[stack.stack_id] = Overlay(phases(STATE.now(), seconds, *statuses))
    STATE.later(seconds, lambda: _end_rollback(stack, _first_resource(stack), succeeded=not fails))


def _end_rollback(stack: Any, failed: str, *, succeeded: bool) -> None:
    if succeeded:
        stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")
        stack.status = "UPDATE_ROLLBACK_COMPLETE"
        return
    _resource_event(stack, failed, "UPDATE_FAILED", f"{INJECTED} (rolling back)")
    stack._add_stack_event(
        "UPDATE_ROLLBACK_FAILED",
        resource_status_reason=f"The following resource(s) failed to update: [{failed}].",
    )
    stack.status = "UPDATE_ROLLBACK_FAILED"


def _restore(stack: Any, before: Snapshot) -> None:
    stack.template = before.template
    stack._parse_template()
    stack.parameters = before.parameters
    stack.tags = before.tags
    stack.resource_map.update(stack.template_dict, before.parameters)
    stack.output_map = stack._create_output_map()


def _first_resource(stack: Any) -> str:
    return str(next(iter(sorted((stack.template_dict or {}).get("Resources", {}))), stack.name))


def _resource_event(stack: Any, logical_id: str, status: str, reason: str) -> None:
    resource = (stack.template_dict or {}).get("Resources", {}).get(logical_id, {})
    event = models.Event(
        stack_id=stack.stack_id,
        stack_name=stack.name,
        logical_resource_id=logical_id,
        physical_resource_id=logical_id,
        resource_type=resource.get("Type", "AWS::CloudFormation::Stack"),
        resource_status=status,
        resource_status_reason=reason,
        resource_properties=None,
    )
    # Every event of an operation carries its token (API_StackEvent): the one its start was stamped with.
    started = next((e for e in reversed(stack.events) if e.resource_status_reason == "User Initiated"), None)
    event.client_request_token = getattr(started, "client_request_token", None)
    stack.events.append(event)
