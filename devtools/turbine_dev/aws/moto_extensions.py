"""Where moto's CloudFormation differs from AWS in ways the operator relies on, make it behave like AWS.

Dev and test tooling only: loaded by `turbine_dev.aws.moto_server`, never by the product. Each patch
names the real AWS behaviour it restores:

- DescribeChangeSet and DeleteChangeSet of a missing change set answer `ChangeSetNotFound`
  (moto answers a ValidationError about a stack, or crashes on delete).
- CreateChangeSet with a name the stack already has answers `AlreadyExistsException`
  (moto silently creates a second change set with the same name).
- UpdateTerminationProtection exists, and DeleteStack refuses a protected stack with a
  ValidationError (moto has no termination protection at all).
- ExecuteChangeSet leaves the stack with the change set's template, parameters, tags and
  outputs (moto updates only the resources, so DescribeStacks keeps showing the old ones).
- ListChangeSets lists the change sets of the stack it names (moto lists every change set of
  the region, so cleaning up "our other change sets" would reach into other stacks).
- The empty stack a CREATE change set makes (REVIEW_IN_PROGRESS) has no tags until the change
  set is executed; the tags are on the change set, and DescribeChangeSet returns them (moto tags
  the stack at once and never returns a change set's tags).
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import models, responses
from moto.cloudformation.exceptions import AlreadyExistsException, CloudFormationError, ValidationError
from moto.core.responses import ActionResult


class ChangeSetNotFound(CloudFormationError):
    code = "ChangeSetNotFound"

    def __init__(self, name: str) -> None:
        super().__init__(f"ChangeSet [{name}] does not exist")


def _find_change_set(backend: Any, name: str) -> Any:
    if name in backend.change_sets:
        return backend.change_sets[name]
    return next((cs for cs in backend.change_sets.values() if cs.change_set_name == name), None)


def install() -> None:
    _change_sets_behave_like_aws()
    _executed_change_sets_update_the_stack()
    _termination_protection()


def _change_sets_behave_like_aws() -> None:
    backend: Any = models.CloudFormationBackend
    original_describe = backend.describe_change_set
    original_delete = backend.delete_change_set
    original_create = backend.create_change_set

    def describe_change_set(self: Any, change_set_name: str) -> Any:
        if _find_change_set(self, change_set_name) is None:
            raise ChangeSetNotFound(change_set_name)
        return original_describe(self, change_set_name)

    def delete_change_set(self: Any, change_set_name: str) -> None:
        if _find_change_set(self, change_set_name) is None:
            raise ChangeSetNotFound(change_set_name)
        original_delete(self, change_set_name)

    def create_change_set(self: Any, stack_name: str, change_set_name: str, *args: Any, **kwargs: Any) -> Any:
        existing = _find_change_set(self, change_set_name)
        if existing is not None and existing.stack_name == stack_name:
            raise AlreadyExistsException(f"ChangeSet {change_set_name} already exists")
        change_set_id, stack_id = original_create(self, stack_name, change_set_name, *args, **kwargs)
        change_set = self.change_sets[change_set_id]
        change_set.tags = [{"Key": key, "Value": value} for key, value in (change_set.tags or {}).items()]
        stack = self.stacks[stack_id]
        if stack.status == "REVIEW_IN_PROGRESS":
            stack.tags = {}
        return change_set_id, stack_id

    def list_change_sets(self: Any) -> ActionResult:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        summaries = [
            cs for cs in self.cloudformation_backend.list_change_sets() if cs.stack_id == stack.stack_id
        ]
        return ActionResult({"Summaries": summaries})

    backend.describe_change_set = describe_change_set
    backend.delete_change_set = delete_change_set
    backend.create_change_set = create_change_set
    response_class: Any = responses.CloudFormationResponse
    response_class.list_change_sets = list_change_sets


def _executed_change_sets_update_the_stack() -> None:
    change_set_class: Any = models.ChangeSet
    original_apply = change_set_class.apply

    def apply(self: Any) -> None:
        original_apply(self)
        stack = self.stack
        stack.template = self.template
        stack._parse_template()
        stack.parameters = dict(self.parameters)
        if self.tags:
            stack.tags = {tag["Key"]: tag["Value"] for tag in self.tags}
        stack.description = stack.template_dict.get("Description")
        stack.output_map = stack._create_output_map()

    change_set_class.apply = apply


def _termination_protection() -> None:
    backend: Any = models.CloudFormationBackend
    response_class: Any = responses.CloudFormationResponse
    original_delete_stack = backend.delete_stack

    def delete_stack(self: Any, name_or_stack_id: str) -> None:
        try:
            stack = self.get_stack(name_or_stack_id)
        except ValidationError:
            stack = None
        if stack is not None and stack.enable_termination_protection:
            raise ValidationError(
                message=f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled"
            )
        original_delete_stack(self, name_or_stack_id)

    def update_termination_protection(self: Any) -> ActionResult:
        stack = self.cloudformation_backend.get_stack(self._get_param("StackName"))
        stack.enable_termination_protection = self._get_bool_param("EnableTerminationProtection", False)
        return ActionResult({"StackId": stack.stack_id})

    backend.delete_stack = delete_stack
    response_class.update_termination_protection = update_termination_protection
