"""From a planned action to what the user sees: the verdict, the event, the pending change set."""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from turbine_operator.core.api.conditions import (
    Verdict,
    condition_is,
    progressing,
    ready,
    ready_reason,
    stalled,
    waiting,
)
from turbine_operator.core.observed.observations import ObservedChangeSet
from turbine_operator.core.plan import planning
from turbine_operator.core.plan.drift import DRIFTED
from turbine_operator.core.report.status import SYNCED

MAX_LISTED_CHANGES = 100


@dataclasses.dataclass(frozen=True)
class Announcement:
    """A Kubernetes Event: `warning` events are failures a person should look at."""

    reason: str
    message: str
    warning: bool = False


def change_summary(change_set: ObservedChangeSet) -> str:
    counts = collections.Counter(change.action for change in change_set.changes)
    replacements = sum(1 for change in change_set.changes if change.replacement == "True")
    words = {"Add": "to add", "Modify": "to modify", "Remove": "to remove", "Import": "to import"}
    parts = [f"{counts[action]} {words.get(action, action.lower())}" for action in sorted(counts)]
    summary = ", ".join(parts) or "no resource changes"
    if replacements:
        summary += f" ({replacements} replaced)"
    return summary


def pending_change_set(change_set: ObservedChangeSet) -> dict[str, Any]:
    changes = [
        {
            "action": change.action,
            "logicalResourceId": change.logical_resource_id,
            "resourceType": change.resource_type,
            **({"replacement": change.replacement} if change.replacement else {}),
        }
        for change in change_set.changes[:MAX_LISTED_CHANGES]
    ]
    pending: dict[str, Any] = {
        "name": change_set.name,
        "summary": change_summary(change_set),
        "changes": changes,
    }
    if change_set.created_at:
        pending["createdAt"] = change_set.created_at
    return pending


def verdict_for(action: planning.Action, stack_name: str) -> Verdict:
    match action:
        case planning.InSync() | planning.AcceptEmptyChangeSet() | planning.SetTerminationProtection():
            return ready("StackReady", f"Stack {stack_name} matches the spec")
        case planning.StartChangeSet(name=name) | planning.WaitForChangeSet(name=name):
            return progressing("ChangeSetCreating", f"CloudFormation is computing change set {name}")
        case planning.DiscardChangeSet(name=name):
            return progressing(
                "ChangeSetCreating", f"Change set {name} is out of date; deleting it to compute it again"
            )
        case planning.ExecuteChangeSet(change_set=change_set):
            return progressing(
                "ChangeSetExecuting", f"Executing change set {change_set.name}: {change_summary(change_set)}"
            )
        case planning.WaitForUpdateSlot(change_set=change_set):
            return progressing(
                "WaitingForUpdateSlot",
                f"Change set {change_set.name} ({change_summary(change_set)}) waits for an update slot: the "
                "operator runs a limited number of stack updates at once (--max-concurrent-updates)",
            )
        case planning.AwaitApproval(change_set=change_set):
            return waiting(
                "ChangeSetAwaitingApproval",
                f"Change set {change_set.name} ({change_summary(change_set)}) waits for approval: "
                f"set spec.approvedChangeSet to {change_set.name}",
            )
        case planning.WaitForStack(status=status, foreign=True):
            return progressing(
                "StackOperationInProgress",
                f"Stack {stack_name}, which is not this TurbineStack's, is {status}; this TurbineStack "
                "creates its own stack of that name once it is gone",
            )
        case planning.WaitForStack(status=status):
            return progressing("StackOperationInProgress", f"Stack {stack_name} is {status}")
        case planning.ContinueRollback():
            return progressing(
                "ContinuingUpdateRollback", f"Continuing the failed rollback of stack {stack_name}"
            )
        case planning.Stall(reason=reason, message=message):
            return stalled(reason.value, message)
    raise AssertionError(f"unhandled action {action!r}")  # pragma: no cover - the match is exhaustive


def announcement_for(action: planning.Action, stack_name: str) -> Announcement | None:
    """Events for every CloudFormation operation the operator starts; failures are warnings."""
    match action:
        case planning.StartChangeSet(name=name, kind=kind):
            return Announcement(
                "ChangeSetCreated", f"Created {kind.value} change set {name} for stack {stack_name}"
            )
        case planning.DiscardChangeSet(name=name):
            return Announcement("ChangeSetDiscarded", f"Deleted out-of-date change set {name}")
        case planning.ExecuteChangeSet(change_set=change_set):
            return Announcement(
                "ChangeSetExecuted", f"Executing change set {change_set.name}: {change_summary(change_set)}"
            )
        case planning.AcceptEmptyChangeSet(name=name):
            return Announcement(
                "NoChanges", f"Change set {name} contained no changes; stack {stack_name} is in sync"
            )
        case planning.ContinueRollback():
            return Announcement(
                "ContinueUpdateRollback", f"Continuing the failed rollback of stack {stack_name}"
            )
        case planning.SetTerminationProtection(enabled=enabled):
            state = "Enabled" if enabled else "Disabled"
            return Announcement(
                f"TerminationProtection{state}", f"{state} termination protection on {stack_name}"
            )
        case planning.Stall(reason=reason, message=message):
            return Announcement(reason.value, message, warning=True)
    return None


def reconcile_announcement(
    action: planning.Action,
    verdict: Verdict,
    *,
    stack_name: str,
    conditions: Sequence[Mapping[str, Any]],
    differences: Sequence[str] | None,
    remediate: bool,
) -> Announcement | None:
    """The one event a reconcile posts. `conditions` are the ones written before it, so that a state
    already reported (a stall, an approval wait, a drift) is not announced again at every look."""
    announcement = announcement_for(action, stack_name)
    if differences and not condition_is(conditions, DRIFTED):
        remediating = remediate and isinstance(action, planning.StartChangeSet)
        what = "re-applying the spec" if remediating else "set spec.driftDetection.remediate to correct it"
        announcement = Announcement(
            "StackDriftedFromSpec", f"{'; '.join(differences[:3])} ({what})", warning=not remediating
        )
    reported = ready_reason(conditions) == verdict.reason
    if isinstance(action, planning.Stall) and reported:
        return None
    if isinstance(action, planning.AwaitApproval) and not reported:
        return Announcement("ChangeSetAwaitingApproval", verdict.message)
    return announcement


def failure_announcement(verdict: Verdict, conditions: Sequence[Mapping[str, Any]]) -> Announcement | None:
    """A failure before any plan (a refused spec, an AWS error): a warning once per reason."""
    if ready_reason(conditions) == verdict.reason:
        return None
    return Announcement(verdict.reason, verdict.message, warning=True)


def outage_announcement(verdict: Verdict, conditions: Sequence[Mapping[str, Any]]) -> Announcement | None:
    """A transient failure of a Ready stack (Ready is held, Synced turns False): a warning when it starts."""
    if condition_is(conditions, SYNCED, "False"):
        return None
    return Announcement(verdict.reason, verdict.message, warning=True)


def suspension_announcement(already_suspended: bool) -> Announcement | None:
    return None if already_suspended else Announcement("Suspended", "spec.suspend is true: no AWS calls")
