"""ownership: whose a stack is, in the order docs/ownership.md draws, for reconcile and deletion alike."""

from __future__ import annotations

import pytest

from turbine_operator.core.access.ownership import Claim, named_owner, needs_template, ownership
from turbine_operator.core.naming import OWNER_UID_TAG, ownership_tags
from turbine_operator.core.observed.observations import ObservedStack

UID = "6f1c0d3e-8a40-4c57-9a0e-6d2d5b1c2f10"
OTHER = "0b5e7e4c-1111-2222-3333-444455556666"
STACK_ID = "arn:aws:cloudformation:eu-west-1:123456789012:stack/airflow-prod/1"
EARLIER = "arn:aws:cloudformation:eu-west-1:123456789012:stack/airflow-prod/0"
REPLACED = {"team": "data"}  # what an outside `update-stack --tags Key=team,Value=data` leaves


def _stack(
    tags: dict[str, str], status: str = "UPDATE_COMPLETE", turbine_master: bool | None = True
) -> ObservedStack:
    """A stack whose template was read and is a Turbine master, unless `turbine_master` says otherwise."""
    return ObservedStack(
        stack_id=STACK_ID,
        name="airflow-prod",
        status=status,
        status_reason=None,
        tags=tags,
        outputs={},
        termination_protection=False,
        turbine_master=turbine_master,
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


@pytest.mark.parametrize("turbine_master", [False, None], ids=["not-turbine", "not-read"])
@pytest.mark.parametrize("tags", [THEIRS, REPLACED], ids=["owner-gone", "untagged"])
def test_an_adopter_takes_only_a_turbine_stack(tags: dict[str, str], turbine_master: bool | None) -> None:
    # Adopting replaces the template: another kind of stack would lose its resources. Unread counts as not.
    stack = _stack(tags, turbine_master=turbine_master)
    owned = ownership(stack, uid=UID, recorded_stack_id=None, adopt=True, owner_alive=False)

    assert owned.claim is Claim.NOT_TURBINE
    assert not owned.manageable


def test_the_template_is_read_only_for_a_stack_spec_adopt_would_take() -> None:
    def needed(stack: ObservedStack, *, adopt: bool = True) -> bool:
        return needs_template(stack, uid=UID, recorded_stack_id=None, adopt=adopt, owner_alive=False)

    assert needed(_stack(THEIRS, turbine_master=None))
    assert needed(_stack(REPLACED, turbine_master=None))
    # Read already; ours; someone else's without adopt; a live owner's; a stack in review (no resources yet).
    assert not needed(_stack(THEIRS, turbine_master=False))
    assert not needed(_stack(OURS, turbine_master=None))
    assert not needed(_stack(THEIRS, turbine_master=None), adopt=False)
    alive = _stack(THEIRS, turbine_master=None)
    assert not needs_template(alive, uid=UID, adopt=True, recorded_stack_id=None, owner_alive=True)
    review = _stack(THEIRS, "REVIEW_IN_PROGRESS", turbine_master=None)
    assert not needs_template(review, uid=UID, adopt=True, recorded_stack_id=None, owner_alive=False)
    assert ownership(review, uid=UID, recorded_stack_id=None, adopt=True, owner_alive=False).manageable
