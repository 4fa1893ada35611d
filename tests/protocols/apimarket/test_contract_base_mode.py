"""Base mode, the paper's first design: every step of a call recorded on chain."""

from __future__ import annotations

from ..world import reverts
from .world import (
    ACKNOWLEDGED,
    CANCELLED_CALL,
    OPEN,
    PRICE,
    SHARES,
    UNACKNOWLEDGED,
    World,
    hash_of,
)

INPUT = hash_of("base input")
MIDDLE = hash_of("base middle")
OUTPUT = hash_of("base output")


def call_onchain(world: World, api: int, consumer_index: int = 0) -> int:
    result = world.market.transact(
        "call_onchain", api, INPUT, sender=world.consumers[consumer_index]
    )
    return int(result.event("CallOpened")["call_id"])


def step(
    world: World, call_id: int, component: int, hash_in: bytes, hash_out: bytes, vendor: int
) -> None:
    world.market.transact(
        "record_step", call_id, component, hash_in, hash_out, sender=world.vendors[vendor]
    )


def test_a_call_on_chain_pays_each_step_and_the_provider(world: World) -> None:
    api = world.live(deposit=2 * PRICE)
    alice = world.consumers[0]
    before = {a.address: world.owed(a) for a in world.cast}
    call_id = call_onchain(world, api)
    assert world.deposit_of(api, alice) == PRICE
    assert world.read("call", call_id).state == OPEN

    step(world, call_id, 0, INPUT, MIDDLE, vendor=0)
    step(world, call_id, 1, MIDDLE, OUTPUT, vendor=3)
    result = world.market.transact("acknowledge", call_id, OUTPUT, sender=alice)

    closed = result.event("CallClosed")
    assert closed["state"] == ACKNOWLEDGED
    assert closed["to_provider"] == PRICE - SHARES[0] - SHARES[1]
    paid = {a.address: world.owed(a) - before[a.address] for a in world.cast}
    assert paid[world.vendors[0].address] == SHARES[0]
    assert paid[world.vendors[3].address] == SHARES[1]
    assert paid[world.provider.address] == PRICE - SHARES[0] - SHARES[1]
    c = world.read("call", call_id)
    assert c.state == ACKNOWLEDGED and c.held == 0
    assert world.api(api).open == 0
    world.assert_escrow()


def test_base_mode_rules(world: World) -> None:
    api = world.live(deposit=PRICE)
    alice, bob, _ = world.consumers
    with reverts("apimarket: empty hash"):
        world.market.transact("call_onchain", api, bytes(32), sender=alice)
    call_id = call_onchain(world, api)
    with reverts("apimarket: deposit does not cover the price"):
        call_onchain(world, api)
    with reverts("apimarket: not that component's turn"):
        step(world, call_id, 1, INPUT, MIDDLE, vendor=3)
    with reverts("apimarket: caller is not that step's vendor"):
        step(world, call_id, 0, INPUT, MIDDLE, vendor=1)  # a replica, not the first slot
    with reverts("apimarket: hash_in is not the last output"):
        step(world, call_id, 0, MIDDLE, MIDDLE, vendor=0)
    with reverts("apimarket: empty hash"):
        step(world, call_id, 0, INPUT, bytes(32), vendor=0)
    with reverts("apimarket: steps still missing"):
        world.market.transact("acknowledge", call_id, INPUT, sender=alice)
    step(world, call_id, 0, INPUT, MIDDLE, vendor=0)
    step(world, call_id, 1, MIDDLE, OUTPUT, vendor=3)
    with reverts("apimarket: not that component's turn"):
        step(world, call_id, 2, OUTPUT, OUTPUT, vendor=3)
    with reverts("apimarket: caller did not make that call"):
        world.market.transact("acknowledge", call_id, OUTPUT, sender=bob)
    with reverts("apimarket: not the last step's output"):
        world.market.transact("acknowledge", call_id, MIDDLE, sender=alice)
    with reverts("apimarket: the call may still go on"):
        world.market.transact("cancel_call", call_id, sender=world.stranger)
    world.market.transact("acknowledge", call_id, OUTPUT, sender=alice)
    with reverts("apimarket: no open call"):
        world.market.transact("acknowledge", call_id, OUTPUT, sender=alice)
    with reverts("apimarket: no open call"):
        world.market.transact("cancel_call", call_id, sender=world.stranger)
    world.travel_to(world.api(api).ends)
    with reverts("apimarket: not taking calls"):
        call_onchain(world, api, 1)


def test_a_missing_step_refunds_the_rest(world: World) -> None:
    api = world.live()
    alice = world.consumers[0]
    call_id = call_onchain(world, api)
    step(world, call_id, 0, INPUT, MIDDLE, vendor=0)
    world.travel_to(world.read("call", call_id).deadline)
    with reverts("apimarket: no call waiting for a step"):
        step(world, call_id, 1, MIDDLE, OUTPUT, vendor=3)
    before = world.owed(alice)

    result = world.market.transact("cancel_call", call_id, sender=alice)

    closed = result.event("CallClosed")
    assert closed["state"] == CANCELLED_CALL and closed["to_consumer"] == PRICE - SHARES[0]
    assert world.owed(alice) - before == PRICE - SHARES[0]
    world.assert_escrow()


def test_an_unacknowledged_output_pays_the_provider(world: World) -> None:
    api = world.live()
    call_id = call_onchain(world, api)
    step(world, call_id, 0, INPUT, MIDDLE, vendor=0)
    step(world, call_id, 1, MIDDLE, OUTPUT, vendor=3)
    world.travel_to(world.read("call", call_id).deadline)
    before = world.owed(world.provider)

    result = world.market.transact("cancel_call", call_id, sender=world.stranger)

    assert result.event("CallClosed")["state"] == UNACKNOWLEDGED
    assert world.owed(world.provider) - before == PRICE - SHARES[0] - SHARES[1]
    world.assert_escrow()


def test_release_waits_for_open_calls(world: World) -> None:
    api = world.live()
    call_id = call_onchain(world, api)
    world.travel_to(world.close(api, 1))
    with reverts("apimarket: something is still open"):
        world.market.transact("release", api, sender=world.stranger)
    world.market.transact("cancel_call", call_id, sender=world.stranger)
    world.market.transact("release", api, sender=world.stranger)
    assert world.api(api).locked == 0
    world.assert_escrow()


def test_a_slashed_first_slot_hands_its_steps_to_the_next_replica(world: World) -> None:
    api = world.live()
    fake = hash_of("not a component of the model")
    call = world.run_call(api, 0, world.consumers[1], 1, component_hashes=(fake, fake))
    world.dispute(call, 0)  # slot 0 is out
    call_id = call_onchain(world, api)
    with reverts("apimarket: caller is not that step's vendor"):
        step(world, call_id, 0, INPUT, MIDDLE, vendor=0)
    step(world, call_id, 0, INPUT, MIDDLE, vendor=1)
    assert world.read("call", call_id).next_component == 1
