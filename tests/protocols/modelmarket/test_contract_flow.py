"""ModelMarket.vy end to end: a request from posting to the swap, every payment checked."""

from __future__ import annotations

from mercato.crypto import fairswap
from mercato.protocols.modelmarket.views import RequestStatus, SubmissionState

from .world import (
    BOND,
    EXECUTOR_FEE,
    EXECUTOR_STAKE,
    SELLER_STAKE,
    World,
)


def test_an_honest_market_pays_the_best_two_at_their_scores_prices(world: World) -> None:
    # arrange: three sellers, four volunteers, three executors drawn, all agree
    request_id = world.committing(sellers=3, volunteers=4)
    scores = [950_000, 700_000, 850_000]

    # act
    world.tallied(request_id, scores)

    # assert: sellers 0 (0.95: 0.03 ether) and 2 (0.85: 0.02 ether) win; seller 1 is paid back
    request = world.state(request_id)
    assert request.status is RequestStatus.SWAPPING
    assert world.submission(request_id, 0).state is SubmissionState.WON
    assert world.submission(request_id, 1).state is SubmissionState.LOST
    assert world.submission(request_id, 2).price == 2 * 10**16
    assert world.owed(world.sellers[1]) == SELLER_STAKE
    for executor in world.drawn(request_id):
        assert world.owed(executor) == EXECUTOR_STAKE + EXECUTOR_FEE
    # the budget was 2 x 0.03; 0.05 is sold: 0.01 and the bond go back
    assert world.owed(world.buyer) == 10**16 + BOND
    assert request.locked == 5 * 10**16 + 2 * SELLER_STAKE

    # act: both winners reveal their keys; the window passes; anyone finishes
    for index in (0, 2):
        model = world.models[request_id, index]
        world.market.reveal_key(world.sellers[index], request_id, model.key)
    world.chain.time_travel(2 * 3600 + 1)
    for index in (0, 2):
        world.market.finish(world.stranger, request_id, index)

    # assert
    assert world.state(request_id).status is RequestStatus.CLOSED
    assert world.state(request_id).locked == 0
    assert world.owed(world.sellers[0]) == 3 * 10**16 + SELLER_STAKE
    assert world.balance() == sum(world.owed(a) for a in world.cast)


def test_a_bad_chunk_is_proved_with_one_chunk_and_two_proofs(world: World) -> None:
    # arrange: seller 0 committed to one model but encrypted another under its key
    request_id = world.submitting()
    honest = fairswap.commit_model(b"benchmarked model" * 300, bytes(32))[0]
    key = fairswap.new_key()
    other, delivery = fairswap.commit_model(b"a worse model...." * 300, key)
    cheat_commitments = fairswap.Commitments(
        honest.plain_root, other.cipher_root, other.key_hash, other.size
    )
    world.market.submit(world.sellers[0], request_id, cheat_commitments, b"\x01" * 32, SELLER_STAKE)
    for e in range(3):
        world.volunteer(request_id, e)
    world.pass_deadline(request_id)
    world.market.advance(world.stranger, request_id)
    world.mine()
    world.market.advance(world.stranger, request_id)
    world.tallied(request_id, [990_000])
    world.market.reveal_key(world.sellers[0], request_id, key)

    # act: the buyer decrypts chunk 0 and proves that it is not the benchmarked chunk
    plain_delivery = fairswap.commit_model(b"benchmarked model" * 300, bytes(32))[1]
    forged = fairswap.Delivery(delivery.encrypted, plain_delivery.chunk_hashes)
    complaint = fairswap._complaint(forged, 0)
    result = world.market.complain(world.buyer, request_id, 0, key, complaint)

    # assert
    assert world.submission(request_id, 0).state is SubmissionState.CHEATED
    assert world.state(request_id).status is RequestStatus.CLOSED
    assert result.gas_used < 300_000
    assert world.balance() == sum(world.owed(a) for a in world.cast)
