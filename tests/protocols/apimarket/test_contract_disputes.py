"""Disputes over a step's output: a receipt for a component outside the model, and the
committee of replicas that catches a liar, clears an honest vendor or finds no majority."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from ..world import reverts
from .world import (
    DISPUTE_BOND,
    HONEST,
    LIAR,
    MARGIN,
    NO_MAJORITY,
    OPEN,
    VENDOR_STAKE,
    WRONG_COMPONENT,
    Call,
    World,
    hash_of,
    output_commitment,
)

TRUE = hash_of("the true output of component 0")
FALSE = hash_of("a made-up output")
OTHER = hash_of("a third output")


def disputed(world: World, output: bytes = FALSE) -> tuple[int, Call, int]:
    """A live API, alice's call whose step 0 (slot 0) output ``output``, and her dispute."""
    api = world.live()
    call = world.run_call(api, 0, world.consumers[0], 1, outputs=(output, hash_of("final")))
    result = world.dispute(call, 0)
    return api, call, result.event("Disputed")["dispute_id"]


def vote(world: World, dispute_id: int, replica: LocalAccount, output: bytes) -> bytes:
    """``replica`` commits to ``output``; returns the salt."""
    salt = keccak(b"salt" + replica.address.encode() + dispute_id.to_bytes(32, "big"))
    commitment = output_commitment(dispute_id, replica.address, output, salt)
    world.market.transact("commit_output", dispute_id, commitment, sender=replica)
    return salt


def reveal(
    world: World, dispute_id: int, replica: LocalAccount, output: bytes, salt: bytes
) -> None:
    world.market.transact("reveal_output", dispute_id, output, salt, sender=replica)


def run_committee(world: World, dispute_id: int, outputs: dict[int, bytes]) -> None:
    """Vendors ``i`` commit then reveal ``outputs[i]``."""
    salts = {i: vote(world, dispute_id, world.vendors[i], out) for i, out in outputs.items()}
    for i, out in outputs.items():
        reveal(world, dispute_id, world.vendors[i], out, salts[i])


def owed(world: World) -> dict[str, int]:
    return {a.address: world.owed(a) for a in world.cast}


def gained(world: World, before: dict[str, int]) -> dict[str, int]:
    return {a.address: world.owed(a) - before[a.address] for a in world.cast}


def test_a_liar_is_caught_by_the_replicas(world: World) -> None:
    api, call, dispute_id = disputed(world, FALSE)
    d = world.read("dispute_of", dispute_id)
    assert d.members == 0b110 and d.state == OPEN and world.api(api).open == 1
    run_committee(world, dispute_id, {1: TRUE, 2: TRUE})
    before = owed(world)

    result = world.market.transact("resolve", dispute_id, sender=world.stranger)

    resolved = result.event("DisputeResolved")
    assert resolved["state"] == LIAR and resolved["majority"] == TRUE
    assert resolved["agreed"] == 0b110 and resolved["slashed"] == 0b001
    paid = gained(world, before)
    half = VENDOR_STAKE // 2
    assert paid[call.consumer.address] == DISPUTE_BOND + VENDOR_STAKE - half
    assert paid[world.vendors[1].address] == paid[world.vendors[2].address] == half // 2
    assert paid[world.vendors[0].address] == 0
    a = world.api(api)
    assert a.out == 0b001 and a.open == 0
    assert world.read("slot", api, 0).out
    with reverts("apimarket: no open dispute"):
        world.market.transact("resolve", dispute_id, sender=world.stranger)
    with reverts("apimarket: that slot is already out"):
        world.dispute(world.run_call(api, 0, world.consumers[1], 1), 0)
    world.assert_escrow()


def test_an_honest_vendor_keeps_its_stake_and_shares_the_bond(world: World) -> None:
    api, call, dispute_id = disputed(world, TRUE)
    run_committee(world, dispute_id, {1: TRUE, 2: TRUE})
    before = owed(world)

    result = world.market.transact("resolve", dispute_id, sender=world.stranger)

    resolved = result.event("DisputeResolved")
    assert resolved["state"] == HONEST and resolved["agreed"] == 0b111
    assert resolved["slashed"] == 0
    paid = gained(world, before)
    each = DISPUTE_BOND // 3
    assert [paid[v.address] for v in world.vendors[:3]] == [each] * 3
    assert paid[world.provider.address] == DISPUTE_BOND - 3 * each
    assert paid[call.consumer.address] == 0
    assert world.api(api).out == 0
    world.assert_escrow()


def test_a_dissenting_replica_loses_its_stake_to_the_majority(world: World) -> None:
    api, _, dispute_id = disputed(world, TRUE)
    run_committee(world, dispute_id, {1: TRUE, 2: OTHER})
    before = owed(world)

    result = world.market.transact("resolve", dispute_id, sender=world.stranger)

    resolved = result.event("DisputeResolved")
    assert resolved["state"] == HONEST and resolved["agreed"] == 0b011
    assert resolved["slashed"] == 0b100
    paid = gained(world, before)
    each = (VENDOR_STAKE + DISPUTE_BOND) // 2
    assert paid[world.vendors[0].address] == paid[world.vendors[1].address] == each
    assert world.api(api).out == 0b100
    world.assert_escrow()


def test_no_majority_refunds_the_bond_and_slashes_nobody(world: World) -> None:
    api, call, dispute_id = disputed(world, FALSE)
    run_committee(world, dispute_id, {1: TRUE, 2: OTHER})
    before = owed(world)

    result = world.market.transact("resolve", dispute_id, sender=world.stranger)

    resolved = result.event("DisputeResolved")
    assert resolved["state"] == NO_MAJORITY and resolved["slashed"] == 0
    paid = gained(world, before)
    assert paid[call.consumer.address] == DISPUTE_BOND
    assert sum(paid.values()) == DISPUTE_BOND
    assert world.api(api).out == 0
    world.assert_escrow()


