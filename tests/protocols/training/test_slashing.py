"""TrainingMarket.vy, slashing: a CO reported for fraud loses its pay and its stake.

The market is an authorized slasher of the registry (see ``world.py``); the stake a report
slashes goes where the reported instance's pay goes: to the honest replicas of its subset
(through their pending pay), or to the DO when there are none.
"""

from __future__ import annotations

from dataclasses import replace

from eth_account.signers.local import LocalAccount

from mercato.chain.base import Chain, TxRequest
from mercato.chain.contract import Contract, TxResult
from mercato.protocols.training.market import MAX_PRICE, TrainingMarket

from ..world import EXIT_DELAY, reverts
from .world import DATA_PRICE, EVIDENCE, FRAUD_STAKE, JOB_PRICE, PERIODS, Setup, World, deploy_world

CO_STAKE = 3 * FRAUD_STAKE


def staked_round_done(
    world: World, replicas: int = 3, *, stake: int = CO_STAKE, job_price: int = JOB_PRICE
) -> tuple[Setup, int]:
    """A 1-subset training whose first (only) round every replica submitted; every CO
    holding a replica staked ``stake``."""
    for co in world.cos[:replicas]:
        if stake:
            world.stake(co, stake)
    setup = world.setup(1, replicas, job_price=job_price)
    training_id = world.approved(setup)
    world.round_done(setup, training_id)
    return setup, training_id


def report(world: World, training_id: int, instance_id: int, round_number: int = 1) -> TxResult:
    return world.market.report_fraud(world.mo, training_id, instance_id, round_number, EVIDENCE)


# deployment -----------------------------------------------------------------------------------


def test_constructor_records_the_fraud_stake(world: World) -> None:
    # act / assert
    assert world.market.fraud_stake() == FRAUD_STAKE
    assert world.registry.call("slashers", world.market.address)


def test_constructor_rejects_a_fraud_stake_out_of_range(world: World) -> None:
    # act / assert: pay and slashed stake share the 128 bits of a job's pending pay
    with reverts("training: fraud stake out of range"):
        Contract.deploy(
            world.chain,
            "TrainingMarket",
            world.registry.address,
            *PERIODS,
            MAX_PRICE + 1,
            sender=world.deployer,
        )


# report_fraud ---------------------------------------------------------------------------------


def test_report_fraud_slashes_the_stake_to_the_honest_replicas(world: World) -> None:
    # prepare
    setup, training_id = staked_round_done(world)
    first, second, lazy = setup.instances[0]
    escrowed = world.state(training_id).escrowed

    # act
    result = report(world, training_id, lazy)

    # assert
    event = result.event("FraudReported")
    assert (event["forfeited"], event["slashed"], event["honest"]) == (
        JOB_PRICE,
        FRAUD_STAKE,
        [first, second],
    )
    [slashed] = world.registry_events(result)
    assert (slashed.name, slashed.args) == (
        "Slashed",
        {"account": world.cos[2].address, "slasher": world.market.address, "amount": FRAUD_STAKE},
    )
    assert world.stake_of(world.cos[2]) == CO_STAKE - FRAUD_STAKE
    assert world.stake_of(world.cos[0]) == world.stake_of(world.cos[1]) == CO_STAKE
    share = (JOB_PRICE + FRAUD_STAKE) // 2
    for honest in (first, second):
        assert world.market.job(training_id, honest).pending == JOB_PRICE + share
    assert world.market.slashed(training_id) == FRAUD_STAKE
    assert world.state(training_id).forfeited == 0
    assert world.balance() == escrowed + FRAUD_STAKE
    assert world.chain.balance(world.registry.address) == 3 * CO_STAKE - FRAUD_STAKE


def test_honest_replicas_withdraw_their_pay_and_their_share_of_the_stake(world: World) -> None:
    # prepare
    setup, training_id = staked_round_done(world)
    report(world, training_id, setup.instances[0][2])
    world.complete(training_id)

    # act
    withdrawals = [world.market.withdraw(co) for co in world.cos[:2]]

    # assert: each gets its job, half the liar's job and half its slashed stake
    for withdrawal in withdrawals:
        amount = withdrawal.event("Withdrawn")["amount"]
        assert amount == JOB_PRICE + (JOB_PRICE + FRAUD_STAKE) // 2
    assert world.owed(world.cos[2]) == 0
    assert world.owed(world.mo) == 0  # the same refund as without the report
    assert world.owed(world.do) == DATA_PRICE
    assert world.balance() == DATA_PRICE


def test_split_remainder_of_pay_and_stake_goes_to_the_first_honest_replica(
    chain: Chain, accounts: list[LocalAccount]
) -> None:
    # prepare: 10 wei of pay and 5 of stake do not split evenly in two
    world = deploy_world(chain, accounts, fraud_stake=5)
    setup, training_id = staked_round_done(world, job_price=10, stake=5)
    first, second, lazy = setup.instances[0]

    # act
    report(world, training_id, lazy)

    # assert
    assert world.market.job(training_id, first).pending == 10 + 8
    assert world.market.job(training_id, second).pending == 10 + 7


