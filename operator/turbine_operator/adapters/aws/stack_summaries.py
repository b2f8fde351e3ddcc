"""One region's live stacks, as ListStacks summaries: the fleet-wide listing's only AWS call."""

from __future__ import annotations

from turbine_operator.adapters.aws.aws_errors import aws_call
from turbine_operator.adapters.aws.aws_sessions import AwsSessions
from turbine_operator.adapters.aws.cloudformation import iso_time
from turbine_operator.core.observed.observations import StackSummary
from turbine_operator.core.plan.stack_listing import LIVE_STATUSES


def live_stacks(sessions: AwsSessions, region: str, role_arn: str | None) -> dict[str, StackSummary]:
    """Every stack in the region the role can see that is not deleted, by stack id (nested ones too:
    ListStacks cannot leave them out)."""
    client = sessions.client("cloudformation", region, role_arn)
    summaries: dict[str, StackSummary] = {}
    with aws_call("ListStacks"):
        pages = client.get_paginator("list_stacks").paginate(StackStatusFilter=list(LIVE_STATUSES))
        for page in pages:
            for raw in page.get("StackSummaries", []):
                summaries[raw["StackId"]] = StackSummary(
                    stack_id=raw["StackId"],
                    status=raw["StackStatus"],
                    last_updated=iso_time(raw.get("LastUpdatedTime") or raw.get("CreationTime")),
                )
    return summaries