def test_silent_replicas_leave_no_majority_after_the_deadlines(world: World) -> None:
    api, call, dispute_id = disputed(world, FALSE)
    salt = vote(world, dispute_id, world.vendors[1], TRUE)
    with reverts("apimarket: replicas may still commit"):
        reveal(world, dispute_id, world.vendors[1], TRUE, salt)
    d = world.read("dispute_of", dispute_id)
    world.travel_to(d.commit_deadline)
    with reverts("apimarket: not taking commitments"):
        vote(world, dispute_id, world.vendors[2], TRUE)
    reveal(world, dispute_id, world.vendors[1], TRUE, salt)  # the reveal phase is on
    with reverts("apimarket: replicas may still reveal"):
        world.market.transact("resolve", dispute_id, sender=world.stranger)
    world.travel_to(d.commit_deadline + world.api(api).response_period)
    before = world.owed(call.consumer)

    result = world.market.transact("resolve", dispute_id, sender=world.stranger)

    assert result.event("DisputeResolved")["state"] == NO_MAJORITY  # 2 of 3 needed, 1 agreed
    assert world.owed(call.consumer) - before == DISPUTE_BOND
    world.assert_escrow()


def test_a_component_outside_the_model_is_slashed_at_once(world: World) -> None:
    api = world.live()
    fake = keccak(b"another model's component")
    call = world.run_call(
        api, 0, world.consumers[0], 1, component_hashes=(fake, keccak(b"other head"))
    )
    before = owed(world)

    result = world.dispute(call, 0)

    resolved = result.event("DisputeResolved")
    assert resolved["state"] == WRONG_COMPONENT and resolved["slashed"] == 0b001
    paid = gained(world, before)
    half = VENDOR_STAKE // 2
    assert paid[call.consumer.address] == DISPUTE_BOND + VENDOR_STAKE - half
    assert paid[world.provider.address] == half
    dispute_id = result.event("Disputed")["dispute_id"]
    assert world.read("dispute_of", dispute_id).state == WRONG_COMPONENT
    a = world.api(api)
    assert a.out == 0b001 and a.open == 0
    world.assert_escrow()


def test_a_lone_slot_is_its_own_majority(world: World) -> None:
    api = world.live()
    call = world.run_call(api, 0, world.consumers[0], 1)
    dispute_id = world.dispute(call, 1).event("Disputed")["dispute_id"]  # slot 3, no replica
    before = world.owed(world.vendors[3])

    result = world.market.transact("resolve", dispute_id, sender=world.stranger)

    assert result.event("DisputeResolved")["state"] == HONEST
    assert world.owed(world.vendors[3]) - before == DISPUTE_BOND


def test_dispute_rules(world: World) -> None:
    api = world.live()
    alice, bob, _ = world.consumers
    call = world.run_call(api, 0, alice, 1)
    with reverts("apimarket: receipt not signed by the vendor"):
        world.dispute(call, 0, sender=bob)  # alice's receipt, bob's dispute
    with reverts("apimarket: receipt not signed by the vendor"):
        world.dispute(call, 0, hash_out=TRUE)
    with reverts("apimarket: the slot runs another component"):
        world.dispute(call, 0, component=1)
    with reverts("apimarket: no such slot"):
        world.dispute(call, 0, slot=4)
    with reverts("apimarket: send the dispute bond"):
        world.dispute(call, 0, value=DISPUTE_BOND + 1)
    with reverts("apimarket: no such epoch"):
        world.dispute(world.run_call(api, 2, alice, 1), 0)
    dispute_id = world.dispute(call, 0).event("Disputed")["dispute_id"]
    with reverts("apimarket: step already disputed"):
        world.dispute(call, 0)
    with reverts("apimarket: caller is not in the committee"):
        vote(world, dispute_id, world.vendors[0], TRUE)  # the accused
    with reverts("apimarket: caller is not in the committee"):
        vote(world, dispute_id, world.vendors[3], TRUE)  # another component's vendor
    salt = vote(world, dispute_id, world.vendors[1], TRUE)
    with reverts("committee: already committed"):
        vote(world, dispute_id, world.vendors[1], TRUE)
    with reverts("committee: empty commitment"):
        world.market.transact("commit_output", dispute_id, bytes(32), sender=world.vendors[2])
    other_salt = vote(world, dispute_id, world.vendors[2], TRUE)  # the last: reveals open
    with reverts("apimarket: not taking commitments"):
        vote(world, dispute_id, world.vendors[2], TRUE)
    with reverts("committee: reveal does not match the commitment"):
        reveal(world, dispute_id, world.vendors[1], OTHER, salt)
    reveal(world, dispute_id, world.vendors[1], TRUE, salt)
    with reverts("committee: already revealed"):
        reveal(world, dispute_id, world.vendors[1], TRUE, salt)
    with reverts("apimarket: replicas may still reveal"):
        world.market.transact("resolve", dispute_id, sender=world.stranger)
    world.travel_to(world.read("dispute_of", dispute_id).reveal_deadline)
    with reverts("apimarket: not taking reveals"):
        reveal(world, dispute_id, world.vendors[2], TRUE, other_salt)
    world.market.transact("resolve", dispute_id, sender=world.stranger)
    with reverts("apimarket: not taking reveals"):
        reveal(world, dispute_id, world.vendors[2], TRUE, other_salt)
    world.travel_to(world.close(api, 0) - MARGIN)
    world.dispute(world.run_call(api, 0, bob, 1), 0)
    world.travel_to(world.close(api, 0))
    with reverts("apimarket: the window is closed"):
        world.dispute(world.run_call(api, 0, bob, 2), 0)
