"""A strict CloudFormation on top of moto's: timing, tokens and refusals as AWS has them. Dev and test only.

Installed by `turbine_dev.aws.moto_server` after `moto_extensions`. moto answers every call at once and
accepts what AWS refuses; here (each point with the AWS documentation it follows in
docs/embedded-aws.md):

- ClientRequestToken (CreateStack, UpdateStack, DeleteStack, ExecuteChangeSet) and ClientToken
  (CreateChangeSet) are remembered per account and region for good: the same request again with a
  used token is a retry and answers what the first one answered without doing anything, even after
  what it made is gone; a different request with a used token is refused with
  `TokenAlreadyExistsException`.
- Stack operations take `operation_seconds`; meanwhile the stack and its nested stacks show
  CREATE_IN_PROGRESS, UPDATE_IN_PROGRESS then UPDATE_COMPLETE_CLEANUP_IN_PROGRESS, or
  DELETE_IN_PROGRESS (a stack being created shows no outputs yet, one being updated its old
  ones), and another operation on the stack is refused ("... is in UPDATE_IN_PROGRESS state and
  can not be updated"). A deleted stack disappears only when its deletion ends.
- A change set is CREATE_PENDING, then CREATE_IN_PROGRESS (ExecutionStatus UNAVAILABLE) for
  `change_set_seconds`, or with `realistic_time_factor` set for a duration drawn from what nested change
  sets take (tens of seconds to minutes) times the factor; it cannot be executed or deleted meanwhile.
  DescribeChangeSet answers ChangeSetNotFound for `describe_change_set_lag_seconds` after its creation.
- When a stack is updated (UpdateStack, or ExecuteChangeSet of another), its other change sets show
  ExecutionStatus OBSOLETE and cannot be executed; executing one deletes the others when the update ends.
- DeleteChangeSet returns at once; the change set stays, DELETE_PENDING then DELETE_IN_PROGRESS,
  for `change_set_delete_seconds`, and its name stays taken (AlreadyExistsException). It is
  refused (InvalidChangeSetStatus) while the change set is being created or executed, or while
  its stack is in an operation.
- Executing a change set deletes the stack's other change sets; an executed change set cannot be
  executed again.
- A change set that changes only the stack's tags is executable, with no resource changes (moto marks
  it FAILED "didn't contain changes").
- A CREATE change set for a name whose stack exists is refused, except on a REVIEW_IN_PROGRESS
  stack, which it reuses (moto would make a second stack with the same name).
- Change sets are found within the stack named by StackName (moto searches the whole region).
- Drift detection needs `drift_polls` DescribeStackDriftDetectionStatus calls to complete, or, with
  `drift_seconds` set, takes that long whatever the calls (a Turbine stack's detection takes about a
  minute on AWS; moto's is instant).
- A stack carries LastUpdatedTime from its first update on (DescribeStacks and ListStacks); moto never
  sets it.
- DescribeStacks by name answers "does not exist" for `consistency_seconds` after the stack was
  created (CreateStack, or CreateChangeSet of a new stack).
- ValidateTemplate checks what CloudFormation's does, syntax and template structure (cfn-lint's E0
  and E1 rules, and E3001 for a resource without a valid Type); moto runs every cfn-lint rule and
  refuses a template for a mere warning such as an unused parameter.
  https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_ValidateTemplate.html
- Every stack event carries the ClientRequestToken of the request that started its operation
  (CreateStack, UpdateStack, DeleteStack, ExecuteChangeSet); moto leaves it empty.
"""

from __future__ import annotations

import datetime
from typing import Any

from moto.cloudformation import models, responses
from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError, ValidationError
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, EmptyResult
from werkzeug.exceptions import HTTPException

from turbine_dev.aws.moto_extensions import ChangeSetNotFound
from turbine_dev.strict import strict_rollbacks
from turbine_dev.strict.strict_state import STATE, Overlay, phases

