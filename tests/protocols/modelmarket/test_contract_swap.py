"""ModelMarket.vy, the swap: winners reveal keys, the buyer may prove one bad chunk, finish.

Requests here are tallied with :data:`SCORES`: sellers 0 (0.03 ether) and 2 (0.02 ether)
win, seller 1 loses. A cheating seller commits the plaintext root of the model the
executors benchmarked but encrypts another one (world.cheating_model): its delivery
opens, and its first chunk decrypts to something other than the committed hash.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from mercato.crypto import fairswap
from mercato.protocols.modelmarket.views import RequestStatus, SubmissionState

from ..world import EMPTY, ZERO_ADDRESS, reverts
from .world import (
    PERIODS,
    SELLER_STAKE,
    World,
    cheating_model,
    complaint_for,
    large_cheat,
    new_model,
)

SCORES = [950_000, 700_000, 850_000]
PRICES = {0: 3 * 10**16, 2: 2 * 10**16}
COMPLAINT_GAS = 300_000


def bad_chunk(world: World, request_id: int, index: int) -> fairswap.Complaint:
    """What the buyer finds when it opens winner ``index``'s delivery with its key."""
    model = world.models[request_id, index]
    data, complaint = fairswap.open_delivery(model.commitments, model.delivery, model.key)
    assert data is None and complaint is not None
    return complaint


def cheated(world: World) -> int:
    """A request whose winner 0 cheats and has revealed its key."""
    request_id = world.swapping(SCORES, [cheating_model()])
    world.reveal_key(request_id, 0)
    return request_id


# revealing keys -----------------------------------------------------------------------------


def test_a_winner_reveals_its_key_and_the_complaint_window_opens(world: World) -> None:
    # prepare
    request_id = world.swapping(SCORES)
    key = world.models[request_id, 2].key

    # act
    result = world.market.reveal_key(world.sellers[2], request_id, key)

    # assert
    deadline = world.chain.timestamp() + PERIODS.complaint
    assert result.event("KeyRevealed").args == {
        "request_id": request_id,
        "seller": world.sellers[2].address,
        "index": 2,
        "key": key,
        "complaint_deadline": deadline,
    }
    submission = world.submission(request_id, 2)
    assert (submission.state, submission.deadline) == (SubmissionState.KEY_REVEALED, deadline)
    assert world.state(request_id).unsettled == 0b101


def test_revealing_a_key_without_a_sale_reverts(world: World) -> None:
    # prepare
    request_id = world.swapping(SCORES)
    world.reveal_key(request_id, 0)

    # act / assert: the loser, and the winner a second time
    for index in [1, 0]:
        with reverts("modelmarket: no sale waiting for a key"):
            world.reveal_key(request_id, index)
    for account in [world.buyer, world.sellers[3], world.stranger]:
        with reverts("modelmarket: caller did not submit"):
            world.market.reveal_key(account, request_id, world.models[request_id, 2].key)


def test_revealing_the_wrong_key_reverts(world: World) -> None:
    # prepare
    request_id = world.swapping(SCORES)

    for key in [EMPTY, fairswap.new_key(), world.models[request_id, 2].key]:
        # act / assert
        with reverts("modelmarket: the key does not match the key hash"):
            world.market.reveal_key(world.sellers[0], request_id, key)
    assert world.submission(request_id, 0).state is SubmissionState.WON


def test_revealing_a_key_after_the_key_deadline_reverts(world: World) -> None:
    # prepare
    request_id = world.swapping(SCORES)
    world.pass_deadline(request_id)

    # act / assert
    with reverts("modelmarket: not taking keys"):
        world.reveal_key(request_id, 0)


def test_revealing_a_key_before_the_tally_reverts(world: World) -> None:
    # prepare
    request_id = world.committing()
    model = world.models[request_id, 0]

    # act / assert
    with reverts("modelmarket: not taking keys"):
        world.market.reveal_key(world.sellers[0], request_id, model.key)


# finishing ----------------------------------------------------------------------------------


def test_finish_before_the_complaint_window_closes_reverts(world: World) -> None:
    # prepare
    request_id = world.swapping(SCORES)
    world.reveal_key(request_id, 0)
    deadline = world.submission(request_id, 0).deadline
    world.travel_to(deadline - 10)

    # act / assert
    with reverts("modelmarket: complaint window still open"):
        world.market.finish(world.stranger, request_id, 0)


