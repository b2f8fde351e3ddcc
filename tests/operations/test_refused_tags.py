"""Tags CloudFormation refuses stall the TurbineStack before anything reaches AWS."""

from __future__ import annotations

import pytest

from stubbed.aws import spec
from turbine_operator.operations.stack.reconcile import Reconciler

from .harness import StubbedAws, conditions, stack_resource


@pytest.mark.parametrize(
    ("tags", "field"),
    [
        ({"team": ""}, "spec.tags.team"),
        ({"": "data"}, "spec.tags"),
        ({"AWS:owner": "me"}, "spec.tags.AWS:owner"),
    ],
)
def test_a_tag_cloudformation_refuses_stalls_without_calling_aws(
    aws: StubbedAws, reconciler: Reconciler, tags: dict[str, str], field: str
) -> None:
    outcome = reconciler.reconcile(stack_resource(spec(tags=tags)))

    stalled = conditions(outcome)["Stalled"]
    assert stalled["status"] == "True"
    assert stalled["reason"] == "InvalidSpec"
    assert stalled["message"].startswith(field)
    assert aws.calls == []
