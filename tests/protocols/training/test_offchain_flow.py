"""P2 off chain, honest parties: listing, sealed replicas, joins, rounds, consensus, payment."""

from __future__ import annotations

import numpy as np
import pytest

from mercato.crypto.commit import keccak
from mercato.errors import InputError, IntegrityError
from mercato.ml.split import check_split
from mercato.protocols.training import compute, data_owner, history, model_owner
from mercato.protocols.training.documents import (
    Manifest,
    Method,
    RoundModel,
    hash_hex,
    replica_context,
    round_context,
)
from mercato.protocols.training.market import InstanceStatus, TrainingStatus
from mercato.storage.envelope import open_envelope

from .offchain import DATA_PRICE, JOB_PRICE, P2World, digits_method


def listed_and_joined(p2: P2World) -> None:
    p2.list_dataset()
    p2.runner().run_until_idle()


def test_listing_is_deterministic_and_commits_to_each_subset(p2: P2World) -> None:
    # act
    first = data_owner.prepare_listing(p2.do, p2.data, p2.plan)
    second = data_owner.prepare_listing(p2.do, p2.data, p2.plan)

    # assert
    assert first.manifest == second.manifest  # a restarted DO rebuilds the same listing
    assert check_split(p2.data, first.subsets) == []  # skewed by the paper's rules
    for s, salt in enumerate(first.salts):
        assert first.manifest.commitment(s) == keccak(first.data(s) + salt)
    assert first.manifest.sizes == tuple(len(part.y) for part in first.subsets)


def test_listing_hands_every_replica_to_a_distinct_co_sealed(p2: P2World) -> None:
    # act
    listing = p2.list_dataset()

    # assert
    dataset = p2.tm.dataset(listing.dataset_id)
    manifest = Manifest.from_bytes(p2.market.store.get(hash_hex(dataset.meta_hash)))
    assert manifest == listing.manifest
    for s, row in enumerate(history.instances_of(p2.market, listing.dataset_id)):
        holders = [p2.tm.instance(i).co for i in row]
        assert len(set(holders)) == 3  # no CO holds two replicas of one subset
        for instance_id in row:
            created = history.instance_created(p2.market, instance_id)
            envelope = p2.market.store.get(hash_hex(created["envelope_hash"]))
            aad = replica_context(p2.tm.address, listing.dataset_id, s)
            holder = next(co for co in p2.cos if co.address == created["co"])
            assert open_envelope(envelope, holder.encryption_private, aad)  # the CO opens it
            assert open_envelope(envelope, p2.do.encryption_private, aad)  # and the DO
            for other in [p2.mo, *(co for co in p2.cos if co is not holder)]:
                with pytest.raises(IntegrityError):  # nobody else: not the MO, not other COs
                    open_envelope(envelope, other.encryption_private, aad)


def test_list_dataset_checks_everything_before_the_first_transaction(p2: P2World) -> None:
    # prepare
    stranger = p2.mo.address  # registered, but not as a compute provider
    before = p2.tm.dataset_count()

    # act / assert
    with pytest.raises(InputError, match="is not a registered compute provider"):
        data_owner.list_dataset(
            p2.market, p2.do, p2.data, p2.plan, [p2.cos[0].address, p2.cos[1].address, stranger],
            data_price=DATA_PRICE, job_price=JOB_PRICE,
        )  # fmt: skip
    with pytest.raises(InputError, match="at least 3 distinct compute providers"):
        data_owner.list_dataset(
            p2.market, p2.do, p2.data, p2.plan, [p2.cos[0].address, p2.cos[1].address],
            data_price=DATA_PRICE, job_price=JOB_PRICE,
        )  # fmt: skip
    with pytest.raises(InputError, match="is not a registered data owner"):
        data_owner.list_dataset(
            p2.market, p2.mo, p2.data, p2.plan, [co.address for co in p2.cos],
            data_price=DATA_PRICE, job_price=JOB_PRICE,
        )  # fmt: skip
    assert p2.tm.dataset_count() == before


def test_cos_join_and_the_do_verifies_every_instance(p2: P2World) -> None:
    # act
    listed_and_joined(p2)

    # assert
    assert p2.listing is not None
    assert p2.tm.dataset(p2.listing.dataset_id).ready
    for row in history.instances_of(p2.market, p2.listing.dataset_id):
        for instance_id in row:
            assert p2.tm.instance(instance_id).status is InstanceStatus.VERIFIED
            holder = next(co for co in p2.cos if co.address == p2.tm.instance(instance_id).co)
            data = compute.receive_replica(p2.market, holder, instance_id)
            # the paper's check: the CO's data hashes to every other replica's declaration
            assert compute.cross_check(p2.market, instance_id, data) == {
                other: True for other in row if other != instance_id
            }


