"""ModelMarket.vy, submissions and volunteers, rejected deliveries, closing, the executor draw.

The executors are ``select(keccak(blockhash(target) || uint256(id) || b"executors"),
volunteers, executors, 0)`` (mercato.protocols.draws) with the block that closed the
submissions as target; only volunteers can be drawn, and neither the buyer nor a seller
can volunteer.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from mercato.errors import ContractRevert
from mercato.protocols.draws import BLOCKHASH_WINDOW, select
from mercato.protocols.modelmarket.limits import MAX_SELLERS, MAX_SIZE, MAX_VOLUNTEERS
from mercato.protocols.modelmarket.market import ADVANCE_GAS_LIMIT, advance_gas
from mercato.protocols.modelmarket.views import RequestStatus, SubmissionState, indices_of
from mercato.protocols.roles import Role

from ..world import EMPTY, reverts
from .world import (
    DELIVERY_HASH,
    ESCROWED,
    EXECUTOR_FEE,
    EXECUTOR_STAKE,
    PERIODS,
    SELLER_STAKE,
    World,
    bit_count,
    draw_seed,
    new_model,
)

EVERY_ROLE = Role.CLIENT | Role.MODEL_OWNER | Role.COMPUTE_PROVIDER
LARGE_DRAW_GAS = 3_000_000

# submitting ---------------------------------------------------------------------------------


def test_a_seller_submits_its_commitments_with_its_stake(world: World) -> None:
    # prepare
    request_id = world.submitting()
    model = new_model()

    # act
    result = world.submit(request_id, 2, model)

    # assert
    commitments = model.commitments
    assert result.event("Submitted").args == {
        "request_id": request_id,
        "seller": world.sellers[2].address,
        "index": 0,
        "plain_root": commitments.plain_root,
        "cipher_root": commitments.cipher_root,
        "key_hash": commitments.key_hash,
        "size": commitments.size,
        "delivery_hash": DELIVERY_HASH,
        "stake": SELLER_STAKE,
    }
    submission = world.submission(request_id, 0)
    assert (submission.seller, submission.plain_root, submission.cipher_root) == (
        world.sellers[2].address,
        commitments.plain_root,
        commitments.cipher_root,
    )
    assert (submission.key_hash, submission.size, submission.state) == (
        commitments.key_hash,
        commitments.size,
        SubmissionState.SUBMITTED,
    )
    assert (submission.score, submission.price, submission.deadline) == (0, 0, 0)
    request = world.state(request_id)
    assert (request.sellers, request.locked) == (1, ESCROWED + SELLER_STAKE)
    assert world.balance() == ESCROWED + SELLER_STAKE


def test_submissions_are_numbered_in_order(world: World) -> None:
    # prepare
    request_id = world.submitting()

    # act
    indices = [world.submit(request_id, s).event("Submitted")["index"] for s in (3, 0, 1)]

    # assert
    assert indices == [0, 1, 2]
    sellers = [s.seller for s in world.market.submissions(request_id)]
    assert sellers == [world.sellers[i].address for i in (3, 0, 1)]


def test_a_model_of_the_largest_size_is_accepted(world: World) -> None:
    # prepare
    request_id = world.submitting()
    commitments = replace(new_model().commitments, size=MAX_SIZE)

    # act
    world.market.submit(world.sellers[0], request_id, commitments, DELIVERY_HASH, SELLER_STAKE)

    # assert
    assert world.submission(request_id, 0).size == MAX_SIZE


def test_submitting_before_the_sample_is_revealed_reverts(world: World) -> None:
    # prepare
    request_id = world.posted()
    world.draw_sample(request_id)

    # act / assert
    with reverts("modelmarket: not taking submissions"):
        world.submit(request_id, 0)


def test_submitting_after_the_deadline_reverts(world: World) -> None:
    # prepare: the deadline passed; nobody closed the submissions yet
    request_id = world.submitting()
    world.pass_deadline(request_id)

    # act / assert
    with reverts("modelmarket: not taking submissions"):
        world.submit(request_id, 0)
    assert world.state(request_id).status is RequestStatus.SUBMITTING


def test_submitting_twice_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()
    world.submit(request_id, 0)

    # act / assert
    with reverts("modelmarket: already submitted"):
        world.submit(request_id, 0)
    assert world.state(request_id).sellers == 1


def test_the_buyer_cannot_submit_or_volunteer(world: World) -> None:
    # prepare: a buyer registered with every role
    (buyer,) = world.crowd(1, EVERY_ROLE)
    request_id = world.submitting(sender=buyer)

    # act / assert
    with reverts("modelmarket: the buyer cannot sell to itself"):
        world.submit(request_id, buyer)
    with reverts("modelmarket: the buyer cannot execute"):
        world.volunteer(request_id, buyer)
    request = world.state(request_id)
    assert (request.sellers, request.volunteers) == (0, 0)


def test_a_seller_cannot_volunteer_and_a_volunteer_cannot_submit(world: World) -> None:
    # prepare: two accounts that are model owners and compute providers
    seller, executor = world.crowd(2, Role.MODEL_OWNER | Role.COMPUTE_PROVIDER)
    request_id = world.submitting()
    world.submit(request_id, seller)
    world.volunteer(request_id, executor)

    # act / assert
    with reverts("modelmarket: a seller cannot execute"):
        world.volunteer(request_id, seller)
    with reverts("modelmarket: an executor cannot sell"):
        world.submit(request_id, executor)
    assert world.market.volunteers(request_id) == (executor.address,)
    assert [s.seller for s in world.market.submissions(request_id)] == [seller.address]


def test_a_rejected_seller_can_neither_submit_again_nor_volunteer(world: World) -> None:
    # prepare
    (seller,) = world.crowd(1, Role.MODEL_OWNER | Role.COMPUTE_PROVIDER)
    request_id = world.submitting()
    world.submit(request_id, seller)
    world.market.reject_delivery(world.buyer, request_id, 0, world.fresh(b"reason"))

    # act / assert
    with reverts("modelmarket: already submitted"):
        world.submit(request_id, seller)
    with reverts("modelmarket: a seller cannot execute"):
        world.volunteer(request_id, seller)


def test_submitting_without_the_model_owner_role_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()

    for account in [world.executors[0], world.stranger]:
        # act / assert
        with reverts("modelmarket: caller is not a registered model owner"):
            world.submit(request_id, account)


def test_submitting_with_the_wrong_stake_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()

    for stake in [0, SELLER_STAKE - 1, SELLER_STAKE + 1, EXECUTOR_STAKE]:
        # act / assert
        with reverts("modelmarket: send the seller stake"):
            world.submit(request_id, 0, stake=stake)
    assert world.balance() == ESCROWED


def test_submitting_an_empty_hash_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()
    commitments = new_model().commitments
    seller = world.sellers[0]

    emptied = [
        replace(commitments, plain_root=EMPTY),
        replace(commitments, cipher_root=EMPTY),
        replace(commitments, key_hash=EMPTY),
    ]

    for wrong in emptied:
        # act / assert
        with reverts("modelmarket: empty hash"):
            world.market.submit(seller, request_id, wrong, DELIVERY_HASH, SELLER_STAKE)
    with reverts("modelmarket: empty hash"):
        world.market.submit(seller, request_id, commitments, EMPTY, SELLER_STAKE)


def test_submitting_a_size_out_of_range_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()
    commitments = new_model().commitments

    for size in [0, MAX_SIZE + 1]:
        # act / assert
        with reverts("modelmarket: size out of range"):
            world.market.submit(
                world.sellers[0],
                request_id,
                replace(commitments, size=size),
                DELIVERY_HASH,
                SELLER_STAKE,
            )


def test_the_seventeenth_seller_is_refused(world: World) -> None:
    # prepare: sixteen sellers submitted
    request_id = world.submitting()
    crowd = world.crowd(MAX_SELLERS + 1 - len(world.sellers), Role.MODEL_OWNER)
    sellers = [*world.sellers, *crowd]
    for seller in sellers[:MAX_SELLERS]:
        world.submit(request_id, seller)

    # act / assert
    with reverts("modelmarket: no more sellers"):
        world.submit(request_id, sellers[MAX_SELLERS])
    request = world.state(request_id)
    assert request.sellers == MAX_SELLERS
    assert request.locked == ESCROWED + MAX_SELLERS * SELLER_STAKE


# volunteering -------------------------------------------------------------------------------


def test_a_compute_provider_volunteers_with_its_stake(world: World) -> None:
    # prepare
    request_id = world.submitting()

    # act
    result = world.volunteer(request_id, 2)

    # assert
    assert result.event("Volunteered").args == {
        "request_id": request_id,
        "executor": world.executors[2].address,
        "index": 0,
        "stake": EXECUTOR_STAKE,
    }
    assert world.market.volunteer_at(request_id, 0) == world.executors[2].address
    request = world.state(request_id)
    assert (request.volunteers, request.locked) == (1, ESCROWED + EXECUTOR_STAKE)


def test_volunteering_after_the_deadline_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()
    world.pass_deadline(request_id)

    # act / assert
    with reverts("modelmarket: not taking executors"):
        world.volunteer(request_id, 0)


def test_volunteering_twice_reverts(world: World) -> None:
    # prepare: once while sampling, once while submitting
    request_id = world.posted()
    world.volunteer(request_id, 0)
    world.draw_sample(request_id)
    world.reveal_sample(request_id)

    # act / assert
    with reverts("modelmarket: already volunteered"):
        world.volunteer(request_id, 0)
    assert world.state(request_id).volunteers == 1


def test_volunteering_without_the_compute_provider_role_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()

    for account in [world.sellers[0], world.stranger]:
        # act / assert
        with reverts("modelmarket: caller is not a registered compute provider"):
            world.volunteer(request_id, account)


def test_volunteering_with_the_wrong_stake_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()

    for stake in [0, EXECUTOR_STAKE - 1, EXECUTOR_STAKE + 1, SELLER_STAKE]:
        # act / assert
        with reverts("modelmarket: send the executor stake"):
            world.volunteer(request_id, 0, stake=stake)
    assert world.balance() == ESCROWED


def test_the_thirty_third_volunteer_is_refused_and_seven_are_drawn_of_32(world: World) -> None:
    # prepare: 32 volunteers for 7 executors
    request_id = world.submitting(executors=7)
    crowd = world.crowd(MAX_VOLUNTEERS + 1 - len(world.executors), Role.COMPUTE_PROVIDER)
    volunteers = [*world.executors, *crowd]
    for volunteer in volunteers[:MAX_VOLUNTEERS]:
        world.volunteer(request_id, volunteer)

    # act / assert
    with reverts("modelmarket: no more volunteers"):
        world.volunteer(request_id, volunteers[MAX_VOLUNTEERS])

    # act: draw among the 32 (with more gas than the wrapper sends: see the next test)
    world.submit(request_id, 0)
    target = world.close(request_id).receipt.block_number
    world.mine()
    result = world.contract.transact(
        "advance", request_id, sender=world.stranger, gas=LARGE_DRAW_GAS
    )

    # assert
    seed = draw_seed(world.chain, target, request_id, b"executors")
    drawn = select(seed, MAX_VOLUNTEERS, 7, 0)[0]
    assert result.event("ExecutorsDrawn")["drawn"] == drawn == world.state(request_id).drawn
    assert bit_count(drawn) == 7
    for index, volunteer in enumerate(volunteers[:MAX_VOLUNTEERS]):
        refunded = EXECUTOR_STAKE if not drawn >> index & 1 else 0
        assert world.owed(volunteer) == refunded
    request = world.state(request_id)
    assert request.locked == request.escrowed + SELLER_STAKE + 7 * EXECUTOR_STAKE
    assert request.escrowed == ESCROWED + 4 * EXECUTOR_FEE


@pytest.mark.parametrize("step", ["draw", "cancel"])
def test_the_wrappers_advance_handles_32_volunteers(world: World, step: str) -> None:
    # prepare: 32 volunteers; a request ready to draw its executors, or one whose sample
    # deadline passed
    request_id = world.submitting() if step == "draw" else world.posted()
    for volunteer in world.crowd(MAX_VOLUNTEERS, Role.COMPUTE_PROVIDER):
        world.volunteer(request_id, volunteer)
    if step == "draw":
        world.submit(request_id, 0)
        world.close(request_id)
        world.mine()
    else:
        world.pass_deadline(request_id)

    # act (a revert would be another failure than the one expected: out of gas)
    try:
        world.market.advance(world.stranger, request_id)
    except ContractRevert as exc:
        pytest.fail(f"advance reverted: {exc.reason}")

    # assert
    expected = RequestStatus.COMMITTING if step == "draw" else RequestStatus.CANCELLED
    assert world.state(request_id).status is expected


def test_drawing_among_32_volunteers_needs_more_than_the_base_advance_gas(
    world: World,
) -> None:
    # prepare
    request_id = world.submitting()
    for volunteer in world.crowd(MAX_VOLUNTEERS, Role.COMPUTE_PROVIDER):
        world.volunteer(request_id, volunteer)
    world.submit(request_id, 0)
    world.close(request_id)
    world.mine()

    # act
    result = world.contract.transact(
        "advance", request_id, sender=world.stranger, gas=LARGE_DRAW_GAS
    )

    # assert
    assert world.state(request_id).status is RequestStatus.COMMITTING
    assert ADVANCE_GAS_LIMIT < result.gas_used <= advance_gas(1, MAX_VOLUNTEERS)


# rejecting deliveries -----------------------------------------------------------------------


def test_the_buyer_rejects_a_delivery_and_the_seller_gets_its_stake_back(world: World) -> None:
    # prepare
    request_id = world.submitting()
    world.submit(request_id, 0)
    world.submit(request_id, 1)
    reason = world.fresh(b"reason")

    # act
    result = world.market.reject_delivery(world.buyer, request_id, 1, reason)

    # assert
    assert result.event("DeliveryRejected").args == {
        "request_id": request_id,
        "seller": world.sellers[1].address,
        "index": 1,
        "reason_hash": reason,
    }
    assert world.submission(request_id, 1).state is SubmissionState.REJECTED
    assert world.submission(request_id, 0).state is SubmissionState.SUBMITTED
    assert world.owed(world.sellers[1]) == SELLER_STAKE
    assert world.state(request_id).locked == ESCROWED + SELLER_STAKE
    world.assert_escrow_balances()


def test_the_buyer_may_reject_while_the_executors_wait_to_be_drawn(world: World) -> None:
    # prepare
    request_id = world.submitting()
    world.submit(request_id, 0)
    world.submit(request_id, 1)
    for e in range(3):
        world.volunteer(request_id, e)
    world.close(request_id)

    # act
    world.market.reject_delivery(world.buyer, request_id, 0, world.fresh(b"reason"))

    # assert
    assert world.state(request_id).status is RequestStatus.DRAWING
    assert world.submission(request_id, 0).state is SubmissionState.REJECTED
    assert world.owed(world.sellers[0]) == SELLER_STAKE


def test_only_the_buyer_rejects_a_delivery(world: World) -> None:
    # prepare
    request_id = world.submitting()
    world.submit(request_id, 0)

    for sender in [world.sellers[0], world.sellers[1], world.stranger]:
        # act / assert
        with reverts("modelmarket: only the buyer rejects a delivery"):
            world.market.reject_delivery(sender, request_id, 0, world.fresh(b"reason"))


def test_rejecting_no_such_submission_reverts(world: World) -> None:
    # prepare: submission 0 is already rejected, there is no submission 1
    request_id = world.submitting()
    world.submit(request_id, 0)
    world.market.reject_delivery(world.buyer, request_id, 0, world.fresh(b"reason"))

    for index in [0, 1, 2**255]:
        # act / assert
        with reverts("modelmarket: no such submission in"):
            world.market.reject_delivery(world.buyer, request_id, index, world.fresh(b"reason"))
    assert world.owed(world.sellers[0]) == SELLER_STAKE


def test_rejecting_before_submissions_or_after_the_draw_reverts(world: World) -> None:
    # prepare
    sampling = world.posted()
    committing = world.committing(sellers=2)

    for request_id in [sampling, committing]:
        # act / assert
        with reverts("modelmarket: too late to reject"):
            world.market.reject_delivery(world.buyer, request_id, 0, world.fresh(b"reason"))
    assert world.submission(committing, 0).state is SubmissionState.SUBMITTED


# closing ------------------------------------------------------------------------------------


def test_closing_before_the_deadline_reverts(world: World) -> None:
    # prepare
    request_id = world.submitting()
    world.submit(request_id, 0)
    world.pass_deadline(request_id, extra=-10)

    # act / assert
    with reverts("modelmarket: submission deadline not reached"):
        world.market.advance(world.stranger, request_id)


def test_closing_targets_the_closing_block(world: World) -> None:
    # prepare
    request_id = world.submitting()
    world.submit(request_id, 0)
    world.submit(request_id, 1)
    for e in range(4):
        world.volunteer(request_id, e)

    # act
    result = world.close(request_id)

    # assert
    block = result.receipt.block_number
    assert result.event("SubmissionsClosed").args == {
        "request_id": request_id,
        "caller": world.stranger.address,
        "sellers": 2,
        "volunteers": 4,
        "target_block": block,
    }
    request = world.state(request_id)
    assert (request.status, request.target_block) == (RequestStatus.DRAWING, block)
    assert request.locked == ESCROWED + 2 * SELLER_STAKE + 4 * EXECUTOR_STAKE


@pytest.mark.parametrize("rejected", [False, True])
def test_closing_without_a_live_seller_cancels_with_every_stake_back(
    world: World, rejected: bool
) -> None:
    # prepare: nobody submitted, or the only seller was rejected
    request_id = world.submitting()
    if rejected:
        world.submit(request_id, 0)
        world.market.reject_delivery(world.buyer, request_id, 0, world.fresh(b"reason"))
    for e in range(4):
        world.volunteer(request_id, e)

    # act
    result = world.close(request_id)

    # assert
    assert result.event("RequestEnded")["status"] == RequestStatus.CANCELLED
    assert result.event("RequestEnded")["refund"] == ESCROWED
    request = world.state(request_id)
    assert (request.status, request.locked) == (RequestStatus.CANCELLED, 0)
    owed = world.owed_all()
    assert owed[world.buyer.address] == ESCROWED
    assert owed[world.sellers[0].address] == (SELLER_STAKE if rejected else 0)
    assert all(owed[e.address] == EXECUTOR_STAKE for e in world.executors)
    assert sum(owed.values()) == world.balance()


@pytest.mark.parametrize("volunteers", [0, 2])
def test_closing_with_too_few_volunteers_cancels_with_every_stake_back(
    world: World, volunteers: int
) -> None:
    # prepare: three executors wanted
    request_id = world.submitting()
    for s in range(3):
        world.submit(request_id, s)
    world.market.reject_delivery(world.buyer, request_id, 2, world.fresh(b"reason"))
    for e in range(volunteers):
        world.volunteer(request_id, e)

    # act
    result = world.close(request_id)

    # assert
    assert result.event("RequestEnded")["refund"] == ESCROWED
    request = world.state(request_id)
    assert (request.status, request.locked) == (RequestStatus.CANCELLED, 0)
    assert world.submission(request_id, 0).state is SubmissionState.RETURNED
    assert world.submission(request_id, 2).state is SubmissionState.REJECTED
    owed = world.owed_all()
    assert owed[world.buyer.address] == ESCROWED
    assert [owed[s.address] for s in world.sellers] == [SELLER_STAKE] * 3 + [0]
    assert [owed[e.address] for e in world.executors] == (
        [EXECUTOR_STAKE] * volunteers + [0] * (4 - volunteers)
    )
    assert sum(owed.values()) == world.balance()


# the executor draw --------------------------------------------------------------------------


def test_the_executors_are_drawn_from_the_closing_blocks_hash(world: World) -> None:
    # prepare: four volunteers for three executors
    request_id = world.submitting()
    world.submit(request_id, 0)
    for e in range(4):
        world.volunteer(request_id, e)
    target = world.close(request_id).receipt.block_number
    world.mine(5)

    # act
    result = world.market.advance(world.sellers[0], request_id)

    # assert
    seed = draw_seed(world.chain, target, request_id, b"executors")
    drawn = select(seed, 4, 3, 0)[0]
    request = world.state(request_id)
    executors = [world.executors[i].address for i in indices_of(drawn)]
    assert result.event("ExecutorsDrawn").args == {
        "request_id": request_id,
        "caller": world.sellers[0].address,
        "target_block": target,
        "block_hash": world.chain.block_hash(target),
        "drawn": drawn,
        "executors": executors,
        "commit_deadline": world.chain.timestamp() + PERIODS.commit,
    }
    assert (request.status, request.drawn) == (RequestStatus.COMMITTING, drawn)
    assert request.deadline == world.chain.timestamp() + PERIODS.commit
    assert drawn == world.expected_executors(request_id, target)
    (undrawn,) = [i for i in range(4) if not drawn >> i & 1]
    assert world.owed(world.executors[undrawn]) == EXECUTOR_STAKE
    assert request.locked == ESCROWED + SELLER_STAKE + 3 * EXECUTOR_STAKE
    world.assert_escrow_balances()


def test_only_volunteers_are_drawn_never_the_buyer_or_a_seller(world: World) -> None:
    # prepare: buyer and sellers hold every role but cannot volunteer; five volunteers
    buyer, *sellers = world.crowd(3, EVERY_ROLE)
    request_id = world.submitting(sender=buyer, executors=5)
    for seller in sellers:
        world.submit(request_id, seller)
        with reverts("modelmarket: a seller cannot execute"):
            world.volunteer(request_id, seller)
    with reverts("modelmarket: the buyer cannot execute"):
        world.volunteer(request_id, buyer)
    volunteers = [*world.executors, world.crowd(1, Role.COMPUTE_PROVIDER)[0]]
    for volunteer in volunteers:
        world.volunteer(request_id, volunteer)
    world.close(request_id)

    # act
    world.draw_executors(request_id)

    # assert
    drawn = {a.address for a in world.drawn(request_id)}
    assert len(drawn) == 5
    assert drawn <= {v.address for v in volunteers}
    assert not drawn & {buyer.address, *(s.address for s in sellers)}


def test_the_executor_draw_waits_for_a_later_block(world: World) -> None:
    # prepare: anyone's contract closes and draws in one transaction (after a block past
    # the deadline, so that the rpc backend's replay of the revert sees the deadline passed)
    request_id = world.submitting()
    world.submit(request_id, 0)
    for e in range(3):
        world.volunteer(request_id, e)
    world.pass_deadline(request_id)
    world.mine()
    closer = world.deploy_atomic_draw()

    # act / assert
    with reverts("modelmarket: draw must wait for a later block"):
        closer.transact(
            "advance_twice", request_id, sender=world.stranger, gas=2 * ADVANCE_GAS_LIMIT
        )
    assert world.state(request_id).status is RequestStatus.SUBMITTING


def test_an_executor_draw_more_than_256_blocks_late_retargets(world: World) -> None:
    # prepare
    request_id = world.submitting()
    world.submit(request_id, 0)
    for e in range(4):
        world.volunteer(request_id, e)
    closed = world.close(request_id).receipt.block_number
    world.mine(BLOCKHASH_WINDOW)

    # act
    result = world.market.advance(world.stranger, request_id)

    # assert
    moved = result.receipt.block_number
    assert moved == closed + BLOCKHASH_WINDOW + 1
    assert result.event("Retargeted").args == {
        "request_id": request_id,
        "status": int(RequestStatus.DRAWING),
        "target_block": moved,
    }
    request = world.state(request_id)
    assert (request.status, request.target_block, request.drawn) == (
        RequestStatus.DRAWING,
        moved,
        0,
    )

    # act
    world.draw_executors(request_id)

    # assert
    assert world.state(request_id).drawn == world.expected_executors(request_id, moved)


def test_a_draw_after_every_delivery_was_rejected_cancels(world: World) -> None:
    # prepare
    request_id = world.submitting()
    world.submit(request_id, 0)
    for e in range(3):
        world.volunteer(request_id, e)
    world.close(request_id)
    world.market.reject_delivery(world.buyer, request_id, 0, world.fresh(b"reason"))

    # act
    result = world.draw_executors(request_id)

    # assert
    assert result.event("RequestEnded")["refund"] == ESCROWED
    request = world.state(request_id)
    assert (request.status, request.locked, request.drawn) == (RequestStatus.CANCELLED, 0, 0)
    owed = world.owed_all()
    assert owed[world.sellers[0].address] == SELLER_STAKE
    assert [owed[e.address] for e in world.executors[:3]] == [EXECUTOR_STAKE] * 3
    assert sum(owed.values()) == world.balance()
