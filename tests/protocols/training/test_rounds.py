"""TrainingMarket.vy, rounds: start, the unbiasable draw, jobs, closing, fraud reports.

Draw tests that compare the contract's selection with a recomputation take the
per-block hashes, which both backends have.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import vyper
from eth_abi.abi import encode
from eth_account.signers.local import LocalAccount

from mercato.chain.contract import ABI, Contract
from mercato.protocols.training.market import (
    BLOCKHASH_WINDOW,
    TrainingStatus,
    subsets_of,
)

from ..world import EMPTY, KEY, reverts
from .world import (
    DATA_PRICE,
    EVIDENCE,
    GLOBAL_MODEL,
    IDLE_PERIOD,
    JOB_PRICE,
    REVIEW_PERIOD,
    ROUND_PERIOD,
    World,
    block_hash,
    deploy_world,
)

ATOMIC_DRAW_SOURCE = Path(__file__).with_name("AtomicDraw.vy")


# start_round --------------------------------------------------------------------------------


def test_start_round_asks_for_a_draw_on_its_own_block(world: World) -> None:
    # prepare
    training_id = world.approved(world.setup(), rounds=2)

    # act
    result = world.start(training_id)

    # assert
    target = result.receipt.block_number
    assert result.event("RoundRequested").args == {
        "training_id": training_id,
        "mo": world.mo.address,
        "round": 1,
        "model_hash": GLOBAL_MODEL,
        "target_block": target,
    }
    training = world.state(training_id)
    assert (training.status, training.round, training.target_block) == (
        TrainingStatus.DRAWING,
        1,
        target,
    )
    assert (training.selected, training.remaining) == (0, 0)
    assert training.deadline == world.chain.timestamp() + IDLE_PERIOD


def test_start_round_by_someone_else_reverts(world: World) -> None:
    # prepare
    training_id = world.approved(world.setup())

    for sender in [world.do, world.cos[0], world.stranger]:
        # act / assert
        with reverts("training: only the model owner starts rounds"):
            world.start(training_id, sender=sender)


def test_start_round_before_approval_or_during_a_round_reverts(world: World) -> None:
    # prepare
    setup = world.setup()
    requested = world.requested(setup)
    drawing = world.approved(setup, rounds=2)
    world.start(drawing)
    training = world.approved(setup, rounds=2)
    world.started(training)

    for training_id in [requested, drawing, training]:
        # act / assert
        with reverts("training: cannot start a round now"):
            world.start(training_id)


def test_start_round_after_the_last_round_reverts(world: World) -> None:
    # prepare
    setup = world.setup()
    training_id = world.approved(setup, rounds=1)
    world.round_done(setup, training_id)

    # act / assert
    with reverts("training: no rounds left"):
        world.start(training_id)


def test_start_round_with_an_empty_model_hash_reverts(world: World) -> None:
    # prepare
    training_id = world.approved(world.setup())

    # act / assert
    with reverts("training: empty model hash"):
        world.market.start_round(world.mo, training_id, EMPTY)


def test_next_round_starts_after_a_round_is_done(world: World) -> None:
    # prepare
    setup = world.setup()
    training_id = world.approved(setup, rounds=2)
    world.round_done(setup, training_id)

    # act
    world.start(training_id)

    # assert
    training = world.state(training_id)
    assert (training.status, training.round, training.jobs) == (TrainingStatus.DRAWING, 2, 1)


# draw_round ---------------------------------------------------------------------------------


def test_draw_selects_subsets_from_the_target_block_hash(world: World) -> None:
    # prepare
    setup = world.setup(4, 3)
    training_id = world.approved(setup, k=2, rounds=2)
    target = world.start(training_id).receipt.block_number

    # act: anyone draws
    result = world.draw(training_id, sender=world.cos[5])

    # assert
    event = result.event("RoundStarted")
    selected, cycle = world.expected_draw(event, 4, 2, 0)
    deadline = world.chain.timestamp() + ROUND_PERIOD
    assert event.args == {
        "training_id": training_id,
        "caller": world.cos[5].address,
        "round": 1,
        "subsets": selected,
        "target_block": target,
        "block_hash": block_hash(world.chain, target),
        "remaining": 6,
        "round_deadline": deadline,
    }
    assert len(subsets_of(selected)) == 2
    training = world.state(training_id)
    assert (training.status, training.selected, training.cycle) == (
        TrainingStatus.TRAINING,
        selected,
        cycle,
    )
    assert (training.remaining, training.deadline) == (6, deadline)
    assert event["block_hash"] != EMPTY


def test_different_block_hashes_give_different_draws(
    world: World, accounts: list[LocalAccount]
) -> None:
    # prepare: two markets, the same training (id 1, round 1, 16 of 32 subsets) in each,
    # started in different blocks
    other = deploy_world(world.chain, accounts)
    draws = []
    for market, extra_blocks in [(world, 0), (other, 3)]:
        setup = market.setup(32, 1)
        training_id = market.approved(setup, k=16)
        market.mine(extra_blocks)

        # act
        event = market.started(training_id)

        # assert
        assert event["training_id"] == 1 and event["round"] == 1
        assert event["subsets"] == market.expected_draw(event, 32, 16, 0)[0]
        draws.append((event["block_hash"], event["subsets"]))

    # assert: C(32, 16) > 6e8 selections, so equal draws would mean the hash is ignored
    (first_hash, first), (second_hash, second) = draws
    assert first_hash != second_hash
    assert first != second


def test_every_subset_is_used_after_ceil_m_over_k_rounds(world: World) -> None:
    # prepare: 5 subsets, 2 a round: rounds 1 and 2 draw fresh subsets, round 3 the last
    # fresh one and one more, which opens the next cycle
    setup = world.setup(5, 1)
    training_id = world.approved(setup, k=2, rounds=6)
    cycle = 0
    masks = []

    for _ in range(6):
        # act
        event = world.round_done(setup, training_id)

        # assert
        selected, cycle = world.expected_draw(event, 5, 2, cycle)
        assert event["subsets"] == selected
        assert world.state(training_id).cycle == cycle
        masks.append(selected)

    # assert
    assert masks[0] & masks[1] == 0
    assert masks[0] | masks[1] | masks[2] == 0b11111
    assert bin(masks[2] & ~(masks[0] | masks[1])).count("1") == 1
    assert masks[3] | masks[4] | masks[5] | (masks[2] & (masks[0] | masks[1])) == 0b11111


def test_draw_in_the_block_of_start_round_reverts(world: World) -> None:
    # prepare: a model owner contract that starts and draws in one transaction
    setup = world.setup()
    attacker = deploy_atomic_draw(world)
    value = world.market.dataset(setup.dataset_id).escrow_for(1, 1)
    attacker.transact("request", setup.dataset_id, sender=world.deployer, value=value)
    training_id = world.market.training_count()
    world.market.approve_training(world.do, training_id)

    # act / assert
    with reverts("training: draw must wait for a later block"):
        attacker.transact("start_and_draw", training_id, sender=world.deployer)
    assert world.state(training_id).mo == attacker.address
    assert world.state(training_id).status is TrainingStatus.APPROVED


def test_draw_of_a_round_started_by_a_contract_waits_for_the_next_block(world: World) -> None:
    # prepare
    setup = world.setup()
    attacker = deploy_atomic_draw(world)
    value = world.market.dataset(setup.dataset_id).escrow_for(1, 1)
    attacker.transact("request", setup.dataset_id, sender=world.deployer, value=value)
    training_id = world.market.training_count()
    world.market.approve_training(world.do, training_id)
    attacker.transact("start", training_id, sender=world.deployer)

    # act
    world.draw(training_id)

    # assert
    assert world.state(training_id).status is TrainingStatus.TRAINING


def test_draw_without_a_round_asked_for_reverts(world: World) -> None:
    # prepare
    setup = world.setup()
    approved = world.approved(setup)
    drawn = world.approved(setup)
    world.started(drawn)

    for training_id in [approved, drawn]:
        # act / assert
        with reverts("training: no round to draw"):
            world.draw(training_id)


def test_draw_at_the_edge_of_the_blockhash_window_draws(world: World) -> None:
    # prepare
    setup = world.setup(2, 1)
    training_id = world.approved(setup)
    target = world.start(training_id).receipt.block_number
    world.mine(BLOCKHASH_WINDOW - 1)

    # act: the draw runs in block target + 256, the oldest that still sees the hash
    result = world.draw(training_id)

    # assert
    event = result.event("RoundStarted")
    assert result.receipt.block_number == target + BLOCKHASH_WINDOW
    assert event["block_hash"] == block_hash(world.chain, target)
    assert event["subsets"] == world.expected_draw(event, 2, 1, 0)[0]


def test_draw_after_the_blockhash_window_moves_the_target(world: World) -> None:
    # prepare
    setup = world.setup(2, 1)
    training_id = world.approved(setup)
    target = world.start(training_id).receipt.block_number
    world.mine(BLOCKHASH_WINDOW)

    # act
    result = world.draw(training_id, sender=world.cos[0])

    # assert: no draw; the block of this call is the new target
    new_target = result.receipt.block_number
    assert new_target == target + BLOCKHASH_WINDOW + 1
    assert result.event("DrawRetargeted").args == {
        "training_id": training_id,
        "caller": world.cos[0].address,
        "round": 1,
        "target_block": new_target,
    }
    training = world.state(training_id)
    assert (training.status, training.target_block) == (TrainingStatus.DRAWING, new_target)

    # act: the next draw uses the new target
    event = world.draw(training_id).event("RoundStarted")

    # assert
    assert (event["target_block"], event["block_hash"]) == (
        new_target,
        block_hash(world.chain, new_target),
    )


# submit_job ---------------------------------------------------------------------------------


def test_submit_job_records_the_job_and_holds_its_pay(world: World) -> None:
    # prepare
    setup = world.setup(1, 2)
    training_id = world.approved(setup)
    world.started(training_id)
    instance_id = setup.instances[0][1]
    nonce = world.nonce()

    # act
    result = world.market.submit_job(
        world.cos[1],
        training_id,
        instance_id,
        model_hash=GLOBAL_MODEL,
        nonce=nonce,
        location_hash=EVIDENCE,
    )

    # assert
    assert result.event("JobSubmitted").args == {
        "training_id": training_id,
        "instance_id": instance_id,
        "co": world.cos[1].address,
        "round": 1,
        "model_hash": GLOBAL_MODEL,
        "nonce": nonce,
        "location_hash": EVIDENCE,
        "remaining": 1,
    }
    job = world.market.job(training_id, instance_id)
    assert (job.pending, job.round, job.fraudulent) == (JOB_PRICE, 1, False)
    training = world.state(training_id)
    assert (training.status, training.remaining, training.jobs) == (TrainingStatus.TRAINING, 1, 1)
    assert world.market.nonce_used(nonce)
    assert world.owed(world.cos[1]) == 0


def test_last_job_completes_the_round(world: World) -> None:
    # prepare
    setup = world.setup(1, 2)
    training_id = world.approved(setup)
    world.started(training_id)
    world.submit(training_id, setup.instances[0][0])

    # act
    result = world.submit(training_id, setup.instances[0][1])

    # assert
    review_deadline = world.chain.timestamp() + REVIEW_PERIOD
    assert result.event("RoundDone").args == {
        "training_id": training_id,
        "caller": world.cos[1].address,
        "round": 1,
        "missing": 0,
        "review_deadline": review_deadline,
    }
    training = world.state(training_id)
    assert (training.status, training.remaining, training.jobs) == (TrainingStatus.ROUND_DONE, 0, 2)
    assert training.deadline == review_deadline


def test_submit_for_a_subset_not_drawn_reverts(world: World) -> None:
    # prepare
    setup = world.setup(2, 1)
    training_id = world.approved(setup)
    world.started(training_id)
    undrawn = 1 - world.state(training_id).selected_subsets[0]

    # act / assert
    with reverts("training: subset not drawn this round"):
        world.submit(training_id, setup.instances[undrawn][0])


def test_submit_for_an_instance_of_another_dataset_reverts(world: World) -> None:
    # prepare
    setup, other = world.setup(), world.setup()
    training_id = world.approved(setup)
    world.started(training_id)

    # act / assert
    with reverts("training: instance not in this training"):
        world.submit(training_id, other.instances[0][0])


def test_submit_for_a_flagged_instance_of_a_replaced_slot_reverts(world: World) -> None:
    # prepare: cos[1]'s instance was flagged and its slot handed to cos[2]
    setup = world.setup(1, 2, verify=False)
    flagged = setup.instances[0][1]
    world.verify(setup.instances[0][0])
    world.verify(flagged, ok=False)
    replacement = world.create_instance(setup.dataset_id, 0, 1, world.cos[2])
    world.join(replacement)
    world.verify(replacement)
    training_id = world.approved(setup)
    world.started(training_id)

    # act / assert
    with reverts("training: instance not in this training"):
        world.submit(training_id, flagged)


def test_submit_with_an_empty_hash_reverts(world: World) -> None:
    # prepare
    setup = world.setup()
    training_id = world.approved(setup)
    world.started(training_id)
    instance_id = setup.instances[0][0]

    for model_hash, location_hash in [(EMPTY, EVIDENCE), (GLOBAL_MODEL, EMPTY)]:
        # act / assert
        with reverts("training: empty hash"):
            world.market.submit_job(
                world.cos[0],
                training_id,
                instance_id,
                model_hash=model_hash,
                nonce=world.nonce(),
                location_hash=location_hash,
            )


def test_submit_outside_a_round_reverts(world: World) -> None:
    # prepare: approved, round asked for but not drawn, round done
    setup = world.setup()
    approved = world.approved(setup)
    drawing = world.approved(setup)
    world.start(drawing)
    done = world.approved(setup, rounds=2)
    world.round_done(setup, done)

    for training_id in [approved, drawing, done]:
        # act / assert
        with reverts("training: no round in progress"):
            world.submit(training_id, setup.instances[0][0])


# close_round --------------------------------------------------------------------------------


def test_close_round_after_the_deadline_ends_it_without_the_silent(world: World) -> None:
    # prepare: two of three replicas submit
    setup = world.setup(1, 3)
    training_id = world.approved(setup, rounds=2)
    world.started(training_id)
    world.submit(training_id, setup.instances[0][0])
    world.submit(training_id, setup.instances[0][2])
    world.pass_deadline(training_id)

    # act: anyone closes
    result = world.market.close_round(world.stranger, training_id)

    # assert
    review_deadline = world.chain.timestamp() + REVIEW_PERIOD
    assert result.event("RoundDone").args == {
        "training_id": training_id,
        "caller": world.stranger.address,
        "round": 1,
        "missing": 1,
        "review_deadline": review_deadline,
    }
    training = world.state(training_id)
    assert (training.status, training.remaining, training.jobs) == (TrainingStatus.ROUND_DONE, 0, 2)
    assert training.deadline == review_deadline


def test_close_round_before_the_deadline_reverts(world: World) -> None:
    # prepare
    setup = world.setup(1, 2)
    training_id = world.approved(setup)
    world.started(training_id)
    world.submit(training_id, setup.instances[0][0])

    # act / assert
    with reverts("training: round deadline not reached"):
        world.market.close_round(world.mo, training_id)


def test_close_round_outside_a_round_reverts(world: World) -> None:
    # prepare
    setup = world.setup()
    approved = world.approved(setup)
    done = world.approved(setup)
    world.round_done(setup, done)

    for training_id in [approved, done]:
        # act / assert
        with reverts("training: no round in progress"):
            world.market.close_round(world.stranger, training_id)


# report_fraud -------------------------------------------------------------------------------


def three_replicas_done(
    world: World, rounds: int = 1, job_price: int = JOB_PRICE
) -> tuple[int, list[int]]:
    """A training of a 1 x 3 dataset whose first round every replica submitted."""
    setup = world.setup(1, 3, job_price=job_price)
    training_id = world.approved(setup, rounds=rounds)
    world.round_done(setup, training_id)
    return training_id, setup.instances[0]


def test_report_fraud_moves_the_pay_to_the_honest_replicas(world: World) -> None:
    # prepare
    training_id, (first, second, lazy) = three_replicas_done(world)

    # act
    result = world.market.report_fraud(world.mo, training_id, lazy, 1, EVIDENCE)

    # assert
    assert result.event("FraudReported").args == {
        "training_id": training_id,
        "instance_id": lazy,
        "co": world.cos[2].address,
        "round": 1,
        "evidence_hash": EVIDENCE,
        "forfeited": JOB_PRICE,
        "slashed": 0,  # the CO staked nothing (see test_slashing.py)
        "honest": [first, second],
    }
    job = world.market.job(training_id, lazy)
    assert (job.pending, job.fraudulent) == (0, True)
    for honest in (first, second):
        assert world.market.job(training_id, honest).pending == JOB_PRICE + JOB_PRICE // 2
    training = world.state(training_id)
    assert training.fraud == 1 << 2
    assert training.forfeited == 0


def test_reported_pay_is_paid_to_the_honest_replicas_at_completion(world: World) -> None:
    # prepare
    training_id, (_, _, lazy) = three_replicas_done(world)
    world.market.report_fraud(world.mo, training_id, lazy, 1, EVIDENCE)

    # act
    world.complete(training_id)

    # assert: the MO gets back exactly what it would have without the report
    assert world.owed(world.cos[0]) == world.owed(world.cos[1]) == 3 * JOB_PRICE // 2
    assert world.owed(world.cos[2]) == 0
    assert world.owed(world.mo) == 0
    assert world.owed(world.do) == DATA_PRICE


def test_split_remainder_goes_to_the_first_honest_replica(world: World) -> None:
    # prepare: an odd job price does not split evenly in two
    training_id, (first, second, lazy) = three_replicas_done(world, job_price=7)

    # act
    world.market.report_fraud(world.mo, training_id, first, 1, EVIDENCE)

    # assert
    assert world.market.job(training_id, second).pending == 7 + 4
    assert world.market.job(training_id, lazy).pending == 7 + 3


def test_report_with_no_honest_replica_forfeits_the_pay_to_the_data_owner(world: World) -> None:
    # prepare
    setup = world.setup(1, 1)
    training_id = world.approved(setup)
    world.round_done(setup, training_id)

    # act
    result = world.market.report_fraud(world.mo, training_id, setup.instances[0][0], 1, EVIDENCE)
    world.complete(training_id)

    # assert
    assert result.event("FraudReported")["honest"] == []
    assert world.state(training_id).forfeited == JOB_PRICE
    assert world.owed(world.do) == DATA_PRICE + JOB_PRICE
    assert world.owed(world.cos[0]) == 0
    assert world.owed(world.mo) == 0


def test_reported_instance_forfeits_its_earlier_rounds_too(world: World) -> None:
    # prepare: round 1 honest, round 2 reported
    training_id, instances = three_replicas_done(world, rounds=2)
    first, _, lazy = instances
    world.started(training_id)
    for instance_id in instances:
        world.submit(training_id, instance_id)
    assert world.market.job(training_id, lazy).pending == 2 * JOB_PRICE

    # act
    world.market.report_fraud(world.mo, training_id, lazy, 2, EVIDENCE)

    # assert
    assert world.market.job(training_id, lazy).pending == 0
    assert world.market.job(training_id, first).pending == 3 * JOB_PRICE


def test_second_report_takes_the_share_of_the_first_along(world: World) -> None:
    # prepare: two liars; the one reported second keeps nothing of the first's pay
    training_id, (first, second, honest) = three_replicas_done(world, job_price=10)
    world.market.report_fraud(world.mo, training_id, first, 1, EVIDENCE)

    # act
    result = world.market.report_fraud(world.mo, training_id, second, 1, EVIDENCE)

    # assert
    assert result.event("FraudReported")["forfeited"] == 15
    assert result.event("FraudReported")["honest"] == [honest]
    assert world.market.job(training_id, honest).pending == 30
    assert world.state(training_id).fraud == 0b011


def test_reported_instance_gets_no_more_jobs(world: World) -> None:
    # prepare
    training_id, (first, second, lazy) = three_replicas_done(world, rounds=2)
    world.market.report_fraud(world.mo, training_id, lazy, 1, EVIDENCE)

    # act
    event = world.started(training_id)

    # assert: the round waits for the two others only, and refuses the reported one
    assert event["remaining"] == 2
    with reverts("training: instance reported for fraud"):
        world.submit(training_id, lazy)
    world.submit(training_id, first)
    world.submit(training_id, second)
    assert world.state(training_id).status is TrainingStatus.ROUND_DONE


def test_round_of_only_reported_instances_is_done_at_once(world: World) -> None:
    # prepare
    setup = world.setup(1, 1)
    training_id = world.approved(setup, rounds=2)
    world.round_done(setup, training_id)
    world.market.report_fraud(world.mo, training_id, setup.instances[0][0], 1, EVIDENCE)
    world.start(training_id)

    # act
    result = world.draw(training_id)

    # assert
    assert result.event("RoundStarted")["remaining"] == 0
    assert result.event("RoundDone")["missing"] == 0
    assert world.state(training_id).status is TrainingStatus.ROUND_DONE


def test_report_by_someone_else_reverts(world: World) -> None:
    # prepare
    training_id, (_, _, lazy) = three_replicas_done(world)

    for sender in [world.do, world.cos[0], world.stranger]:
        # act / assert
        with reverts("training: only the model owner reports fraud"):
            world.market.report_fraud(sender, training_id, lazy, 1, EVIDENCE)


def test_report_after_the_review_window_reverts(world: World) -> None:
    # prepare
    training_id, (_, _, lazy) = three_replicas_done(world)
    world.pass_deadline(training_id)

    # act / assert
    with reverts("training: review period over"):
        world.market.report_fraud(world.mo, training_id, lazy, 1, EVIDENCE)


def test_report_of_another_round_reverts(world: World) -> None:
    # prepare: round 1 done and round 2 done; round 1's window closed when round 2 started
    training_id, instances = three_replicas_done(world, rounds=2)
    lazy = instances[2]
    world.started(training_id)
    for instance_id in instances:
        world.submit(training_id, instance_id)

    for round_number in [1, 3]:
        # act / assert
        with reverts("training: round not under review"):
            world.market.report_fraud(world.mo, training_id, lazy, round_number, EVIDENCE)


def test_report_while_the_round_runs_reverts(world: World) -> None:
    # prepare
    setup = world.setup(1, 2)
    training_id = world.approved(setup)
    world.started(training_id)
    world.submit(training_id, setup.instances[0][0])

    # act / assert
    with reverts("training: round not under review"):
        world.market.report_fraud(world.mo, training_id, setup.instances[0][0], 1, EVIDENCE)


def test_report_of_an_instance_that_did_not_submit_reverts(world: World) -> None:
    # prepare: one replica stayed silent; it earns nothing, there is nothing to report
    setup = world.setup(1, 2)
    training_id = world.approved(setup)
    world.started(training_id)
    world.submit(training_id, setup.instances[0][0])
    world.pass_deadline(training_id)
    world.market.close_round(world.stranger, training_id)

    # act / assert
    with reverts("training: instance did not submit in this round"):
        world.market.report_fraud(world.mo, training_id, setup.instances[0][1], 1, EVIDENCE)


def test_report_twice_reverts(world: World) -> None:
    # prepare
    training_id, (_, _, lazy) = three_replicas_done(world)
    world.market.report_fraud(world.mo, training_id, lazy, 1, EVIDENCE)

    # act / assert
    with reverts("training: instance already reported"):
        world.market.report_fraud(world.mo, training_id, lazy, 1, EVIDENCE)


def test_report_of_an_instance_of_another_dataset_reverts(world: World) -> None:
    # prepare
    training_id, _ = three_replicas_done(world)
    other = world.setup()

    # act / assert
    with reverts("training: instance not in this training"):
        world.market.report_fraud(world.mo, training_id, other.instances[0][0], 1, EVIDENCE)


def test_report_with_empty_evidence_reverts(world: World) -> None:
    # prepare
    training_id, (_, _, lazy) = three_replicas_done(world)

    # act / assert
    with reverts("training: empty evidence hash"):
        world.market.report_fraud(world.mo, training_id, lazy, 1, EMPTY)


# helpers ------------------------------------------------------------------------------------


@cache
def compile_atomic_draw() -> tuple[ABI, bytes]:
    output = vyper.compile_code(ATOMIC_DRAW_SOURCE.read_text(), output_formats=["abi", "bytecode"])
    return ABI(output["abi"]), bytes.fromhex(output["bytecode"].removeprefix("0x"))


def deploy_atomic_draw(world: World) -> Contract:
    """Deploy AtomicDraw.vy, which registers itself as a model owner."""
    abi, bytecode = compile_atomic_draw()
    initcode = bytecode + encode(
        abi.constructor, [world.registry.address, world.market.address, KEY]
    )
    receipt = world.chain.deploy(world.deployer, initcode)
    assert receipt.contract_address is not None
    return Contract(world.chain, receipt.contract_address, abi, "AtomicDraw")
