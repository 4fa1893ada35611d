"""Issue 3's adversaries, each detected or prevented, with every other party honest.

Lazy or dummy CO; a CO copying another replica's hash and nonce; a CO declaring a hash of
data it did not receive; a DO sending wrong data to one CO; an MO trying to choose the
round's subsets; an MO refusing to pay; a silent DO; a silent CO.

Each also asks the auditor (mercato.audit.training): publicly where the chain and the blobs
tell (a copied model hash), with the key of the one party who can where they do not (the
MO's for an outvoted CO, the DO's for a false join, the victim CO's for wrong data), and it
names exactly the cheater on the right check; for a silent party, what check 10 says: who
may move the training on, and that the pay went by the rules.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mercato.audit.report import Verdict
from mercato.crypto.commit import commit, new_nonce
from mercato.errors import ContractRevert, ProtocolError
from mercato.ml.trainers import weights_from_bytes, weights_to_bytes
from mercato.protocols.deployment import DEFAULT_FRAUD_STAKE
from mercato.protocols.draws import select as select_subsets
from mercato.protocols.training import compute, data_owner, history, model_owner
from mercato.protocols.training.compute import JobInput
from mercato.protocols.training.documents import (
    REASON_COPIED_HASH,
    REASON_OUTVOTED,
    Evidence,
    hash_bytes,
    hash_hex,
    pack_replica,
    replica_context,
)
from mercato.protocols.training.market import (
    InstanceStatus,
    TrainingStatus,
    round_seed,
)
from mercato.protocols.training.scenario import lazy_worker
from mercato.storage.envelope import seal

from .offchain import CHECK, CO_STAKE, DATA_PRICE, JOB_PRICE, P2World

DAY = 86400


def assert_paid_by_the_rules(p2: P2World, training_id: int) -> None:
    """The public audit names nobody and finds every payment the rules' (check 10)."""
    report = p2.audit(training_id)
    assert report.cheaters == {}, report.to_dict()
    paid = report.checks[CHECK["paid-by-the-rules"] - 1]
    assert paid.verdict is Verdict.PASS, paid.detail


def ready(p2: P2World) -> None:
    """Listed, joined and verified by the honest agents."""
    p2.list_dataset()
    p2.runner().run_until_idle()


def dummy_worker(job: JobInput) -> bytes:
    """A CO that posts a model of the right shape without training: all zeros."""
    return weights_to_bytes(np.zeros_like(weights_from_bytes(job.payload)))


@pytest.mark.parametrize("cheat", [lazy_worker, dummy_worker], ids=["untrained", "dummy"])
def test_a_lazy_co_is_outvoted_reported_and_loses_its_pay_and_stake(
    p2: P2World, cheat: object
) -> None:
    # prepare: CO 2 holds replica 2 of subset 0 only
    ready(p2)
    training_id = p2.request(per_round=2, rounds=1)

    # act
    p2.runner({2: cheat}).run_until_idle()  # type: ignore[dict-item]

    # assert
    assert p2.tm.training(training_id).status is TrainingStatus.COMPLETED
    [report] = p2.events("FraudReported")
    assert report["co"] == p2.cos[2].address
    evidence = Evidence.from_bytes(p2.market.store.get(hash_hex(report["evidence_hash"])))
    assert evidence.reason == REASON_OUTVOTED
    assert len(evidence.majority) == 2  # the two honest replicas agreed
    honest = report["honest"]
    assert sorted(honest) == sorted(evidence.majority)
    assert p2.stake(p2.cos[2]) == CO_STAKE - DEFAULT_FRAUD_STAKE
    withdrawn = {e["account"]: e["amount"] for e in p2.events("Withdrawn")}
    assert withdrawn.get(p2.cos[2].address, 0) == 0
    # its pay and slashed stake went to the honest replicas of subset 0, half each
    honest_cos = {p2.tm.instance(i).co for i in honest}
    share = (JOB_PRICE + DEFAULT_FRAUD_STAKE) // 2
    for co in p2.cos:
        if co.address in honest_cos:
            jobs = sum(1 for j in history.jobs(p2.market, training_id) if j["co"] == co.address)
            assert withdrawn[co.address] == jobs * JOB_PRICE + share
    # the aggregate used only the agreed model of subset 0
    review = model_owner.review_round(p2.market, p2.mo, training_id, 1)
    assert sorted(review.consensus) == [0, 1]
    # the audit with the MO's key re-runs the consensus: it names CO 2, the report stands
    report = p2.audit(training_id, p2.mo)
    assert report.cheaters == p2.blame(p2.cos[2], "co-holds-data"), report.to_dict()
    assert report.checks[CHECK["fraud-reports-justified"] - 1].verdict is Verdict.PASS


