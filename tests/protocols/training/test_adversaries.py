"""The adversaries of issue 3 that the contract can see, each shown prevented or caught.

Off-chain checks (a DO recomputing keccak256(subset || nonce), an MO recomputing
keccak256(model || nonce) and comparing replicas) are done here with the same primitives
the agents use, so each story runs from the cheat to who ends up paid.

The auditor (mercato.audit.training) is asked publicly, on its checks that read the chain
alone: 1 (trained without a verified join), 2 (copied data hash), 4 (the DO's verdicts, as
far as the chain tells), 6 (copied model hash), 7 (the draws) and 10 (pay by the rules).
This world has no blob store (its manifests, envelopes, sealed models and fraud evidence
are stand-in hashes), so checks 3, 5, 8 and 9 and every part needing a participant's key
are asserted by the off-chain adversary tests (test_offchain_adversaries.py) and
tests/audit/test_audit_training.py instead.
"""

from __future__ import annotations

from pathlib import Path

from mercato.audit.report import AuditReport, Verdict
from mercato.audit.training import CHECKS, audit_training
from mercato.crypto.commit import commit, verify_commitment
from mercato.protocols.deployment import Deployment
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.training.market import InstanceStatus, TrainingStatus
from mercato.storage.local import LocalBlobStore

from ..world import reverts
from .world import DATA_PRICE, EVIDENCE, IDLE_PERIOD, JOB_PRICE, World, subset_bytes

TRAINED = b"model trained on subset 0, round 1"
DUMMY = b"untrained dummy model"
CHECK = {spec.key: number for number, spec in enumerate(CHECKS, 1)}
CHAIN_ONLY = frozenset(
    CHECK[key]
    for key in (
        "co-holds-data",
        "no-copied-data-hash",
        "do-verified-honestly",
        "no-copied-model-hash",
        "mo-cannot-choose-subsets",
        "paid-by-the-rules",
    )
)
"""The checks whose public findings need no blob: the ones this world can answer."""


def public_audit(world: World, training_id: int, store: Path) -> AuditReport:
    """The public audit of a training of this world, over an empty blob store."""
    markets = {"training_market": world.market.address}
    deployment = Deployment(world.chain.chain_id, 0, world.registry.address, markets)
    market = Marketplace(world.chain, deployment, LocalBlobStore(store))
    return audit_training(market, training_id, None)


def chain_cheaters(report: AuditReport) -> dict[str, list[int]]:
    """Who the checks of :data:`CHAIN_ONLY` name, and on which of them."""
    named = {
        who: [number for number in numbers if number in CHAIN_ONLY]
        for who, numbers in report.cheaters.items()
    }
    return {who: numbers for who, numbers in named.items() if numbers}


def co_named(world: World, index: int, key: str) -> dict[str, list[int]]:
    """``chain_cheaters`` naming only CO ``index``, on check ``key``."""
    return {f"compute provider {world.cos[index].address}": [CHECK[key]]}


def assert_paid_by_the_rules(report: AuditReport) -> None:
    """Nobody named on a chain-only check, and check 10 recomputes every payment."""
    assert chain_cheaters(report) == {}, report.to_dict()
    paid = report.checks[CHECK["paid-by-the-rules"] - 1]
    assert paid.verdict is Verdict.PASS, paid.detail


# compute providers ----------------------------------------------------------------------------