def test_honest_training_runs_every_round_and_pays_everyone(p2: P2World) -> None:
    # prepare
    listed_and_joined(p2)
    training_id = p2.request(per_round=1, rounds=2)
    escrow = p2.tm.training(training_id).escrowed

    # act
    p2.runner().run_until_idle()

    # assert
    training = p2.tm.training(training_id)
    assert training.status is TrainingStatus.COMPLETED
    jobs = history.jobs(p2.market, training_id)
    assert len(jobs) == 6  # 2 rounds x 1 subset x 3 replicas
    drawn = [p2.tm.instance(int(j["instance_id"])).subset for j in jobs]
    assert sorted(set(drawn)) == [0, 1]  # every subset used over the rounds
    assert p2.events("FraudReported") == []
    completed = p2.events("TrainingCompleted")[0]
    assert completed["paid_owner"] == DATA_PRICE
    assert completed["paid_compute"] == 6 * JOB_PRICE
    assert completed["refund"] == escrow - DATA_PRICE - 6 * JOB_PRICE
    withdrawn = {e["account"]: e["amount"] for e in p2.events("Withdrawn")}
    assert withdrawn[p2.do.address] == DATA_PRICE
    for co in p2.cos:
        earned = JOB_PRICE * sum(1 for j in jobs if j["co"] == co.address)
        assert withdrawn.get(co.address, 0) == earned
    assert p2.tm.owed(p2.mo.address) == 0  # the agent withdrew its refund


def test_honest_replicas_produce_identical_models_and_the_model_improves(p2: P2World) -> None:
    # prepare
    listed_and_joined(p2)
    training_id = p2.request(digits_method(epochs=3), per_round=2, rounds=2)

    # act
    p2.runner().run_until_idle()

    # assert
    state = p2.stores["mo"]
    first, second = (state.get("mo", f"round:{training_id}:{r}") for r in (1, 2))
    assert first["subsets"] == second["subsets"] == [0, 1]  # consensus on both subsets
    assert first["frauds"] == second["frauds"] == []
    assert second["accuracy"] > first["accuracy"] > 0.5
    review = model_owner.review_round(p2.market, p2.mo, training_id, 2)
    for subset in (0, 1):
        models = [c.weights for c in review.checks if c.subset == subset]
        assert len(models) == 3
        assert all(np.array_equal(models[0], m) for m in models[1:])  # byte-identical


def test_the_round_model_is_sealed_to_the_dataset_cos_and_the_mo(p2: P2World) -> None:
    # prepare
    listed_and_joined(p2)
    training_id = p2.request()
    p2.runner(silent=("co0", "co1", "co2", "co3")).run_until_idle()  # approve, start, draw

    # act
    requested = history.round_requested(p2.market, training_id, 1)
    blob = p2.market.store.get(hash_hex(requested["model_hash"]))

    # assert
    aad = round_context(p2.tm.address, training_id, 1)
    for reader in [p2.mo, *p2.cos]:
        model = RoundModel.from_bytes(open_envelope(blob, reader.encryption_private, aad))
        assert (model.training_id, model.round) == (training_id, 1)
    with pytest.raises(IntegrityError):
        open_envelope(blob, p2.do.encryption_private, aad)  # the DO never sees the model


def test_documents_round_trip_and_refuse_bad_input() -> None:
    method = digits_method()
    assert Method.from_bytes(method.to_bytes()) == method
    with pytest.raises(InputError, match="mode must be one of"):
        Method("cleartext", dict(method.trainer), 1, 0)
    with pytest.raises(InputError, match="unknown kind"):
        Method("plaintext", {"kind": "svm"}, 1, 0)
    with pytest.raises(InputError, match="CKKS mode runs one encrypted step"):
        Method("ckks", {"kind": "ckks-logreg", "n_features": 4, "learning_rate": 0.1}, 2, 0,
               "0x" + "00" * 32)  # fmt: skip
    with pytest.raises(InputError, match="unknown field"):
        Method.from_bytes(method.to_bytes().replace(b'"mode"', b'"moda"'))
    with pytest.raises(InputError, match="not a round model"):
        RoundModel.from_bytes(b"junk")
