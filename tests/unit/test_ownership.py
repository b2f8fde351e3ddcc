"""ownership: whose a stack is, in the order docs/ownership.md draws, for reconcile and deletion alike."""

from __future__ import annotations

import pytest

from turbine_operator.core.access.ownership import Claim, named_owner, ownership
from turbine_operator.core.naming import OWNER_UID_TAG, ownership_tags
from turbine_operator.core.observed.observations import ObservedStack

UID = "6f1c0d3e-8a40-4c57-9a0e-6d2d5b1c2f10"
OTHER = "0b5e7e4c-1111-2222-3333-444455556666"
STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/airflow-prod/1"
EARLIER = "arn:aws:cloudformation:eu-west-1:123456789012:stack/airflow-prod/0"
REPLACED = {"team": "data"}  # what an outside `update-stack --tags Key=team,Value=data` leaves


def _stack(tags: dict[str, str], status: str = "UPDATE_COMPLETE") -> ObservedStack:
    return ObservedStack(
        stack_id=STACK_ID,
        name="airflow-prod",
        status=status,
        status_reason=None,
        tags=tags,
        outputs={},
        termination_protection=False,
    )


OURS = ownership_tags("airflow", "prod", UID)
THEIRS = ownership_tags("airflow", "other", OTHER)


# The state table of docs/ownership.md, row by row: tags, then status.stackId, then being deleted, then adopt.
@pytest.mark.parametrize(
    ("tags", "status", "recorded", "adopt", "alive", "claim"),
    [
        pytest.param(OURS, "UPDATE_COMPLETE", None, False, False, Claim.OURS, id="tagged-ours"),
        pytest.param(OURS, "UPDATE_COMPLETE", EARLIER, False, False, Claim.OURS, id="ours-other-record"),
        pytest.param(
            THEIRS, "UPDATE_COMPLETE", STACK_ID, False, False, Claim.ANOTHERS, id="tags-beat-record"
        ),
        pytest.param(THEIRS, "UPDATE_COMPLETE", None, True, True, Claim.ANOTHERS, id="owner-alive"),
        pytest.param(THEIRS, "UPDATE_COMPLETE", None, True, False, Claim.ADOPTABLE, id="owner-gone"),
        pytest.param(REPLACED, "UPDATE_COMPLETE", STACK_ID, False, False, Claim.RECORDED, id="tags-replaced"),
        pytest.param(REPLACED, "DELETE_FAILED", STACK_ID, False, False, Claim.RECORDED, id="replaced-failed"),
        pytest.param({}, "DELETE_IN_PROGRESS", STACK_ID, False, False, Claim.RECORDED, id="recorded-going"),
        pytest.param({}, "DELETE_IN_PROGRESS", None, True, False, Claim.LOST_IN_DELETION, id="lost"),
        pytest.param(REPLACED, "UPDATE_COMPLETE", EARLIER, False, False, Claim.UNOWNED, id="not-recorded"),
        pytest.param(REPLACED, "UPDATE_COMPLETE", None, True, False, Claim.ADOPTABLE, id="untagged-adopt"),
    ],
)
def test_whose_a_stack_is(
    tags: dict[str, str], status: str, recorded: str | None, adopt: bool, alive: bool, claim: Claim
) -> None:
    owned = ownership(
        _stack(tags, status), uid=UID, recorded_stack_id=recorded, adopt=adopt, owner_alive=alive
    )

    assert owned.claim is claim
    assert owned.manageable is (claim in (Claim.OURS, Claim.RECORDED, Claim.ADOPTABLE))


def test_the_owner_named_by_the_tags_is_another_turbinestack() -> None:
    assert named_owner(_stack(OURS), UID) is None
    assert named_owner(_stack(REPLACED), UID) is None
    assert named_owner(None, UID) is None
    owner = named_owner(_stack(THEIRS), UID)
    assert owner is not None
    assert (owner.namespace, owner.name, owner.uid) == ("airflow", "other", OTHER)
    assert OWNER_UID_TAG in THEIRS