def test_co_copying_another_replicas_join_is_rejected_or_flagged(
    world: World, tmp_path: Path
) -> None:
    # prepare: cos[0] joins honestly; cos[1] holds the other replica of the same subset
    dataset_id = world.new_dataset(1, 2)
    honest = world.create_instance(dataset_id, 0, 0)
    copier = world.create_instance(dataset_id, 0, 1)
    nonce = world.nonce()
    data_hash = commit(subset_bytes(dataset_id, 0), nonce)
    world.market.join_instance(world.cos[0], honest, data_hash, nonce)

    # act / assert: copying hash and nonce is refused on chain
    with reverts("training: nonce already used"):
        world.market.join_instance(world.cos[1], copier, data_hash, nonce)

    # act: copying the hash with a fresh nonce is accepted on chain...
    own_nonce = world.nonce()
    world.market.join_instance(world.cos[1], copier, data_hash, own_nonce)

    # assert: ...but the DO's recomputation with that nonce fails, and it flags the instance
    assert not verify_commitment(data_hash, subset_bytes(dataset_id, 0), own_nonce)
    world.verify(copier, ok=False)
    assert world.market.instance(copier).status is InstanceStatus.FLAGGED
    assert not world.market.dataset(dataset_id).ready
    # an MO asking for it anyway: the public audit names the copier from the chain alone
    training_id = int(world.request(dataset_id).event("TrainingRequested")["training_id"])
    report = public_audit(world, training_id, tmp_path)
    assert chain_cheaters(report) == co_named(world, 1, "no-copied-data-hash"), report.to_dict()


def test_co_copying_another_replicas_job_is_rejected_or_loses_its_pay(
    world: World, tmp_path: Path
) -> None:
    # prepare: three replicas of one subset in a round
    setup = world.setup(1, 3)
    training_id = world.approved(setup)
    world.started(training_id)
    first, copier, third = setup.instances[0]
    nonce = world.nonce()
    model_hash = commit(TRAINED, nonce)
    world.submit(training_id, first, nonce=nonce, model_hash=model_hash)

    # act / assert: the same hash and nonce are refused
    with reverts("training: nonce already used"):
        world.submit(training_id, copier, nonce=nonce, model_hash=model_hash)

    # act: the same hash with a fresh nonce is accepted on chain...
    copier_nonce = world.nonce()
    world.submit(training_id, copier, nonce=copier_nonce, model_hash=model_hash)
    world.submit(training_id, third, nonce=(third_nonce := world.nonce()),
                 model_hash=commit(TRAINED, third_nonce))  # fmt: skip

    # assert: ...but whatever model the copier uploads cannot open it with its nonce
    assert not verify_commitment(model_hash, TRAINED, copier_nonce)
    world.market.report_fraud(world.mo, training_id, copier, 1, EVIDENCE)
    world.complete(training_id)
    assert world.owed(world.cos[1]) == 0
    assert world.owed(world.cos[0]) == world.owed(world.cos[2]) == 3 * JOB_PRICE // 2
    report = public_audit(world, training_id, tmp_path)
    assert chain_cheaters(report) == co_named(world, 1, "no-copied-model-hash"), report.to_dict()
    assert report.checks[CHECK["paid-by-the-rules"] - 1].verdict is Verdict.PASS


def test_co_cannot_join_or_submit_for_another_cos_instance(world: World) -> None:
    # prepare: a free instance of cos[0], and a round in which cos[0]'s instance is drawn
    free = world.create_instance(world.new_dataset(), 0, 0, world.cos[0])
    setup = world.setup(1, 2)
    training_id = world.approved(setup)
    world.started(training_id)

    for thief in [world.cos[1], world.cos[3]]:
        # act / assert: cos[1] even holds the other replica of the drawn subset
        with reverts("training: caller is not the instance's compute provider"):
            world.join(free, sender=thief)
        with reverts("training: caller is not the instance's compute provider"):
            world.submit(training_id, setup.instances[0][0], sender=thief)
    assert world.market.instance(free).status is InstanceStatus.FREE
    assert world.market.job(training_id, setup.instances[0][0]).pending == 0


