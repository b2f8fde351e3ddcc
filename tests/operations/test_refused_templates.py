"""A user template CloudFormation's ValidateTemplate refuses stalls the TurbineStack before any upload."""

from __future__ import annotations

from stubbed.aws import spec
from turbine_operator.operations.stack.reconcile import Reconciler

from .harness import StubbedAws, conditions, desired_for, stack_resource

TEMPLATE = "Resources:\n  Topic:\n    Type: AWS::SNS::Topik\n"


def test_a_template_cloudformation_refuses_stalls_naming_it_before_upload(
    aws: StubbedAws, reconciler: Reconciler
) -> None:
    resource = stack_resource(spec(additionalTemplates=[{"name": "Dags", "template": {"inline": TEMPLATE}}]))
    aws.new_stack()
    aws.bundle_listing(desired_for(resource), present=False)
    aws.cloudformation.add_client_error(
        "validate_template",
        "ValidationError",
        "Template format error: Unrecognized resource types: [AWS::SNS::Topik]",
        expected_params={"TemplateBody": TEMPLATE},
    )

    outcome = reconciler.reconcile(resource)

    aws.verify()
    assert aws.calls == ["DescribeStacks", "DescribeStacks", "ListObjectsV2", "ValidateTemplate"]
    stalled = conditions(outcome)["Stalled"]
    assert stalled["status"] == "True"
    assert "spec.additionalTemplates[Dags].template is refused by CloudFormation" in stalled["message"]
    assert "Unrecognized resource types" in stalled["message"]
