"""AWS's documented rules, checked on a rendered Turbine stack before any AWS sees it.

Each check reads the rendered master and nested templates with the parameters and tags the operator
sends (`RenderedStack`) and reports what AWS would refuse (`Refusal`), worded as AWS words it, with the
page the rule comes from in its docstring. docs/aws-rules.md lists the rules and the tests that run
them. These are stand-in rules: the product never imports them.
"""

from __future__ import annotations

from collections.abc import Iterator

from turbine_dev.aws_rules import (
    cloudformation,
    data,
    groups,
    instances,
    load_balancers,
    permissions,
    services,
)
from turbine_dev.aws_rules.refusals import Check, Refusal
from turbine_dev.aws_rules.rendered import RenderedStack

CHECKS: tuple[Check, ...] = (
    *cloudformation.CHECKS,
    *instances.CHECKS,
    *groups.CHECKS,
    *load_balancers.CHECKS,
    *services.CHECKS,
    *data.CHECKS,
    *permissions.CHECKS,
)


def refusals(stack: RenderedStack) -> Iterator[Refusal]:
    """Everything AWS would refuse of the stack, by every check."""
    for check in CHECKS:
        yield from check(stack)


__all__ = ["CHECKS", "Check", "Refusal", "RenderedStack", "refusals"]