def test_lazy_co_returning_a_dummy_model_is_outvoted_and_paid_nothing(
    world: World, tmp_path: Path
) -> None:
    # prepare: replicas 0 and 2 train (byte-identical models), replica 1 returns a dummy
    setup = world.setup(1, 3)
    training_id = world.approved(setup)
    world.started(training_id)
    models = {}
    for instance_id, model in zip(setup.instances[0], [TRAINED, DUMMY, TRAINED], strict=True):
        nonce = world.nonce()
        world.submit(training_id, instance_id, nonce=nonce, model_hash=commit(model, nonce))
        models[instance_id] = model

    # act: the MO's replica consensus (majority of identical bytes), then its report
    majority = max(set(models.values()), key=list(models.values()).count)
    outvoted = [i for i, model in models.items() if model != majority]
    for instance_id in outvoted:
        world.market.report_fraud(world.mo, training_id, instance_id, 1, EVIDENCE)
    world.complete(training_id)

    # assert
    assert outvoted == [setup.instances[0][1]]
    assert world.owed(world.cos[1]) == 0
    assert world.owed(world.cos[0]) == world.owed(world.cos[2]) == 3 * JOB_PRICE // 2
    assert world.owed(world.mo) == 0  # the MO gains nothing from the report
    assert world.owed(world.do) == DATA_PRICE
    # the chain shows no cheat (outvoting needs the MO's key: the off-chain test), and the
    # report's forfeit went by the rules
    assert_paid_by_the_rules(public_audit(world, training_id, tmp_path))


def test_double_submission_reverts(world: World) -> None:
    # prepare
    setup = world.setup(1, 2)
    training_id = world.approved(setup)
    world.started(training_id)
    world.submit(training_id, setup.instances[0][0])

    # act / assert: a second job in the same round, even with a fresh nonce
    with reverts("training: job already submitted this round"):
        world.submit(training_id, setup.instances[0][0])
    assert world.market.job(training_id, setup.instances[0][0]).pending == JOB_PRICE


def test_late_submission_reverts(world: World) -> None:
    # prepare
    setup = world.setup(1, 2)
    training_id = world.approved(setup)
    world.started(training_id)
    world.submit(training_id, setup.instances[0][0])
    world.pass_deadline(training_id)

    # act / assert
    with reverts("training: round deadline passed"):
        world.submit(training_id, setup.instances[0][1])


def test_silent_co_earns_nothing_and_the_round_goes_on(world: World, tmp_path: Path) -> None:
    # prepare: replica 1 never submits
    setup = world.setup(1, 2)
    training_id = world.approved(setup, rounds=2)
    world.started(training_id)
    world.submit(training_id, setup.instances[0][0])
    world.pass_deadline(training_id)

    # act
    world.market.close_round(world.cos[0], training_id)
    world.complete(training_id)

    # assert: the MO gets back the silent replica's job and the unused round
    assert world.owed(world.cos[0]) == JOB_PRICE
    assert world.owed(world.cos[1]) == 0
    assert world.owed(world.mo) == JOB_PRICE + 2 * JOB_PRICE
    report = public_audit(world, training_id, tmp_path)  # silence is no fraud
    assert_paid_by_the_rules(report)
    assert (
        "1 instance(s) their accepted jobs" in report.checks[CHECK["paid-by-the-rules"] - 1].detail
    )


# model owner ----------------------------------------------------------------------------------


def test_mo_has_no_say_in_the_draw(world: World) -> None:
    # assert: start_round takes the training and the model's hash, nothing else
    inputs = {
        item["name"]: [p["name"] for p in item["inputs"]]
        for item in world.contract.abi.raw
        if item["type"] == "function"
    }
    assert inputs["start_round"] == ["training_id", "model_hash"]
    assert inputs["draw_round"] == ["training_id"]


def test_draw_is_the_same_whoever_draws_and_whenever(world: World, tmp_path: Path) -> None:
    # prepare: two trainings; the MO draws one at once, a stranger the other 10 blocks late
    setup = world.setup(8, 1)
    early, late = world.approved(setup, k=3), world.approved(setup, k=3)
    world.start(early)
    early_event = world.draw(early, sender=world.mo).event("RoundStarted")
    world.start(late)
    world.mine(10)

    # act
    late_event = world.draw(late, sender=world.stranger).event("RoundStarted")

    # assert: each selection is the function of (target block hash, training, round) alone
    for event in (early_event, late_event):
        assert event["subsets"] == world.expected_draw(event, 8, 3, 0)[0]
    report = public_audit(world, late, tmp_path)  # the auditor recomputes the late draw too
    assert chain_cheaters(report) == {}, report.to_dict()
    assert report.checks[CHECK["mo-cannot-choose-subsets"] - 1].verdict is Verdict.PASS