def test_finish_after_the_window_pays_the_seller_its_price_and_stake(world: World) -> None:
    # prepare
    request_id = world.swapping(SCORES)
    for index in PRICES:
        world.reveal_key(request_id, index)
    world.travel_to(world.submission(request_id, 2).deadline)
    buyer_owed = world.owed(world.buyer)

    # act
    first = world.market.finish(world.stranger, request_id, 0)

    # assert
    assert first.event("SwapSettled").args == {
        "request_id": request_id,
        "seller": world.sellers[0].address,
        "index": 0,
        "state": int(SubmissionState.PAID),
        "paid": PRICES[0] + SELLER_STAKE,
        "caller": world.stranger.address,
    }
    assert world.owed(world.sellers[0]) == PRICES[0] + SELLER_STAKE
    request = world.state(request_id)
    assert (request.status, request.unsettled) == (RequestStatus.SWAPPING, 0b100)
    assert request.locked == PRICES[2] + SELLER_STAKE

    # act
    last = world.market.finish(world.sellers[1], request_id, 2)

    # assert
    assert last.event("RequestEnded").args == {
        "request_id": request_id,
        "status": int(RequestStatus.CLOSED),
        "refund": 0,
        "caller": world.sellers[1].address,
    }
    assert world.owed(world.sellers[2]) == PRICES[2] + SELLER_STAKE
    assert world.submission(request_id, 2).state is SubmissionState.PAID
    request = world.state(request_id)
    assert (request.status, request.unsettled, request.locked) == (RequestStatus.CLOSED, 0, 0)
    assert world.owed(world.buyer) == buyer_owed
    world.assert_escrow_balances()


def test_a_winner_without_a_key_defaults_and_the_buyer_gets_price_and_stake(
    world: World,
) -> None:
    # prepare: winner 0 reveals its key, winner 2 never does
    request_id = world.swapping(SCORES)
    world.reveal_key(request_id, 0)
    with reverts("modelmarket: the seller may still reveal its key"):
        world.market.finish(world.stranger, request_id, 2)
    world.pass_deadline(request_id)
    buyer_owed = world.owed(world.buyer)

    # act
    result = world.market.finish(world.stranger, request_id, 2)

    # assert
    assert result.event("SwapSettled")["state"] == SubmissionState.DEFAULTED
    assert result.event("SwapSettled")["paid"] == PRICES[2] + SELLER_STAKE
    assert world.submission(request_id, 2).state is SubmissionState.DEFAULTED
    assert world.owed(world.buyer) == buyer_owed + PRICES[2] + SELLER_STAKE
    assert world.owed(world.sellers[2]) == 0
    assert world.state(request_id).status is RequestStatus.SWAPPING

    # act: the other winner is paid after its window
    world.travel_to(world.submission(request_id, 0).deadline)
    world.market.finish(world.stranger, request_id, 0)

    # assert
    request = world.state(request_id)
    assert (request.status, request.locked) == (RequestStatus.CLOSED, 0)
    world.assert_escrow_balances()


def test_finish_without_a_sale_to_settle_reverts(world: World) -> None:
    # prepare: seller 1 lost, there is no submission 3, winner 0 is paid already
    request_id = world.swapping(SCORES)
    world.reveal_key(request_id, 0)
    world.travel_to(world.submission(request_id, 0).deadline)
    world.market.finish(world.stranger, request_id, 0)

    for index in [1, 3, 0, 2**255]:
        # act / assert
        with reverts("modelmarket: no sale to settle"):
            world.market.finish(world.stranger, request_id, index)


def test_finish_outside_the_swap_reverts(world: World) -> None:
    # prepare: one request being benchmarked, one closed
    benchmarked = world.committing()
    closed = world.swapping(SCORES)
    world.pass_deadline(closed)
    for index in PRICES:
        world.market.finish(world.stranger, closed, index)

    for request_id in [benchmarked, closed]:
        # act / assert
        with reverts("modelmarket: not swapping"):
            world.market.finish(world.stranger, request_id, 0)