def test_slashed_stake_with_no_honest_replica_goes_to_the_data_owner(world: World) -> None:
    # prepare
    setup, training_id = staked_round_done(world, replicas=1)

    # act
    result = report(world, training_id, setup.instances[0][0])
    world.complete(training_id)

    # assert
    assert result.event("FraudReported")["honest"] == []
    assert result.event("FraudReported")["slashed"] == FRAUD_STAKE
    assert world.state(training_id).forfeited == JOB_PRICE + FRAUD_STAKE
    assert world.market.slashed(training_id) == FRAUD_STAKE
    assert world.owed(world.do) == DATA_PRICE + JOB_PRICE + FRAUD_STAKE
    assert world.owed(world.cos[0]) == world.owed(world.mo) == 0
    assert world.balance() == world.owed(world.do)


def test_second_report_takes_the_stake_share_of_the_first_along(world: World) -> None:
    # prepare: two liars; the one reported second keeps nothing of the first's pay or stake
    setup, training_id = staked_round_done(world, job_price=10)
    first, second, _ = setup.instances[0]
    report(world, training_id, first)

    # act
    result = report(world, training_id, second)
    world.complete(training_id)

    # assert
    share = (10 + FRAUD_STAKE) // 2
    assert result.event("FraudReported")["forfeited"] == 10 + share
    assert result.event("FraudReported")["slashed"] == FRAUD_STAKE
    assert world.market.slashed(training_id) == 2 * FRAUD_STAKE
    assert world.owed(world.cos[2]) == 30 + 2 * FRAUD_STAKE
    assert world.owed(world.cos[0]) == world.owed(world.cos[1]) == 0
    assert world.balance() == world.owed(world.cos[2]) + world.owed(world.do)


def test_a_co_without_stake_can_still_be_reported(world: World) -> None:
    # prepare
    setup, training_id = staked_round_done(world, stake=0)
    first, _, lazy = setup.instances[0]

    # act
    result = report(world, training_id, lazy)

    # assert: the registry had nothing to take; the pay moves as ever
    assert result.event("FraudReported")["slashed"] == 0
    assert world.registry_events(result) == []
    assert world.market.job(training_id, first).pending == JOB_PRICE + JOB_PRICE // 2
    assert world.market.slashed(training_id) == 0


def test_a_stake_under_the_fraud_stake_is_taken_whole(world: World) -> None:
    # prepare
    setup, training_id = staked_round_done(world, stake=FRAUD_STAKE // 4)

    # act
    result = report(world, training_id, setup.instances[0][2])

    # assert
    assert result.event("FraudReported")["slashed"] == FRAUD_STAKE // 4
    assert world.stake_of(world.cos[2]) == 0
    assert world.market.slashed(training_id) == FRAUD_STAKE // 4


def test_fraud_stake_zero_slashes_nothing(chain: Chain, accounts: list[LocalAccount]) -> None:
    # prepare: this market is not even a slasher; it never asks the registry
    world = deploy_world(chain, accounts, fraud_stake=0)
    setup, training_id = staked_round_done(world)
    assert not world.registry.call("slashers", world.market.address)

    # act
    result = report(world, training_id, setup.instances[0][2])

    # assert
    assert result.event("FraudReported")["slashed"] == 0
    assert world.registry_events(result) == []
    assert world.stake_of(world.cos[2]) == CO_STAKE
    assert world.market.job(training_id, setup.instances[0][0]).pending == 3 * JOB_PRICE // 2


def test_report_fraud_reverts_until_the_market_may_slash(world: World) -> None:
    # prepare: a second market that the admin has not authorized yet
    contract, _ = Contract.deploy(
        world.chain,
        "TrainingMarket",
        world.registry.address,
        *PERIODS,
        FRAUD_STAKE,
        sender=world.deployer,
    )
    world = replace(world, market=TrainingMarket(world.chain, contract.address))
    setup, training_id = staked_round_done(world)
    lazy = setup.instances[0][2]
    with reverts("registry: caller is not an authorized slasher"):
        report(world, training_id, lazy)

    # act
    world.registry.transact("authorize_slasher", contract.address, sender=world.deployer)
    result = report(world, training_id, lazy)

    # assert
    assert result.event("FraudReported")["slashed"] == FRAUD_STAKE


def test_report_slashes_a_co_whose_exit_is_pending(world: World) -> None:
    # prepare: the lazy CO submitted, then asked to leave before the MO's review
    setup, training_id = staked_round_done(world)
    world.registry.transact("request_exit", sender=world.cos[2])

    # act
    result = report(world, training_id, setup.instances[0][2])

    # assert: it leaves with what the report left it
    assert result.event("FraudReported")["slashed"] == FRAUD_STAKE
    world.chain.time_travel(EXIT_DELAY)
    withdrawn = world.registry.transact("withdraw_stake", sender=world.cos[2])
    assert withdrawn.event("StakeWithdrawn")["amount"] == CO_STAKE - FRAUD_STAKE


# __default__ ----------------------------------------------------------------------------------


def test_market_refuses_ether_from_anyone_but_the_registry(world: World) -> None:
    for sender in (world.stranger, world.deployer, world.cos[0]):
        # act / assert
        with reverts("training: only the registry sends ether"):
            world.chain.send(TxRequest(sender, world.market.address, b"", 1))
    with reverts("training: only the registry sends ether"):
        world.chain.send(TxRequest(world.stranger, world.market.address, b"\x12\x34\x56\x78"))
    assert world.balance() == 0
