"""A consumer's challenge of a call a batch counts against it."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from mercato.chain.contract import TxResult
from mercato.protocols.apimarket.messages import Request

from ..world import reverts
from .world import (
    ANSWERED,
    CHALLENGE_BOND,
    ORCHESTRATOR_STAKE,
    PRICE,
    REFUNDED,
    World,
)


def challenge(
    world: World,
    api: int,
    epoch: int,
    seq: int,
    sender: LocalAccount,
    value: int = CHALLENGE_BOND,
    counts: tuple[list[str], list[int], list[int]] | None = None,
) -> TxResult:
    """``sender`` challenges its call ``seq`` in the batch of ``epoch``."""
    consumers, calls, steps = counts or world.counts(api, epoch)
    return world.market.transact(
        "challenge", api, epoch, seq, consumers, calls, steps, sender=sender, value=value
    )


def test_an_answered_challenge_pays_the_bond_to_the_orchestrator(world: World) -> None:
    api = world.live()
    alice = world.consumers[0]
    calls = [world.run_call(api, 0, alice, seq) for seq in (1, 2)]
    world.commit(api, 0, calls)
    challenge_id = challenge(world, api, 0, 2, alice).event("Challenged")["challenge_id"]
    assert world.api(api).open == 2
    other = Request(api, 0, alice.address, 2, calls[0].input_hash, PRICE)
    with reverts("apimarket: request not signed by consumer"):
        world.market.transact(
            "answer_challenge",
            challenge_id,
            calls[1].input_hash,
            other.sign(world.market.address, world.consumers[1].key),
            sender=world.orchestrator,
        )
    with reverts("apimarket: caller is not the orchestrator"):
        world.market.transact(
            "answer_challenge",
            challenge_id,
            calls[1].input_hash,
            calls[1].request_sig,
            sender=world.stranger,
        )
    before = world.owed(world.orchestrator)

    result = world.market.transact(
        "answer_challenge",
        challenge_id,
        calls[1].input_hash,
        calls[1].request_sig,
        sender=world.orchestrator,
    )

    assert result.event("ChallengeAnswered")["bond_paid"] == CHALLENGE_BOND
    assert world.owed(world.orchestrator) - before == CHALLENGE_BOND
    assert world.read("challenge_of", challenge_id).state == ANSWERED
    with reverts("apimarket: no open challenge"):
        world.market.transact("settle_challenge", challenge_id, sender=world.stranger)
    world.assert_escrow()


def test_an_invented_call_refunds_price_and_bond(world: World) -> None:
    api = world.live()
    alice = world.consumers[0]
    made = world.run_call(api, 0, alice, 1)
    invented = world.run_call(api, 0, alice, 2)  # signed here only to build the leaves
    world.commit(api, 0, [made, invented])
    challenge_id = challenge(world, api, 0, 2, alice).event("Challenged")["challenge_id"]
    with reverts("apimarket: orchestrator may still answer"):
        world.market.transact("settle_challenge", challenge_id, sender=world.stranger)
    world.travel_to(world.read("challenge_of", challenge_id).deadline)
    with reverts("apimarket: no challenge to answer"):
        world.market.transact(
            "answer_challenge",
            challenge_id,
            invented.input_hash,
            invented.request_sig,
            sender=world.orchestrator,
        )
    before = world.owed(alice)

    result = world.market.transact("settle_challenge", challenge_id, sender=world.stranger)

    assert result.event("ChallengeSettled")["refund"] == PRICE + CHALLENGE_BOND
    assert world.owed(alice) - before == PRICE + CHALLENGE_BOND
    assert world.read("challenge_of", challenge_id).state == REFUNDED
    assert world.api(api).stake_left == ORCHESTRATOR_STAKE - PRICE
    world.assert_escrow()


def test_challenge_rules(world: World) -> None:
    api = world.live()
    alice, bob, carol = world.consumers
    with reverts("apimarket: no batch for that epoch"):
        challenge(world, api, 0, 1, alice, counts=([], [], []))
    world.commit(api, 0, [world.run_call(api, 0, alice, 1), world.run_call(api, 0, bob, 1)])
    with reverts("apimarket: the batch counts no such call"):
        challenge(world, api, 0, 2, alice)
    with reverts("apimarket: the batch counts no such call"):
        challenge(world, api, 0, 0, alice)
    with reverts("apimarket: the batch counts no such call"):
        challenge(world, api, 0, 1, carol)
    with reverts("apimarket: not the batch's counts"):
        challenge(world, api, 0, 1, alice, counts=([alice.address], [1], [1, 0, 0, 1]))
    with reverts("apimarket: send the challenge bond"):
        challenge(world, api, 0, 1, alice, value=CHALLENGE_BOND - 1)
    challenge(world, api, 0, 1, alice)
    with reverts("apimarket: call already challenged"):
        challenge(world, api, 0, 1, alice)
    world.travel_to(world.close(api, 0))
    with reverts("apimarket: the window is closed"):
        challenge(world, api, 0, 1, bob)
