"""The stack name of a TurbineStack that records none yet, across an upgrade of the operator.

Operators before core/naming.py default_stack_name named stacks `<namespace>-<name>` (legacy_stack_name).
Their TurbineStacks recorded that name in status.stackName, which pins it (StackResource.parsed_spec); a
TurbineStack whose status was lost (restored from a backup without status, say) would take the new default and
start a second stack beside its own. So while a default name is not recorded and no stack goes by it, the
legacy name is looked up too, and kept when the stack there is this TurbineStack's (its owner tags say so).
"""

from __future__ import annotations

from turbine_operator.adapters.aws.cloudformation import StackGateway
from turbine_operator.core.access.ownership import goes_by_legacy_name
from turbine_operator.core.naming import legacy_stack_name
from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.operations.turbine_stack import StackResource


def legacy_stack(resource: StackResource, stack_name: str, gateway: StackGateway) -> ObservedStack | None:
    """The stack an earlier operator made for this TurbineStack under the legacy default name, if any.

    Only for a TurbineStack without a settled name (resource.names_its_stack) whose default `stack_name` names
    no stack: one DescribeStacks (two for a stack in review, whose owner tags its change sets carry).
    """
    if resource.names_its_stack:
        return None
    legacy = legacy_stack_name(resource.namespace, resource.name)
    if legacy == stack_name:
        return None
    stack = gateway.observe_stack(legacy)
    return stack if goes_by_legacy_name(stack, namespace=resource.namespace, name=resource.name) else None