def test_purchase_says_who_sold_what_to_whom_at_which_score_and_whether_it_was_paid(
    world: World,
) -> None:
    # prepare: winner 0 reveals its key, winner 2 never does, seller 1 lost
    request_id = world.swapping(SCORES)
    world.reveal_key(request_id, 0)

    def purchase(index: int) -> tuple[object, ...]:
        return tuple(world.contract.call("purchase", request_id, index))

    def sale(index: int, paid: bool) -> tuple[object, ...]:
        plain_root = world.models[request_id, index].commitments.plain_root
        return (world.buyer.address, world.sellers[index].address, plain_root, SCORES[index], paid)

    # act / assert: nothing is paid before the complaint window closes
    assert [purchase(i) for i in range(3)] == [sale(0, False), sale(1, False), sale(2, False)]

    # act: winner 2 defaults, then winner 0 is paid
    world.pass_deadline(request_id)
    world.market.finish(world.stranger, request_id, 2)
    world.travel_to(world.submission(request_id, 0).deadline)
    world.market.finish(world.stranger, request_id, 0)

    # assert: only the completed swap counts as paid; no submission 3
    assert [purchase(i) for i in range(3)] == [sale(0, True), sale(1, False), sale(2, False)]
    assert purchase(3) == (world.buyer.address, ZERO_ADDRESS, EMPTY, 0, False)


# complaints ---------------------------------------------------------------------------------


def test_a_valid_complaint_refunds_the_price_and_takes_the_stake(world: World) -> None:
    # prepare
    request_id = cheated(world)
    complaint = bad_chunk(world, request_id, 0)
    key = world.models[request_id, 0].key
    buyer_owed = world.owed(world.buyer)

    # act
    result = world.market.complain(world.buyer, request_id, 0, key, complaint)

    # assert
    paid = PRICES[0] + SELLER_STAKE
    assert complaint.index == 0
    assert result.event("Complained").args == {
        "request_id": request_id,
        "buyer": world.buyer.address,
        "index": 0,
        "chunk": 0,
        "refund": paid,
    }
    assert result.event("SwapSettled")["state"] == SubmissionState.CHEATED
    assert world.submission(request_id, 0).state is SubmissionState.CHEATED
    assert world.owed(world.buyer) == buyer_owed + paid
    assert world.owed(world.sellers[0]) == 0
    request = world.state(request_id)
    assert (request.status, request.unsettled) == (RequestStatus.SWAPPING, 0b100)
    assert request.locked == PRICES[2] + SELLER_STAKE
    world.assert_escrow_balances()

    # act / assert: nothing more to settle for the cheater
    with reverts("modelmarket: no complaint window open"):
        world.market.complain(world.buyer, request_id, 0, key, complaint)
    with reverts("modelmarket: no sale to settle"):
        world.market.finish(world.stranger, request_id, 0)


def test_a_complaint_about_the_last_winner_closes_the_request(world: World) -> None:
    # prepare: winner 0 cheated; winner 2 never revealed its key and defaulted
    request_id = cheated(world)
    world.pass_deadline(request_id)
    world.market.finish(world.stranger, request_id, 2)

    # act
    result = world.market.complain(
        world.buyer, request_id, 0, world.models[request_id, 0].key, bad_chunk(world, request_id, 0)
    )

    # assert
    assert result.event("RequestEnded")["status"] == RequestStatus.CLOSED
    request = world.state(request_id)
    assert (request.status, request.locked) == (RequestStatus.CLOSED, 0)
    assert world.owed(world.sellers[2]) == 0  # defaulted: it never revealed its key
    world.assert_escrow_balances()


def test_only_the_buyer_complains(world: World) -> None:
    # prepare
    request_id = cheated(world)
    complaint = bad_chunk(world, request_id, 0)

    for account in [world.sellers[0], world.sellers[2], world.stranger]:
        # act / assert
        with reverts("modelmarket: only the buyer complains"):
            world.market.complain(
                account, request_id, 0, world.models[request_id, 0].key, complaint
            )


def test_a_complaint_after_the_window_or_before_the_key_reverts(world: World) -> None:
    # prepare: winner 0's window has passed; winner 2 has not revealed its key
    request_id = world.swapping(SCORES, [cheating_model(), new_model(), cheating_model()])
    world.reveal_key(request_id, 0)
    world.travel_to(world.submission(request_id, 0).deadline)

    for index in [0, 2]:
        # act / assert
        with reverts("modelmarket: no complaint window open"):
            world.market.complain(
                world.buyer,
                request_id,
                index,
                world.models[request_id, index].key,
                bad_chunk(world, request_id, index),
            )


