"""The honest path of an API: register, join, accept, deposit, commit, finalize, release."""

from __future__ import annotations

from ..world import reverts
from .world import (
    ENDED,
    JOINING,
    LIVE,
    ORCHESTRATOR_STAKE,
    PRICE,
    SHARES,
    VENDOR_STAKE,
    World,
)


def test_happy_path_moves_money_exactly(world: World) -> None:
    api = world.registered()
    assert world.api(api).status == JOINING
    assert world.market.call("epoch_close", api, 0) == 0
    for slot in range(4):
        world.join(api, slot)
    world.accept(api)
    a = world.api(api)
    assert a.status == LIVE and a.start > 0 and a.ends == a.start + a.term
    assert (
        world.market.call("epoch_close", api, 1) == a.start + 3 * a.epoch_period + a.window_period
    )
    alice, bob, _ = world.consumers
    world.deposit(api, alice, 10 * PRICE)
    world.deposit(api, bob, 10 * PRICE)
    calls = [world.run_call(api, 0, alice, seq) for seq in (1, 2, 3)]
    calls += [world.run_call(api, 0, bob, 1, slots=(1, 3))]
    owed_before = {a.address: world.owed(a) for a in world.cast}

    result = world.commit(api, 0, calls)

    event = result.event("BatchCommitted")
    assert event["total"] == 4 * PRICE
    assert world.deposit_of(api, alice) == 7 * PRICE
    assert world.deposit_of(api, bob) == 9 * PRICE
    with reverts("apimarket: the window is still open"):
        world.market.transact("finalize_batch", api, 0, sender=world.stranger)
    world.travel_to(world.close(api, 0))
    world.market.transact("finalize_batch", api, 0, sender=world.stranger)
    paid = {a.address: world.owed(a) - owed_before[a.address] for a in world.cast}
    vendors = world.vendors
    assert paid[vendors[0].address] == 3 * SHARES[0]
    assert paid[vendors[1].address] == 1 * SHARES[0]
    assert paid[vendors[2].address] == 0
    assert paid[vendors[3].address] == 4 * SHARES[1]
    assert paid[world.provider.address] == 4 * (PRICE - SHARES[0] - SHARES[1])
    world.assert_escrow()

    with reverts("apimarket: the last window is still open"):
        world.market.transact("release", api, sender=world.stranger)
    world.travel_to(world.close(api, 1))
    world.market.transact("release", api, sender=world.stranger)
    a = world.api(api)
    assert a.status == ENDED and a.locked == 0
    ended = {
        a.address: world.owed(a) - owed_before[a.address] - paid[a.address] for a in world.cast
    }
    assert ended[world.orchestrator.address] == ORCHESTRATOR_STAKE
    assert all(ended[v.address] == VENDOR_STAKE for v in vendors[:4])
    assert ended[alice.address] == 7 * PRICE and ended[bob.address] == 9 * PRICE
    world.assert_escrow()