_TOKEN_PARAMETERS = ("ClientRequestToken", "ClientToken")
# The token of the operation each stack is in (or was last in), stamped onto its events.
_OPERATION_TOKENS: dict[str, str] = {}
_IGNORED_IN_FINGERPRINT = {*_TOKEN_PARAMETERS, "Version"}


class TokenAlreadyExistsException(CloudFormationError):
    code = "TokenAlreadyExistsException"

    def __init__(self, token: str) -> None:
        super().__init__(f"Another request with the same client request token [{token}] was already made")


class InvalidChangeSetStatus(CloudFormationError):
    code = "InvalidChangeSetStatus"

    def __init__(self, message: str) -> None:
        super().__init__(message)


def _live_stack(backend: Any, name_or_id: str | None) -> Any:
    """The stack a name or id designates that is not deleted yet, or None."""
    if not name_or_id:
        return None
    if name_or_id in backend.stacks:
        return backend.stacks[name_or_id]
    return next((stack for stack in backend.stacks.values() if stack.name == name_or_id), None)


def _nested(stack: Any) -> list[Any]:
    found = []
    for resource in list(getattr(stack.resource_map, "_parsed_resources", {}).values()):
        if isinstance(resource, models.Stack):
            found.extend([resource, *_nested(resource)])
    return found


def _change_set(backend: Any, name: str | None, stack_name: str | None) -> Any:
    """A change set by ARN, or by name within the stack StackName designates."""
    if not name:
        return None
    if name in backend.change_sets:
        return backend.change_sets[name]
    stack = _live_stack(backend, stack_name)
    if stack is None:
        return None
    return next(
        (
            cs
            for cs in backend.change_sets.values()
            if cs.change_set_name == name and cs.stack_id == stack.stack_id
        ),
        None,
    )


def _refuse_if_busy(stack: Any) -> None:
    status = STATE.busy_status(stack.stack_id)
    if status is None and stack.status == "UPDATE_ROLLBACK_FAILED":
        status = stack.status  # only ContinueUpdateRollback (or DeleteStack) moves it on
    if status:
        raise ValidationError(message=f"Stack:{stack.stack_id} is in {status} state and can not be updated.")


