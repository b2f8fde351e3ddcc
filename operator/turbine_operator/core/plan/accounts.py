"""Which AWS account a TurbineStack's stack lives in, and the spec changes that would address another.

Only spec.stackName and spec.region are immutable, yet a stack is found by name within one account: a
spec.roleArn in another account sees no stack of that name and would create a second one, while the first
runs on with nothing following it. The account a stack lives in is part of its id, an ARN whose fifth
field is "the ID of the AWS account that owns the resource" (IAM User Guide, "Identify AWS resources with
Amazon Resource Names (ARNs)", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference-arns.html), and
so is a role's. A CloudFormation service role acts within the stack's account (CloudFormation service role,
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-iam-servicerole.html: the caller needs
iam:PassRole to associate it with the stack); AWS does not say it may be another account's, and the harsher
reading is taken: a spec.serviceRoleArn of another account is refused as well.
"""

from __future__ import annotations

from turbine_operator.core.observed.observations import ObservedStack
from turbine_operator.core.plan import planning

ACCOUNT_CHANGED = planning.StallReason.ACCOUNT_CHANGED
_ARN_FIELDS = 6  # arn:partition:service:region:account-id:resource


def account_of(arn: str | None) -> str | None:
    """The account id an ARN names (None for no ARN or one without an account)."""
    fields = (arn or "").split(":", _ARN_FIELDS - 1)
    if len(fields) < _ARN_FIELDS or fields[0] != "arn":
        return None
    return fields[4] or None


def account_move(
    recorded_stack_id: str | None,
    *,
    role_arn: str | None,
    service_role_arn: str | None,
    stack: ObservedStack | None = None,
) -> planning.Stall | None:
    """A Stall when the spec addresses an account other than the one the recorded stack (status.stackId)
    lives in: by spec.roleArn or spec.serviceRoleArn, or by finding a stack of the name in another account
    (the operator's own identity, once spec.roleArn is removed). None when nothing is recorded yet."""
    recorded = account_of(recorded_stack_id)
    if recorded is None:
        return None
    addressed = [
        ("spec.roleArn", account_of(role_arn)),
        ("spec.serviceRoleArn", account_of(service_role_arn)),
    ]
    if stack is not None:
        addressed.append(("spec.roleArn", account_of(stack.stack_id)))
    for field, account in addressed:
        if account is not None and account != recorded:
            return planning.Stall(
                ACCOUNT_CHANGED,
                f"{field} addresses AWS account {account}, but this TurbineStack's stack {recorded_stack_id} "
                f"lives in account {recorded}: a stack cannot move between accounts. Set {field} back to "
                "a role of that account; to run the stack in another account, delete this TurbineStack "
                "and create a new one",
            )
    return None
