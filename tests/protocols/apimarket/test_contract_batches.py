"""Deposits and their withdrawal notice; committing and finalizing the batch of an epoch."""

from __future__ import annotations

from eth_account import Account
from eth_utils.crypto import keccak

from mercato.protocols.roles import Role

from ..world import ETHER, register_cast, reverts
from .world import MARGIN, PRICE, SHARES, World


def test_deposit_rules(world: World) -> None:
    api = world.live(deposit=0)
    alice = world.consumers[0]
    with reverts("apimarket: send a deposit"):
        world.deposit(api, alice, 0)
    with reverts("apimarket: caller is not a client"):
        world.deposit(api, world.vendors[4], PRICE)
    result = world.deposit(api, alice, 2 * PRICE)
    assert result.event("Deposited")["deposit"] == 2 * PRICE
    result = world.deposit(api, alice, PRICE)
    assert result.event("Deposited")["deposit"] == 3 * PRICE
    assert world.api(api).depositors == 1
    world.travel_to(world.api(api).ends)
    with reverts("apimarket: not taking deposits"):
        world.deposit(api, alice, PRICE)
    world.assert_escrow()


def test_withdrawal_waits_for_the_notice(world: World) -> None:
    api = world.live(deposit=0)
    alice, bob, _ = world.consumers
    world.deposit(api, alice, 5 * PRICE)
    with reverts("apimarket: nothing deposited"):
        world.market.transact("request_withdrawal", api, sender=bob)
    with reverts("apimarket: nothing deposited"):
        world.market.transact("withdraw_deposit", api, sender=bob)
    with reverts("apimarket: request the withdrawal first"):
        world.market.transact("withdraw_deposit", api, sender=alice)
    world.travel_to(world.epoch_start(api, 0) + 10 * MARGIN)  # in epoch 0
    result = world.market.transact("request_withdrawal", api, sender=alice)
    after = result.event("WithdrawalRequested")["withdraw_after"]
    assert after == world.epoch_start(api, 2)
    call = world.run_call(api, 0, alice, 1)
    world.commit(api, 0, [call])  # the calls of epoch 0 are still paid for
    world.travel_to(after - MARGIN)
    with reverts("apimarket: withdrawal notice not over"):
        world.market.transact("withdraw_deposit", api, sender=alice)
    world.travel_to(after)
    before = world.owed(alice)
    world.market.transact("withdraw_deposit", api, sender=alice)
    assert world.owed(alice) - before == 4 * PRICE
    assert world.deposit_of(api, alice) == 0
    world.assert_escrow()


def test_withdraw_at_once_while_joining(world: World) -> None:
    api = world.registered()
    alice = world.consumers[0]
    world.deposit(api, alice, 2 * PRICE)
    with reverts("apimarket: not live"):
        world.market.transact("request_withdrawal", api, sender=alice)
    before = world.owed(alice)
    result = world.market.transact("withdraw_deposit", api, sender=alice)
    assert result.event("DepositWithdrawn")["amount"] == 2 * PRICE
    assert world.owed(alice) - before == 2 * PRICE and world.api(api).locked == 0