def test_a_co_copying_another_replicas_hash_and_nonce_is_refused_or_reported(
    p2: P2World,
) -> None:
    # prepare: the honest agents run the round except CO 1, which copies CO 0
    ready(p2)
    training_id = p2.request(per_round=2, rounds=1)
    p2.runner(silent=("co1",)).run_until_idle()
    [honest_job] = [
        j for j in history.jobs(p2.market, training_id, 1) if j["co"] == p2.cos[0].address
    ][:1]
    subset = p2.tm.instance(int(honest_job["instance_id"])).subset
    [copier_instance] = [
        i
        for i in history.instances_of(p2.market, p2.listing.dataset_id)[subset]  # type: ignore[union-attr]
        if p2.tm.instance(i).co == p2.cos[1].address
    ]

    # act 1: the same hash and nonce
    with pytest.raises(ContractRevert) as refused:
        p2.tm.submit_job(
            p2.cos[1].account, training_id, copier_instance,
            model_hash=bytes(honest_job["model_hash"]), nonce=bytes(honest_job["nonce"]),
            location_hash=bytes(honest_job["location_hash"]),
        )  # fmt: skip

    # act 2: the same hash with a fresh nonce (and the honest replica's sealed model)
    p2.tm.submit_job(
        p2.cos[1].account, training_id, copier_instance,
        model_hash=bytes(honest_job["model_hash"]), nonce=new_nonce(),
        location_hash=bytes(honest_job["location_hash"]),
    )  # fmt: skip
    p2.chain.time_travel(p2.tm.period("round"))  # CO 1 trains nothing else: the round closes
    p2.runner(silent=("co1",)).run_until_idle()  # the MO's review

    # assert
    assert refused.value.reason == "training: nonce already used"
    reports = p2.events("FraudReported")
    assert [r["instance_id"] for r in reports] == [copier_instance]
    evidence = Evidence.from_bytes(p2.market.store.get(hash_hex(reports[0]["evidence_hash"])))
    assert evidence.reason == REASON_COPIED_HASH
    assert f"instance {honest_job['instance_id']}" in evidence.detail
    assert p2.tm.training(training_id).status is TrainingStatus.COMPLETED
    report = p2.audit(training_id)  # the public sees the repeated hash on chain
    assert report.cheaters == p2.blame(p2.cos[1], "no-copied-model-hash"), report.to_dict()
    # the MO's key also finds that no model it can download opens the copied hash
    report = p2.audit(training_id, p2.mo)
    expected = p2.blame(p2.cos[1], "model-as-declared", "no-copied-model-hash")
    assert report.cheaters == expected, report.to_dict()


def test_a_co_declaring_a_hash_of_data_it_did_not_receive_is_flagged(p2: P2World) -> None:
    # prepare: CO 3 joins its instance with the hash of some other data
    listing = p2.list_dataset()
    [instance_id] = [
        i for row in history.instances_of(p2.market, listing.dataset_id) for i in row
        if p2.tm.instance(i).co == p2.cos[3].address
    ]  # fmt: skip
    nonce = new_nonce()
    p2.tm.join_instance(p2.cos[3].account, instance_id, commit(b"other data", nonce), nonce)

    # act: the DO's agent checks every join
    p2.runner(silent=("co3",)).run_until_idle()

    # assert
    assert p2.tm.instance(instance_id).status is InstanceStatus.FLAGGED
    verified = [e for e in p2.events("InstanceVerified") if e["instance_id"] == instance_id]
    assert [e["ok"] for e in verified] == [False]
    assert not p2.tm.dataset(listing.dataset_id).ready  # no training can start on it
    # an MO asking for it anyway: the DO's key recomputes the join and names CO 3
    report = p2.audit(p2.request(), p2.do)
    assert report.cheaters == p2.blame(p2.cos[3], "co-holds-data"), report.to_dict()


