"""A vendor's claims for steps it ran: a missed batch, an under-reporting batch, a claim the
orchestrator answers with the step's leaf, and one it leaves unanswered."""

from __future__ import annotations

from eth_utils.crypto import keccak

from mercato.protocols.apimarket.messages import Assignment, Request

from ..world import reverts
from .world import (
    ANSWERED,
    MARGIN,
    OPEN,
    ORCHESTRATOR_STAKE,
    PAID_MISSED,
    PAID_UNANSWERED,
    PAID_UNREPORTED,
    PRICE,
    SHARES,
    World,
)


def test_a_missed_batch_pays_the_vendor_at_once(world: World) -> None:
    api = world.live()
    call = world.run_call(api, 0, world.consumers[0], 1)
    vendor = world.vendors[3]
    world.travel_to(world.due(api, 0) - MARGIN)
    with reverts("apimarket: the batch is not due yet"):
        world.claim(call, 1)
    world.travel_to(world.due(api, 0))
    before = world.owed(vendor)

    result = world.claim(call, 1)

    claimed = result.event("Claimed")
    assert claimed["state"] == PAID_MISSED and claimed["paid"] == SHARES[1]
    assert world.owed(vendor) - before == SHARES[1]
    assert world.api(api).stake_left == ORCHESTRATOR_STAKE - SHARES[1]
    assert world.read("claim_of", claimed["claim_id"]).state == PAID_MISSED
    with reverts("apimarket: step already claimed"):
        world.claim(call, 1)
    world.assert_escrow()


def test_an_under_reporting_batch_pays_the_vendor_at_once(world: World) -> None:
    api = world.live()
    alice, bob, _ = world.consumers
    first, second = world.run_call(api, 0, alice, 1), world.run_call(api, 0, alice, 2)
    other = world.run_call(api, 0, bob, 1)
    world.commit(api, 0, [first])  # leaves out alice's second call and bob's
    vendor = world.vendors[0]
    before = world.owed(vendor)

    for call in (second, other):
        result = world.claim(call, 0)
        assert result.event("Claimed")["state"] == PAID_UNREPORTED

    assert world.owed(vendor) - before == 2 * SHARES[0]
    assert world.api(api).stake_left == ORCHESTRATOR_STAKE - 2 * SHARES[0]
    world.assert_escrow()


def test_the_orchestrator_answers_a_claim_with_the_leaf(world: World) -> None:
    api = world.live()
    alice, bob, _ = world.consumers
    calls = [world.run_call(api, 0, alice, seq, slots=(seq - 1, 3)) for seq in (1, 2, 3)]
    calls.append(world.run_call(api, 0, bob, 1, slots=(1, 3)))
    world.commit(api, 0, calls)
    batch = world.batch_of(api, calls)
    call = calls[2]  # slot 2 runs alice's third call

    result = world.claim(call, 0)

    claimed = result.event("Claimed")
    claim_id = claimed["claim_id"]
    assert claimed["state"] == OPEN and claimed["paid"] == 0
    assert world.api(api).open == 2  # the batch and the claim
    index = batch.index_of(alice.address, 3, 0)
    hash_out = call.records[0].hash_out
    other = batch.index_of(bob.address, 1, 0)  # a leaf of slot 1, outside slot 2's range
    with reverts("apimarket: caller is not the orchestrator"):
        world.market.transact(
            "answer_claim", claim_id, index, hash_out, batch.proof(index), sender=world.vendors[2]
        )
    with reverts("apimarket: index outside the slot's leaves"):
        world.market.transact(
            "answer_claim", claim_id, other, hash_out, batch.proof(other), sender=world.orchestrator
        )
    with reverts("apimarket: the step is not in the batch"):
        world.market.transact(
            "answer_claim",
            claim_id,
            index,
            keccak(b"x"),
            batch.proof(index),
            sender=world.orchestrator,
        )
    result = world.market.transact(
        "answer_claim", claim_id, index, hash_out, batch.proof(index), sender=world.orchestrator
    )

    assert result.event("ClaimAnswered")["index"] == index
    assert world.read("claim_of", claim_id).state == ANSWERED
    assert world.api(api).stake_left == ORCHESTRATOR_STAKE and world.api(api).open == 1
    with reverts("apimarket: no claim to answer"):
        world.market.transact(
            "answer_claim", claim_id, index, hash_out, batch.proof(index), sender=world.orchestrator
        )
    with reverts("apimarket: no open claim"):
        world.market.transact("settle_claim", claim_id, sender=world.stranger)
    world.assert_escrow()


def test_an_unanswered_claim_is_paid_from_the_stake(world: World) -> None:
    api = world.live()
    alice = world.consumers[0]
    calls = [world.run_call(api, 0, alice, 1)]
    world.commit(api, 0, calls)
    claim_id = world.claim(calls[0], 1).event("Claimed")["claim_id"]
    deadline = world.read("claim_of", claim_id).deadline
    with reverts("apimarket: orchestrator may still answer"):
        world.market.transact("settle_claim", claim_id, sender=world.stranger)
    world.travel_to(deadline)
    batch = world.batch_of(api, calls)
    index = batch.index_of(alice.address, 1, 1)
    with reverts("apimarket: no claim to answer"):
        world.market.transact(
            "answer_claim",
            claim_id,
            index,
            calls[0].records[1].hash_out,
            batch.proof(index),
            sender=world.orchestrator,
        )
    before = world.owed(world.vendors[3])

    result = world.market.transact("settle_claim", claim_id, sender=world.stranger)

    assert result.event("ClaimSettled")["paid"] == SHARES[1]
    assert world.owed(world.vendors[3]) - before == SHARES[1]
    assert world.read("claim_of", claim_id).state == PAID_UNANSWERED
    assert world.api(api).open == 1
    world.assert_escrow()


def test_claim_rules(world: World) -> None:
    api = world.live()
    alice, bob, _ = world.consumers
    call = world.run_call(api, 0, alice, 1)
    world.commit(api, 0, [call])
    market = world.market.address
    with reverts("apimarket: caller is not that slot's vendor"):
        world.claim(call, 0, sender=world.vendors[1])
    with reverts("apimarket: caller is not that slot's vendor"):
        world.claim(call, 0, slot=7)
    with reverts("apimarket: the slot runs another component"):
        world.claim(call, 0, component=1)
    with reverts("apimarket: seq starts at 1"):
        world.claim(call, 0, seq=0)
    forged = Request(api, 0, alice.address, 1, call.input_hash, PRICE).sign(market, bob.key)
    with reverts("apimarket: request not signed by consumer"):
        world.claim(call, 0, request_sig=forged)
    cheap = Request(api, 0, alice.address, 1, call.input_hash, PRICE - 1).sign(market, alice.key)
    with reverts("apimarket: request not signed by consumer"):
        world.claim(call, 0, request_sig=cheap)
    with reverts("apimarket: a signature is 65 bytes"):
        world.claim(call, 0, request_sig=call.request_sig[:64])
    self_assigned = Assignment(api, 0, alice.address, 1, 0, 0, call.input_hash).sign(
        market, world.vendors[0].key
    )
    with reverts("apimarket: assignment not from orchestrator"):
        world.claim(call, 0, assignment_sig=self_assigned)
    with reverts("apimarket: not the batch's counts"):
        world.claim(call, 0, counts=([alice.address], [2], [1, 0, 0, 1]))
    with reverts("apimarket: no such epoch"):
        world.claim(world.run_call(api, 2, alice, 1), 0)
    world.travel_to(world.close(api, 0))
    with reverts("apimarket: the window is closed"):
        world.claim(call, 0)