def test_commit_batch_rules(world: World) -> None:
    api = world.live(deposit=2 * PRICE)
    alice, bob, _ = world.consumers
    calls = [world.run_call(api, 0, alice, 1), world.run_call(api, 0, bob, 1)]
    batch = world.batch_of(api, calls)
    ordered = batch.consumers
    with reverts("apimarket: the epoch is not over"):
        world.market.transact(
            "commit_batch",
            api,
            0,
            batch.root,
            batch.records_hash,
            ordered,
            [1, 1],
            batch.steps,
            sender=world.orchestrator,
        )
    with reverts("apimarket: caller is not the orchestrator"):
        world.commit(api, 0, calls, sender=world.vendors[0])
    with reverts("apimarket: empty hash"):
        world.commit(api, 0, calls, root=bytes(32))
    with reverts("apimarket: empty hash"):
        world.commit(api, 0, calls, records_hash=bytes(32))
    with reverts("apimarket: one count per consumer"):
        world.commit(api, 0, calls, calls=[1])
    with reverts("apimarket: one step count per slot"):
        world.commit(api, 0, calls, steps=[2, 2])
    with reverts("apimarket: consumers must increase"):
        world.commit(api, 0, calls, consumers=ordered[::-1])
    with reverts("apimarket: consumers must increase"):
        world.commit(api, 0, calls, consumers=[ordered[0], ordered[0]])
    with reverts("apimarket: a consumer with no call"):
        world.commit(api, 0, calls, calls=[1, 0])
    with reverts("apimarket: a deposit cannot pay its calls"):
        world.commit(api, 0, calls, calls=[1, 3])
    with reverts("apimarket: too many steps"):
        world.commit(api, 0, calls, steps=[2**32, 0, 0, 2])
    with reverts("apimarket: more steps than calls"):
        world.commit(api, 0, calls, steps=[2, 1, 0, 2])
    with reverts("apimarket: more steps than calls"):
        world.commit(api, 0, calls, steps=[2, 0, 0, 3])
    result = world.commit(api, 0, calls)
    b = world.read("batch", api, 0)
    assert b.root == batch.root and b.counts_hash == batch.counts_hash and b.total == 2 * PRICE
    assert result.event("BatchCommitted")["counts_hash"] == batch.counts_hash
    with reverts("apimarket: batch already committed"):
        world.commit(api, 0, calls)
    world.travel_to(world.due(api, 1) - MARGIN)
    world.commit(api, 1, [world.run_call(api, 1, alice, 1)])
    world.travel_to(world.due(api, 1))
    with reverts("apimarket: no batch to finalize"):
        world.market.transact("finalize_batch", api, 2, sender=world.stranger)
    with reverts("apimarket: no such epoch"):
        world.commit(api, 2, calls)  # the term has two epochs
    world.assert_escrow()


def test_a_late_batch_is_refused(world: World) -> None:
    api = world.live()
    call = world.run_call(api, 0, world.consumers[0], 1)
    world.travel_to(world.due(api, 0))
    with reverts("apimarket: too late for that batch"):
        world.commit(api, 0, [call])


def test_a_batch_may_be_empty_and_finalizes_once(world: World) -> None:
    api = world.live()
    result = world.commit(api, 0, [])
    assert result.event("BatchCommitted")["total"] == 0
    world.travel_to(world.close(api, 0))
    owed = world.owed(world.provider)
    world.market.transact("finalize_batch", api, 0, sender=world.stranger)
    assert world.owed(world.provider) == owed
    with reverts("apimarket: no batch to finalize"):
        world.market.transact("finalize_batch", api, 0, sender=world.stranger)


def test_release_waits_for_open_batches(world: World) -> None:
    api = world.live()
    world.commit(api, 0, [world.run_call(api, 0, world.consumers[0], 1)])
    world.travel_to(world.close(api, 1))
    with reverts("apimarket: something is still open"):
        world.market.transact("release", api, sender=world.stranger)
    world.market.transact("finalize_batch", api, 0, sender=world.stranger)
    vendor = world.vendors[0]
    before = world.owed(vendor)
    world.market.transact("release", api, sender=world.stranger)
    assert world.owed(vendor) - before == world.api(api).vendor_stake
    assert SHARES[0] > 0
    with reverts("apimarket: not live"):
        world.market.transact("release", api, sender=world.stranger)
    world.assert_escrow()


def test_an_api_takes_128_depositors(world: World) -> None:
    api = world.registered()
    crowd = [Account.from_key(keccak(b"apimarket crowd %d" % i)) for i in range(128)]
    for account in crowd:
        world.chain.set_balance(account.address, ETHER)
    register_cast(world.registry, [(account, Role.CLIENT) for account in crowd])
    world.chain.send_many(
        [world.market.tx("deposit", api, sender=account, value=1) for account in crowd[:127]]
    )
    world.deposit(api, world.consumers[0], 1)
    assert world.api(api).depositors == 128
    world.deposit(api, world.consumers[0], 1)  # a depositor again: no new place needed
    with reverts("apimarket: no more consumers"):
        world.deposit(api, crowd[127], 1)
    world.travel_to(world.api(api).join_deadline)
    result = world.market.transact("advance", api, sender=world.stranger)
    assert result.event("ApiEnded")["deposits"] == 129
    assert world.owed(crowd[0]) == 1 and world.api(api).locked == 0
    crowd_owed = sum(world.owed(account) for account in crowd)
    balance = world.chain.balance(world.market.address)
    assert balance == world.locked_all() + world.owed_all() + crowd_owed
    # the crowd takes its wei back, so that the session's escrow checks need only the cast
    world.chain.send_many([world.market.tx("withdraw", sender=a) for a in crowd[:127]])
    world.assert_escrow()