def test_a_do_sending_wrong_data_to_one_co_is_caught_by_that_co(p2: P2World) -> None:
    # prepare: the DO commits to its subsets, then hands CO 3 (subset 1, replica 0) the
    # bytes of subset 0, properly sealed to it
    tm = p2.tm
    listing = data_owner.prepare_listing(p2.do, p2.data, p2.plan)
    meta_hash = p2.market.store.put(listing.manifest.to_bytes())
    dataset_id, _ = tm.create_dataset(
        p2.do.account, meta_hash=hash_bytes(meta_hash), subsets=2, replicas=3,
        data_price=DATA_PRICE, job_price=JOB_PRICE,
    )  # fmt: skip
    holders = data_owner.assign_holders([co.address for co in p2.cos], 2, 3)
    for s, row in enumerate(holders):
        for r, co in enumerate(row):
            sent = 0 if (s, r) == (1, 0) else s
            envelope = seal(
                pack_replica(listing.salts[sent], listing.data(sent)),
                [p2.market.registry.encryption_key(co), p2.do.encryption_public],
                replica_context(tm.address, dataset_id, s),
            )
            tm.create_instance(
                p2.do.account, dataset_id, s, r, co, hash_bytes(p2.market.store.put(envelope))
            )
    victim = tm.instance_at(dataset_id, 1, 0)
    assert victim is not None and tm.instance(victim).co == p2.cos[3].address

    # act / assert: the CO checks what it got against the manifest and refuses to join
    with pytest.raises(ProtocolError, match="not subset 1 of dataset 1 as its manifest"):
        compute.receive_replica(p2.market, p2.cos[3], victim)
    p2.listing = replace(listing, dataset_id=dataset_id)
    p2.runner().run_until_idle()
    assert tm.instance(victim).status is InstanceStatus.FREE  # never joined
    others = [i for row in history.instances_of(p2.market, dataset_id) for i in row]
    assert all(tm.instance(i).status is InstanceStatus.VERIFIED for i in others if i != victim)
    assert not tm.dataset(dataset_id).ready  # so no MO can pay for the dataset as it is
    # an MO asking for it anyway: the victim's key opens its replica and names the DO
    report = p2.audit(p2.request(), p2.cos[3])
    assert report.cheaters == p2.blame(p2.do, "do-gave-right-data"), report.to_dict()


def test_the_mo_cannot_choose_the_rounds_subsets(p2: P2World) -> None:
    # prepare
    ready(p2)
    training_id = p2.request(per_round=1, rounds=2)
    p2.runner(silent=("mo",)).run_until_idle()  # approved
    assert p2.tm.training(training_id).status is TrainingStatus.APPROVED
    model_owner.start_round(p2.market, p2.mo, training_id, np.zeros(650))

    # act: it asks again, hoping for another draw; then draws, then draws again
    with pytest.raises(ContractRevert) as again:
        p2.tm.start_round(p2.mo.account, training_id, hash_bytes("0x" + "11" * 32))
    target = p2.tm.training(training_id).target_block
    p2.tm.draw_round(p2.mo.account, training_id)
    with pytest.raises(ContractRevert) as redraw:
        p2.tm.draw_round(p2.mo.account, training_id)

    # assert: the draw is the block hash's, which the MO could not know when it asked
    assert again.value.reason == "training: cannot start a round now"
    assert redraw.value.reason == "training: no round to draw"
    training = p2.tm.training(training_id)
    seed = round_seed(p2.chain.block_hash(target), training_id, 1)
    expected, _ = select_subsets(seed, 2, 1, 0)
    assert training.selected == expected
    started = history.round_started(p2.market, training_id, 1)
    assert started is not None and bytes(started["block_hash"]) == p2.chain.block_hash(target)
    report = p2.audit(training_id)  # the public recomputes the draw: nobody cheated
    assert report.cheaters == {}
    assert report.checks[CHECK["mo-cannot-choose-subsets"] - 1].verdict is Verdict.PASS