class _Request:
    """The parts of one CloudFormation request the strict rules read."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.backend = response.cloudformation_backend
        self.param = response._get_param
        self.fingerprint = tuple(
            sorted(
                (key, tuple(values))
                for key, values in response.querystring.items()
                if key not in _IGNORED_IN_FINGERPRINT
            )
        )

    def replay(self, parameter: str) -> Any:
        """The stored answer if this request is a retry; raises if its token was used for another."""
        token = self.param(parameter)
        if not token:
            return None
        used = STATE.tokens.get(self._scope(), {}).get(token)
        if used is None:
            return None
        fingerprint, answer = used
        if fingerprint != self.fingerprint:
            STATE.counters["token_conflicts"] += 1
            raise TokenAlreadyExistsException(token)
        STATE.counters["token_retries"] += 1
        return answer

    def remember(self, parameter: str, answer: Any) -> Any:
        token = self.param(parameter)
        if token:
            STATE.tokens.setdefault(self._scope(), {})[token] = (self.fingerprint, answer)
        return answer

    def _scope(self) -> tuple[str, str]:
        # AWS documents a token only as the way to retry one request (API_CreateChangeSet ClientToken,
        # API_ExecuteChangeSet ClientRequestToken), not how long or where it is remembered. The harsher
        # reading: the account and region remember every token for good, whatever became of the stack or
        # change set it made, and whichever action or stack a later request with it names.
        return (str(self.backend.account_id), str(self.backend.region_name))


def _start_operation(stack: Any, kind: str, outputs: list[Any] | None) -> None:
    """Shows `stack` (and its nested stacks) in progress for `operation_seconds`."""
    now, seconds = STATE.now(), STATE.settings.operation_seconds
    statuses = {
        "CREATE": ("CREATE_IN_PROGRESS",),
        "UPDATE": ("UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"),
        "DELETE": ("DELETE_IN_PROGRESS",),
    }[kind]
    STATE.stacks[stack.stack_id] = Overlay(phases(now, seconds, *statuses), outputs=outputs)
    if kind == "UPDATE":
        # AWS returns LastUpdatedTime once a stack has been updated (API_Stack, API_StackSummary); moto
        # never sets it, and the operator tells an outside update by it.
        stack.last_updated_time = datetime.datetime.now(datetime.UTC)
    for child in _nested(stack):
        child_kind = kind if kind != "UPDATE" or child.stack_id in STATE.stacks else "CREATE"
        nested_statuses = {"CREATE": ("CREATE_IN_PROGRESS",), "DELETE": ("DELETE_IN_PROGRESS",)}.get(
            child_kind, ("UPDATE_IN_PROGRESS",)
        )
        child_outputs: list[Any] | None = [] if child_kind == "CREATE" else None
        STATE.stacks[child.stack_id] = Overlay(
            phases(now, seconds * 0.8, *nested_statuses), outputs=child_outputs
        )


def _operation_token(stack: Any, token: str | None) -> None:
    """The operation starting on `stack` was requested with `token` (none: its events carry none).

    https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_StackEvent.html
    """
    if token:
        _OPERATION_TOKENS[stack.stack_id] = token
    else:
        _OPERATION_TOKENS.pop(stack.stack_id, None)


def _add_stack_event_with_token(original: Any) -> Any:
    def add(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        self.events[-1].client_request_token = _OPERATION_TOKENS.get(self.stack_id)

    return add


def create_stack(self: Any, original: Any) -> Any:
    request = _Request(self)
    if (answer := request.replay("ClientRequestToken")) is not None:
        return answer
    answer = original(self)
    stack = request.backend.stacks[answer.result["StackId"]]
    _operation_token(stack, request.param("ClientRequestToken"))
    for event in stack.events:  # moto wrote the creation's first events before the stack had an id here
        event.client_request_token = _OPERATION_TOKENS.get(stack.stack_id)
    STATE.created_at[stack.name] = STATE.now()
    _start_operation(stack, "CREATE", outputs=[])
    return request.remember("ClientRequestToken", answer)


def update_stack(self: Any, original: Any) -> Any:
    request = _Request(self)
    stack = request.backend.get_stack(request.param("StackName"))
    if (answer := request.replay("ClientRequestToken")) is not None:
        return answer
    _refuse_if_busy(stack)
    before, snapshot = stack.outputs, strict_rollbacks.snapshot(stack)
    _operation_token(stack, request.param("ClientRequestToken"))
    answer = original(self)
    _obsolete_others(request.backend, stack)
    _start_operation(stack, "UPDATE", outputs=before)
    if outcome := strict_rollbacks.injected(stack.name, "rollback", "rollback_failed"):
        strict_rollbacks.fail_update(stack, snapshot, outcome)
    return request.remember("ClientRequestToken", answer)


def delete_stack(self: Any, original: Any) -> Any:
    request = _Request(self)
    backend = request.backend
    stack = _live_stack(backend, request.param("StackName"))
    if stack is None:
        return EmptyResult()  # deleting a stack that does not exist succeeds
    if (answer := request.replay("ClientRequestToken")) is not None:
        return answer
    status = STATE.stack_status(stack.stack_id)
    if status == "DELETE_IN_PROGRESS":
        return request.remember("ClientRequestToken", EmptyResult())
    if status and status.startswith("UPDATE_") and status.endswith("_IN_PROGRESS"):
        raise ValidationError(message=f"Stack [{stack.stack_id}] cannot be deleted while in status {status}")
    if stack.enable_termination_protection:
        raise ValidationError(
            message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled"
        )
    stack_id = stack.stack_id
    _operation_token(stack, request.param("ClientRequestToken"))
    _start_operation(stack, "DELETE", outputs=None)
    fails = strict_rollbacks.delete_fails(stack.name)

    def finish() -> None:
        if stack_id in backend.stacks:
            stack.enable_termination_protection = False
            if fails:
                _delete_failed(backend, stack, strict_rollbacks.InjectedRefusal())
                return
            try:
                backend.delete_stack(stack_id)
            except Exception as refusal:  # whatever a service refused to delete
                _delete_failed(backend, stack, refusal)

    STATE.later(STATE.settings.operation_seconds, finish)
    return request.remember("ClientRequestToken", EmptyResult())


def _delete_failed(backend: Any, stack: Any, refusal: Exception) -> None:
    """A resource its service refuses to delete (a database with deletion protection) leaves the stack in
    DELETE_FAILED with what remains, as CloudFormation does; moto drops the stack all the same.

    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/troubleshooting.html#troubleshooting-errors-delete-stack-fails
    """
    backend.deleted_stacks.pop(stack.stack_id, None)
    backend.stacks[stack.stack_id] = stack
    STATE.stacks.pop(stack.stack_id, None)
    # moto's map also holds the pseudo parameters (AWS::Region, ...), which are no resources.
    names = stack.resource_map._parsed_resources
    remaining = ", ".join(sorted(name for name in names if not name.startswith("AWS::")))
    stack.status = "DELETE_FAILED"
    message = getattr(refusal, "message", None) or str(refusal)
    # One event with the whole reason: another event may be added meanwhile, so none is edited afterwards.
    stack._add_stack_event(
        "DELETE_FAILED",
        resource_status_reason=f"The following resource(s) failed to delete: [{remaining}]. {message}",
    )


def create_change_set(self: Any, original: Any) -> Any:
    request = _Request(self)
    backend = request.backend
    stack_name, name = request.param("StackName"), request.param("ChangeSetName")
    stack = _live_stack(backend, stack_name)
    if (answer := request.replay("ClientToken")) is not None:
        return answer
    if stack is not None:
        _refuse_if_busy(stack)
        if _change_set(backend, name, stack_name) is not None:
            raise AlreadyExistsException(f"ChangeSet {name} already exists")
    creates = request.param("ChangeSetType", "CREATE") == "CREATE"
    known_stacks = set(backend.stacks)
    if creates and stack is not None:
        if stack.status != "REVIEW_IN_PROGRESS":
            raise ValidationError(
                message=f"Stack [{stack_name}] already exists and cannot be created again with the "
                f"changeSet [{name}]."
            )
        answer = _create_change_set_on_review_stack(self, stack, original)
    else:
        answer = original(self)
    change_set_id, stack_id = answer.result["Id"], answer.result["StackId"]
    stack = backend.stacks[stack_id]
    _tags_are_a_change(request, backend.change_sets[change_set_id], stack)
    if creates and stack_id not in known_stacks:
        STATE.created_at[stack.name] = STATE.now()
    now = STATE.now()
    seconds = STATE.change_set_seconds(nested=request.param("IncludeNestedStacks") == "true")
    STATE.change_set_created[change_set_id] = now
    STATE.change_sets[change_set_id] = Overlay(
        phases(now, seconds, "CREATE_PENDING", "CREATE_IN_PROGRESS"),
        execution=[(now + seconds, "UNAVAILABLE")],
    )
    return request.remember("ClientToken", answer)


def _tags_are_a_change(request: _Request, change_set: Any, stack: Any) -> None:
    """New stack tags make an update CloudFormation executes, with no resource changes listed; moto marks the
    change set FAILED ("didn't contain changes") when the template and parameters are unchanged.

    The stack's tags are part of what an update sets: "CloudFormation also propagates these tags to
    resources in the stack" (API_CreateChangeSet, Tags), and UpdateStack modifies them when given
    (API_UpdateStack, Tags). Tags left out change nothing.
    """
    given = request.param("Tags")
    if change_set.status != "FAILED" or given is None:
        return
    wanted = {tag["Key"]: tag["Value"] for tag in given}
    if wanted == dict(stack.tags or {}):
        return
    change_set.status, change_set.execution_status, change_set.status_reason = (
        "CREATE_COMPLETE",
        "AVAILABLE",
        None,
    )
    change_set.changes = []


def _create_change_set_on_review_stack(self: Any, stack: Any, original: Any) -> Any:
    """AWS adds a CREATE change set to the REVIEW_IN_PROGRESS stack; moto would make a second stack."""
    backend = self.cloudformation_backend
    before = dict(backend.stacks)
    answer = original(self)
    duplicate = answer.result["StackId"]
    if duplicate not in before:
        backend.stacks.pop(duplicate, None)
    change_set = backend.change_sets[answer.result["Id"]]
    change_set.stack, change_set.stack_id, change_set.stack_name = stack, stack.stack_id, stack.name
    return ActionResult({"Id": answer.result["Id"], "StackId": stack.stack_id})


def _change_set_of(request: _Request) -> Any:
    name, stack_name = request.param("ChangeSetName"), request.param("StackName")
    change_set = _change_set(request.backend, name, stack_name)
    if change_set is None:
        raise ChangeSetNotFound(name)
    return change_set


def describe_change_set(self: Any, original: Any) -> Any:
    request = _Request(self)
    change_set = _change_set_of(request)
    created = STATE.change_set_created.get(change_set.change_set_id)
    if created is not None and STATE.now() - created < STATE.settings.describe_change_set_lag_seconds:
        # Not visible yet to reads (eventual consistency): AWS documents none for change sets, so the
        # harsher reading, like DescribeStacks after a creation.
        raise ChangeSetNotFound(request.param("ChangeSetName"))
    return ActionResult(change_set)


def _obsolete_others(backend: Any, stack: Any, executed: str | None = None) -> list[str]:
    """The stack was updated: its other change sets can no longer be executed ("OBSOLETE ... because the
    stack was already updated", API_DescribeChangeSet ExecutionStatus). Returns their ids."""
    others = [
        cs_id
        for cs_id, cs in backend.change_sets.items()
        if cs.stack_id == stack.stack_id
        and cs_id != executed
        # An executed change set keeps telling how its execution ended.
        and cs.__dict__.get("_moto_execution_status") not in ("EXECUTE_COMPLETE", "EXECUTE_FAILED")
    ]
    STATE.obsolete.update(others)
    return others


def delete_change_set(self: Any, original: Any) -> Any:
    request = _Request(self)
    backend = request.backend
    change_set = _change_set_of(request)
    change_set_id = change_set.change_set_id
    status = STATE.change_set_status(change_set_id)
    if status in ("DELETE_PENDING", "DELETE_IN_PROGRESS"):
        return EmptyResult()
    execution = STATE.change_set_execution(change_set_id) or STATE.busy_status(change_set.stack_id)
    if status or execution:
        raise InvalidChangeSetStatus(
            f"ChangeSet [{change_set_id}] cannot be deleted in its current status of [{status or execution}]"
        )
    now, seconds = STATE.now(), STATE.settings.change_set_delete_seconds
    STATE.change_sets[change_set_id] = Overlay(phases(now, seconds, "DELETE_PENDING", "DELETE_IN_PROGRESS"))
    STATE.later(seconds, lambda: backend.change_sets.pop(change_set_id, None))
    return EmptyResult()


def execute_change_set(self: Any, original: Any) -> Any:
    request = _Request(self)
    backend = request.backend
    if (answer := request.replay("ClientRequestToken")) is not None:
        return answer
    change_set = _change_set_of(request)
    stack = backend.stacks[change_set.stack_id]
    change_set_id = change_set.change_set_id
    status = STATE.change_set_status(change_set_id) or change_set.status
    if status != "CREATE_COMPLETE":
        raise InvalidChangeSetStatus(
            f"ChangeSet [{change_set_id}] cannot be executed in its current status of [{status}]"
        )
    if change_set.execution_status != "AVAILABLE":
        raise InvalidChangeSetStatus(
            f"ChangeSet [{change_set_id}] cannot be executed in its current execution status of "
            f"[{change_set.execution_status}]"
        )
    _refuse_if_busy(stack)
    kind = change_set.change_set_type
    before, snapshot = [] if kind == "CREATE" else stack.outputs, strict_rollbacks.snapshot(stack)
    _operation_token(stack, request.param("ClientRequestToken"))
    try:
        backend.execute_change_set(change_set_name=change_set_id, stack_name=stack.stack_id)
    except (ServiceException, HTTPException) as service_refusal:  # moto's two kinds of service errors
        refusal: Exception | None = service_refusal  # a resource's service refused: the operation fails
    else:
        refusal = None
    if kind == "UPDATE":
        # AWS marks the start of every operation a user asked for (moto only a creation's).
        started = [event for event in stack.events if event.resource_status == "UPDATE_IN_PROGRESS"]
        started[-1].resource_status_reason = "User Initiated"
    _start_operation(stack, kind, outputs=before)
    if refusal is not None and kind == "CREATE":
        strict_rollbacks.fail_creation(stack, refusal, change_set)
    elif refusal is not None:
        message = strict_rollbacks.refused_resource_message(refusal)
        failed = strict_rollbacks.unmade_resource(stack, change_set)
        # A resource the update adds fails its creation; one it replaces or changes, its update.
        status = "UPDATE_FAILED" if failed in snapshot.resources else "CREATE_FAILED"
        strict_rollbacks.fail_update(
            stack, snapshot, "rollback", change_set, message=message, resource=(failed, status)
        )
    elif kind == "UPDATE" and (
        outcome := strict_rollbacks.injected(stack.name, "rollback", "rollback_failed")
    ):
        strict_rollbacks.fail_update(stack, snapshot, outcome, change_set)
    now, seconds = STATE.now(), STATE.settings.operation_seconds
    STATE.change_sets[change_set_id] = Overlay([], execution=[(now + seconds, "EXECUTE_IN_PROGRESS")])
    # OBSOLETE at once, deleted when the update ends (API_ExecuteChangeSet: "CloudFormation deletes all
    # other change sets associated with the stack because they aren't valid for the updated stack").
    others = _obsolete_others(backend, stack, executed=change_set_id)

    def drop_other_change_sets() -> None:
        for cs_id in others:
            backend.change_sets.pop(cs_id, None)

    STATE.later(seconds, drop_other_change_sets)
    return request.remember("ClientRequestToken", EmptyResult())


def continue_update_rollback(self: Any, original: Any) -> Any:
    """ContinueUpdateRollback, which moto lacks: only from UPDATE_ROLLBACK_FAILED
    (API_ContinueUpdateRollback)."""
    request = _Request(self)
    if (answer := request.replay("ClientRequestToken")) is not None:
        return answer
    stack = _live_stack(request.backend, request.param("StackName"))
    if stack is None:
        raise ValidationError(request.param("StackName"))
    if stack.status != "UPDATE_ROLLBACK_FAILED":
        raise ValidationError(message="ContinueUpdateRollback cannot be called from current stack status")
    _operation_token(stack, request.param("ClientRequestToken"))
    strict_rollbacks.continue_rollback(stack)
    return request.remember("ClientRequestToken", EmptyResult())


def describe_stacks(self: Any, original: Any) -> Any:
    name = self._get_param("StackName")
    created = STATE.created_at.get(name) if name else None
    if created is not None and STATE.now() - created < STATE.settings.consistency_seconds:
        raise ValidationError(name)
    return original(self)


def detect_stack_drift(self: Any, original: Any) -> Any:
    answer = original(self)
    STATE.drift_started[answer.result["StackDriftDetectionId"]] = STATE.now()
    return answer


def describe_stack_drift_detection_status(self: Any, original: Any) -> Any:
    answer = original(self)
    detection_id = self._get_param("StackDriftDetectionId")
    STATE.drift_polls[detection_id] += 1
    if STATE.settings.drift_seconds > 0:
        started = STATE.drift_started.get(detection_id, STATE.now())
        if STATE.now() - started >= STATE.settings.drift_seconds:
            return answer
    elif STATE.drift_polls[detection_id] >= STATE.settings.drift_polls:
        return answer
    pending = {key: value for key, value in answer.result.items() if key != "DriftedStackResourceCount"}
    pending["DetectionStatus"] = "DETECTION_IN_PROGRESS"
    pending["StackDriftStatus"] = "UNKNOWN"
    return ActionResult(pending)


_HANDLERS = {
    "create_stack": create_stack,
    "update_stack": update_stack,
    "delete_stack": delete_stack,
    "create_change_set": create_change_set,
    "describe_change_set": describe_change_set,
    "delete_change_set": delete_change_set,
    "execute_change_set": execute_change_set,
    "describe_stacks": describe_stacks,
    "describe_stack_drift_detection_status": describe_stack_drift_detection_status,
    "detect_stack_drift": detect_stack_drift,
    "continue_update_rollback": continue_update_rollback,
}


def _overlaid_statuses() -> None:
    """moto's stacks and change sets show the overlay's status while one lasts."""
    stack_class: Any = models.Stack
    change_set_class: Any = models.ChangeSet
    moto_outputs = stack_class.outputs

    def stack_status(self: Any) -> Any:
        return STATE.stack_status(self.stack_id) or self.__dict__.get("_moto_status")

    def set_stack_status(self: Any, value: Any) -> None:
        self.__dict__["_moto_status"] = value

    def outputs(self: Any) -> Any:
        shown = STATE.stack_outputs(self.stack_id)
        return shown if shown is not None else moto_outputs.fget(self)

    def change_set_status(self: Any) -> Any:
        return STATE.change_set_status(self.change_set_id) or self.__dict__.get("_moto_status")

    def set_change_set_status(self: Any, value: Any) -> None:
        self.__dict__["_moto_status"] = value

    def execution_status(self: Any) -> Any:
        shown = STATE.change_set_execution(self.change_set_id)
        if shown is None and self.change_set_id in STATE.obsolete:
            return "OBSOLETE"
        return shown or self.__dict__.get("_moto_execution_status")

    def set_execution_status(self: Any, value: Any) -> None:
        self.__dict__["_moto_execution_status"] = value

    stack_class.status = property(stack_status, set_stack_status)
    stack_class.outputs = property(outputs)
    change_set_class.status = property(change_set_status, set_change_set_status)
    change_set_class.execution_status = property(execution_status, set_execution_status)


_STRUCTURE_RULES = ("E0", "E1", "E3001")


def _structure_only(original: Any) -> Any:
    def validate(template: str) -> list[Any]:
        return [match for match in original(template) if str(match.rule.id).startswith(_STRUCTURE_RULES)]

    return validate


def install() -> None:
    _overlaid_statuses()
    backend_module: Any = models
    backend_module.validate_template_cfn_lint = _structure_only(backend_module.validate_template_cfn_lint)
    stack_class: Any = models.Stack
    stack_class._add_stack_event = _add_stack_event_with_token(stack_class._add_stack_event)
    response_class: Any = responses.CloudFormationResponse
    for name, handler in _HANDLERS.items():
        original = getattr(response_class, name, None)  # None: an action moto lacks

        def strict(self: Any, handler: Any = handler, original: Any = original) -> Any:
            return handler(self, original)

        setattr(response_class, name, strict)