def test_a_complaint_with_the_wrong_key_reverts(world: World) -> None:
    # prepare
    request_id = cheated(world)
    complaint = bad_chunk(world, request_id, 0)

    for key in [EMPTY, fairswap.new_key(), world.models[request_id, 2].key]:
        # act / assert
        with reverts("modelmarket: not the revealed key"):
            world.market.complain(world.buyer, request_id, 0, key, complaint)


def test_a_complaint_about_a_chunk_out_of_range_reverts(world: World) -> None:
    # prepare: the model has 4 chunks (3 full and 100 bytes)
    request_id = cheated(world)
    complaint = bad_chunk(world, request_id, 0)
    chunks = world.models[request_id, 0].commitments.chunks
    assert chunks == 4

    for chunk in [chunks, chunks + 1, 2**40]:
        # act / assert
        with reverts("modelmarket: no such chunk"):
            world.market.complain(
                world.buyer,
                request_id,
                0,
                world.models[request_id, 0].key,
                replace(complaint, index=chunk),
            )


def test_a_complaint_whose_proof_does_not_verify_reverts(world: World) -> None:
    # prepare
    request_id = cheated(world)
    complaint = bad_chunk(world, request_id, 0)
    key = world.models[request_id, 0].key
    other = complaint_for(world.models[request_id, 0].delivery, 1)
    flipped = bytes([complaint.encrypted[0] ^ 1]) + complaint.encrypted[1:]
    cipher_wrong = [
        replace(complaint, encrypted=flipped),
        replace(complaint, cipher_proof=complaint.cipher_proof[:-1]),
        replace(complaint, cipher_proof=(os.urandom(32), *complaint.cipher_proof[1:])),
        replace(complaint, index=1),  # chunk 0's leaves proved at position 1
        replace(other, encrypted=complaint.encrypted, cipher_proof=complaint.cipher_proof),
    ]
    plain_wrong = [
        replace(complaint, chunk_hash=os.urandom(32)),
        replace(complaint, plain_proof=complaint.plain_proof[:-1]),
        replace(complaint, plain_proof=other.plain_proof),
        replace(complaint, chunk_hash=other.chunk_hash),
    ]

    for wrong in cipher_wrong:
        # act / assert
        with reverts("modelmarket: chunk not in the ciphertext tree"):
            world.market.complain(world.buyer, request_id, 0, key, wrong)
    for wrong in plain_wrong:
        # act / assert
        with reverts("modelmarket: hash not in the plaintext tree"):
            world.market.complain(world.buyer, request_id, 0, key, wrong)
    assert world.submission(request_id, 0).state is SubmissionState.KEY_REVEALED


def test_a_complaint_about_an_honest_chunk_reverts(world: World) -> None:
    # prepare: winner 2 is honest; every chunk of its delivery decrypts to its hash
    request_id = cheated(world)
    world.reveal_key(request_id, 2)
    model = world.models[request_id, 2]
    assert fairswap.open_delivery(model.commitments, model.delivery, model.key)[0] == model.data

    for chunk in range(model.commitments.chunks):
        # act / assert
        with reverts("modelmarket: the chunk decrypts to its hash"):
            world.market.complain(
                world.buyer, request_id, 2, model.key, complaint_for(model.delivery, chunk)
            )
    assert world.submission(request_id, 2).state is SubmissionState.KEY_REVEALED


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param(10, id="10kB"),
        pytest.param(1024, id="1MB"),
        pytest.param(100_000, id="100MB"),
    ],
)
def test_a_complaint_costs_less_than_300k_gas_whatever_the_models_size(
    world: World, chunks: int
) -> None:
    # prepare: up to 1 MB a real model and delivery; beyond, a tree built from leaf hashes
    # with one real chunk (the contract sees only that chunk and the two proofs)
    if chunks <= 1024:
        model = cheating_model(chunks * fairswap.CHUNK_SIZE)
        complaint = None
    else:
        model, complaint = large_cheat(chunks, chunks // 2 + 1)
    request_id = world.swapping([990_000], [model])
    world.reveal_key(request_id, 0)
    if complaint is None:
        complaint = bad_chunk(world, request_id, 0)
    assert fairswap.check_complaint(model.commitments, model.key, complaint)
    assert len(complaint.cipher_proof) == fairswap.max_proof_hashes(chunks)

    # act
    result = world.market.complain(world.buyer, request_id, 0, model.key, complaint)

    # assert
    assert world.submission(request_id, 0).state is SubmissionState.CHEATED
    assert result.gas_used < COMPLAINT_GAS