def test_an_mo_that_goes_silent_after_training_still_pays(p2: P2World) -> None:
    # prepare: the MO starts one round, then never reviews nor completes
    ready(p2)
    training_id = p2.request(per_round=2, rounds=2)
    p2.runner(silent=("mo",)).run_until_idle()
    model_owner.start_round(p2.market, p2.mo, training_id, np.zeros(650))
    p2.runner(silent=("mo",)).run_until_idle()  # draw, 6 jobs
    assert p2.tm.training(training_id).status is TrainingStatus.ROUND_DONE
    waiting = p2.audit(training_id).checks[CHECK["paid-by-the-rules"] - 1]
    assert waiting.verdict is Verdict.NOT_CHECKABLE
    assert "anyone may complete from" in waiting.detail

    # act: review window and idle period pass; the other agents complete
    p2.chain.time_travel(p2.tm.period("review") + p2.tm.period("idle"))
    p2.runner(silent=("mo",)).run_until_idle()

    # assert
    assert p2.tm.training(training_id).status is TrainingStatus.COMPLETED
    withdrawn = {e["account"]: e["amount"] for e in p2.events("Withdrawn")}
    assert withdrawn[p2.do.address] == DATA_PRICE
    for job in history.jobs(p2.market, training_id):
        assert withdrawn[job["co"]] >= JOB_PRICE
    assert p2.tm.owed(p2.mo.address) > 0  # its refund waits for it
    assert_paid_by_the_rules(p2, training_id)


def test_an_mo_that_never_starts_a_round_cannot_lock_the_dos_pay(p2: P2World) -> None:
    # prepare
    ready(p2)
    training_id = p2.request(per_round=1, rounds=2)
    p2.runner(silent=("mo",)).run_until_idle()
    waiting = p2.audit(training_id).checks[CHECK["paid-by-the-rules"] - 1]
    assert "approved: the MO may start the first round" in waiting.detail
    assert "anyone may complete from" in waiting.detail

    # act
    p2.chain.time_travel(p2.tm.period("idle"))
    p2.runner(silent=("mo",)).run_until_idle()

    # assert
    assert p2.tm.training(training_id).status is TrainingStatus.COMPLETED
    withdrawn = {e["account"]: e["amount"] for e in p2.events("Withdrawn")}
    assert withdrawn[p2.do.address] == DATA_PRICE
    assert_paid_by_the_rules(p2, training_id)


def test_a_silent_co_is_not_paid_and_the_training_goes_on(p2: P2World) -> None:
    # prepare: CO 3 (subset 1, replica 0) never answers
    ready(p2)
    training_id = p2.request(per_round=2, rounds=1)
    p2.runner(silent=("co3",)).run_until_idle()
    training = p2.tm.training(training_id)
    assert training.status is TrainingStatus.TRAINING and training.remaining == 1

    # act
    p2.chain.time_travel(p2.tm.period("round"))
    p2.runner(silent=("co3",)).run_until_idle()

    # assert
    assert p2.tm.training(training_id).status is TrainingStatus.COMPLETED
    [done] = p2.events("RoundDone")
    assert done["missing"] == 1
    withdrawn = {e["account"]: e["amount"] for e in p2.events("Withdrawn")}
    assert withdrawn.get(p2.cos[3].address, 0) == 0
    review = model_owner.review_round(p2.market, p2.mo, training_id, 1)
    assert sorted(review.consensus) == [0, 1]  # two agreeing replicas still decide
    assert p2.events("FraudReported") == []
    # silence is no fraud: the MO's audit names nobody and pays CO 3's instance nothing
    report = p2.audit(training_id, p2.mo)
    assert report.cheaters == {}, report.to_dict()
    paid = report.checks[CHECK["paid-by-the-rules"] - 1]
    assert paid.verdict is Verdict.PASS and "5 instance(s) their accepted jobs" in paid.detail


def test_a_silent_do_cannot_lock_the_mos_money(p2: P2World) -> None:
    # prepare: the DO lists and goes silent; nobody verifies, nobody approves
    p2.list_dataset()
    p2.runner(silent=("do",)).run_until_idle()
    training_id = p2.request(per_round=1, rounds=2)
    escrow = p2.tm.training(training_id).escrowed
    waiting = p2.audit(training_id).checks[CHECK["paid-by-the-rules"] - 1]
    assert "waiting for the DO's approval" in waiting.detail
    assert "the MO may cancel it" in waiting.detail
    before = p2.chain.balance(p2.mo.address)

    # act
    p2.chain.time_travel(p2.tm.period("approval"))
    p2.runner(silent=("do",)).run_until_idle()

    # assert
    assert p2.tm.training(training_id).status is TrainingStatus.CANCELLED
    withdrawn = {e["account"]: e["amount"] for e in p2.events("Withdrawn")}
    assert withdrawn[p2.mo.address] == escrow
    assert p2.chain.balance(p2.mo.address) > before + escrow - 10**16  # less gas
    assert_paid_by_the_rules(p2, training_id)