def test_mo_cannot_redraw_a_round(world: World) -> None:
    # prepare: once asked for, a round is drawn from its target block; the MO may only end
    # the training, never ask again
    setup = world.setup(4, 1)
    training_id = world.approved(setup, rounds=3)
    world.start(training_id)

    # act / assert
    with reverts("training: cannot start a round now"):
        world.start(training_id)
    with reverts("training: only an unapproved request can be cancelled"):
        world.market.cancel(world.mo, training_id)
    world.complete(training_id)
    with reverts("training: cannot start a round now"):
        world.start(training_id)


def test_mo_refusing_to_pay_cannot_keep_the_money(world: World, tmp_path: Path) -> None:
    # prepare: a full round done; the MO goes silent and never completes
    setup = world.setup(2, 2)
    training_id = world.approved(setup, k=2, rounds=3)
    world.round_done(setup, training_id)
    balances = {a.address: world.chain.balance(a.address) for a in [world.do, *world.cos[:2]]}

    # act: a CO completes once the review window and the idle period passed, everyone withdraws
    world.pass_deadline(training_id, extra=IDLE_PERIOD)
    world.complete(training_id, sender=world.cos[1])
    withdrawals = {a.address: world.market.withdraw(a) for a in [world.do, *world.cos[:2]]}

    # assert
    expected = {world.do.address: DATA_PRICE, world.cos[0].address: 2 * JOB_PRICE}
    expected[world.cos[1].address] = 2 * JOB_PRICE
    for address, amount in expected.items():
        fee = balances[address] + amount - world.chain.balance(address)
        assert fee >= 0 and fee % withdrawals[address].gas_used == 0
    assert world.owed(world.mo) == 2 * 2 * 2 * JOB_PRICE
    assert world.state(training_id).status is TrainingStatus.COMPLETED
    assert_paid_by_the_rules(public_audit(world, training_id, tmp_path))


def test_mo_false_report_gains_it_nothing(world: World, tmp_path: Path) -> None:
    # prepare: two identical trainings, every replica honest; the MO falsely reports one
    setup = world.setup(1, 2)
    clean, reported = world.approved(setup), world.approved(setup)
    for training_id in (clean, reported):
        world.round_done(setup, training_id)
    world.market.report_fraud(world.mo, reported, setup.instances[0][0], 1, EVIDENCE)

    # act
    world.complete(clean)
    refund_clean = world.owed(world.mo)
    world.complete(reported)

    # assert: the same refund either way; the pay went to the other replica
    assert world.owed(world.mo) - refund_clean == refund_clean == 0
    assert world.owed(world.cos[1]) == 2 * JOB_PRICE + JOB_PRICE
    # the pay moved by the rules; that the report was false needs its evidence (the
    # off-chain audit tests name the MO on check 9)
    assert_paid_by_the_rules(public_audit(world, reported, tmp_path))


# data owner -----------------------------------------------------------------------------------


def test_silent_do_lets_the_mo_cancel_and_take_its_money_back(world: World, tmp_path: Path) -> None:
    # prepare: the DO never approves
    setup = world.setup()
    training_id = world.requested(setup, rounds=4)
    escrowed = world.state(training_id).escrowed
    world.pass_deadline(training_id)
    before = world.chain.balance(world.mo.address)

    # act
    world.market.cancel(world.mo, training_id)
    result = world.market.withdraw(world.mo)

    # assert
    fee = before + escrowed - world.chain.balance(world.mo.address)
    assert fee >= 0 and fee % result.gas_used == 0
    assert world.balance() == 0
    with reverts("training: not waiting for approval"):
        world.market.approve_training(world.do, training_id)
    report = public_audit(world, training_id, tmp_path)
    assert_paid_by_the_rules(report)
    assert (
        "the MO was refunded all it locked" in report.checks[CHECK["paid-by-the-rules"] - 1].detail
    )
