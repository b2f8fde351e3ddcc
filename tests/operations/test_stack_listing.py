"""The fleet-wide listing: one ListStacks per region and role wakes the TurbineStacks whose stack moved."""

from __future__ import annotations

import threading

import pytest

from turbine_operator.core.errors import AwsAccessDenied
from turbine_operator.core.observed.observations import StackSummary
from turbine_operator.core.plan.stack_listing import ListedStack, listed_stack, moved
from turbine_operator.operations.fleet.stack_listing import MOVED, StackListing

ARN = "arn:aws:cloudformation:us-east-1:123456789012:stack/{}/1"


def listed(
    name: str,
    status: str = "CREATE_COMPLETE",
    updated: str | None = "2026-11-26T10:00:00Z",
    region: str = "us-east-1",
    role: str | None = None,
) -> ListedStack:
    return ListedStack(region, role, ARN.format(name), status, updated)


def summary(
    name: str, status: str = "CREATE_COMPLETE", updated: str | None = "2026-11-26T10:00:00Z"
) -> StackSummary:
    return StackSummary(ARN.format(name), status, updated)


def test_the_listed_stack_comes_from_the_status() -> None:
    status = {
        "stackId": ARN.format("a"),
        "region": "eu-west-1",
        "stackStatus": "UPDATE_COMPLETE",
        "stackLastUpdatedTime": "2026-11-26T10:00:00Z",
    }
    assert listed_stack(status, "arn:aws:iam::1:role/r") == ListedStack(
        "eu-west-1", "arn:aws:iam::1:role/r", ARN.format("a"), "UPDATE_COMPLETE", "2026-11-26T10:00:00Z"
    )
    assert listed_stack({**status, "stackId": None}, None) is None  # no stack yet: nothing to list
    assert listed_stack({"stackId": ARN.format("a"), "region": "eu-west-1"}, None) is None


@pytest.mark.parametrize(
    ("found", "expected"),
    [
        (summary("a"), False),
        (summary("a", status="UPDATE_IN_PROGRESS"), True),  # someone updates it from the console
        (summary("a", updated="2026-11-26T11:00:00Z"), True),  # updated and completed between listings
        (None, True),  # deleted outside the operator
    ],
)
def test_a_stack_moved_when_its_status_or_update_time_differs(
    found: StackSummary | None, expected: bool
) -> None:
    assert moved(listed("a"), found) is expected


def test_a_status_without_an_update_time_is_not_a_move_by_itself() -> None:
    # Written by an operator version that did not record it: the next look records it.
    assert not moved(listed("a", updated=None), summary("a"))


class FakeLister:
    def __init__(self, summaries: dict[tuple[str, str | None], list[StackSummary]]) -> None:
        self.summaries = summaries
        self.calls: list[tuple[str, str | None]] = []
        self.during: list[object] = []

    def __call__(self, region: str, role: str | None) -> dict[str, StackSummary]:
        self.calls.append((region, role))
        for action in self.during:
            action()  # type: ignore[operator]
        if (region, role) not in self.summaries:
            raise AwsAccessDenied("ListStacks", "AccessDenied", "not allowed")
        return {s.stack_id: s for s in self.summaries[(region, role)]}


def test_one_listing_per_region_and_role_wakes_only_the_moved_stacks() -> None:
    lister = FakeLister(
        {
            ("us-east-1", None): [
                summary("a"),
                summary("b", status="UPDATE_IN_PROGRESS"),
                summary("nested-x"),
            ],
            ("eu-west-1", "role"): [],
        }
    )
    woken: list[tuple[str, str]] = []
    listing = StackListing(lister, lambda uid, reason: woken.append((uid, reason)))
    listing.watch("uid-a", listed("a"))
    listing.watch("uid-b", listed("b"))
    listing.watch("uid-c", listed("c", region="eu-west-1", role="role"))
    listing.watch("uid-new", None)  # no stack yet

    assert sorted(listing.refresh()) == ["uid-b", "uid-c"]
    assert sorted(woken) == [("uid-b", MOVED), ("uid-c", MOVED)]
    assert sorted(lister.calls, key=str) == [("eu-west-1", "role"), ("us-east-1", None)]


def test_a_failed_listing_wakes_nothing_and_the_others_still_run() -> None:
    lister = FakeLister({("us-east-1", None): [summary("a", status="DELETE_IN_PROGRESS")]})
    woken: list[str] = []
    listing = StackListing(lister, lambda uid, _: woken.append(uid))
    listing.watch("uid-a", listed("a"))
    listing.watch("uid-denied", listed("d", region="ap-south-1"))
    assert listing.refresh() == ["uid-a"]
    assert woken == ["uid-a"]


def test_forgotten_and_re_recorded_stacks_are_not_woken() -> None:
    lister = FakeLister(
        {("us-east-1", None): [summary("a", status="UPDATE_COMPLETE"), summary("b", "UPDATE_COMPLETE")]}
    )
    listing = StackListing(lister, lambda uid, _: None)
    listing.watch("uid-a", listed("a"))
    listing.watch("uid-b", listed("b"))
    listing.forget("uid-b")  # the TurbineStack went in flight, or was deleted
    # While the listing runs, a look at uid-a records the update it saw: the listing's answer is no news.
    lister.during.append(lambda: listing.watch("uid-a", listed("a", status="UPDATE_COMPLETE")))
    assert listing.refresh() == []


def test_the_loop_lists_on_its_interval_until_stopped() -> None:
    lister = FakeLister({("us-east-1", None): []})
    listing = StackListing(lister, lambda uid, _: None)
    listing.watch("uid-a", listed("a"))
    stop = threading.Event()
    lister.during.append(lambda: stop.set() if len(lister.calls) >= 2 else None)
    thread = threading.Thread(target=listing.run, args=(stop, 0.01))
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(lister.calls) == 2
