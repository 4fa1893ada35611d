"""P2 in CKKS mode: the COs train a logistic regression whose weights they never see.

Breast-cancer records (standardised by the DO before listing), 2 subsets x 3 replicas; the
MO publishes its public CKKS context, sends encrypted weights each round, decrypts the COs'
results and runs replica consensus within CKKS_TOLERANCE (ciphertexts differ byte for byte).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mercato.chain.embedded import EmbeddedChain
from mercato.crypto.ckks import (
    CKKS_TOLERANCE,
    CkksContext,
    EncryptedWeights,
    decrypt_weights,
    fit_logreg,
    logreg_predict,
)
from mercato.errors import InputError
from mercato.ml.datasets import Dataset, seller_and_buyer_parts
from mercato.ml.trainers import weights_from_bytes
from mercato.protocols.training import compute, history, model_owner
from mercato.protocols.training.data_owner import SplitPlan
from mercato.protocols.training.documents import (
    CKKS_KIND,
    MODE_CKKS,
    REASON_OUTVOTED,
    Method,
    RoundModel,
    hash_hex,
)
from mercato.protocols.training.market import TrainingStatus

from .offchain import P2World, build_world

LEARNING_RATE = 0.5
ROUNDS = 2
EXAMPLES = 200  # a CKKS step costs about a rotation per example: keep the subsets small
ACCURACY_GAP = 0.03  # the goal: within 3 points of plaintext logistic regression
pytestmark = pytest.mark.slow


def standardised_cancer() -> tuple[Dataset, Dataset]:
    sold, evaluation = seller_and_buyer_parts("breast_cancer")
    data = Dataset(sold.name, sold.ontology_class, sold.X[:EXAMPLES], sold.y[:EXAMPLES])
    mean, std = data.X.mean(axis=0), data.X.std(axis=0)

    def scaled(part: Dataset) -> Dataset:
        return Dataset(part.name, part.ontology_class, (part.X - mean) / std, part.y)

    return scaled(data), scaled(evaluation)


@pytest.fixture(scope="module")
def context() -> CkksContext:
    return CkksContext.create()


@pytest.fixture
def p2(tmp_path: Path) -> Iterator[P2World]:
    chain = EmbeddedChain()
    world = build_world(chain, tmp_path, standardised_cancer())
    world.plan = SplitPlan(2, 3, seed=1, max_class_fraction=0.8, min_missing_classes=0)
    try:
        yield world
    finally:
        world.close()
        chain.close()


def ckks_method(p2: P2World, context: CkksContext) -> Method:
    return Method(
        MODE_CKKS,
        {"kind": CKKS_KIND, "n_features": 30, "learning_rate": LEARNING_RATE},
        1,
        5,
        model_owner.publish_context(p2.market, context),
    )


def shifted_worker(job: compute.JobInput) -> bytes:
    """A CO that trains honestly, then nudges every weight: plausible, but not the model."""
    trained = compute.honest_worker(job)
    assert job.context is not None
    encrypted = EncryptedWeights.from_bytes(job.context, trained)
    return EncryptedWeights(encrypted.raw + [0.01] * encrypted.size, encrypted.size).to_bytes()


def test_cos_train_encrypted_weights_and_the_mo_matches_plaintext_accuracy(
    p2: P2World, context: CkksContext
) -> None:
    # prepare
    p2.list_dataset()
    p2.runner().run_until_idle()
    method = ckks_method(p2, context)
    training_id = p2.request(method, per_round=1, rounds=ROUNDS)  # each subset once

    # act: CO 2 (subset 0, replica 2) shifts its result
    p2.runner({2: shifted_worker}, context=context).run_until_idle()

    # assert: the COs never held the model in the clear
    assert p2.tm.training(training_id).status is TrainingStatus.COMPLETED
    requested = history.round_requested(p2.market, training_id, 1)
    round_model = RoundModel.from_bytes(p2.market.store.get(hash_hex(requested["model_hash"])))
    public = compute.public_context(p2.market, method)
    assert public is not None and not public.has_secret_key
    with pytest.raises(InputError, match="only the model owner decrypts"):
        decrypt_weights(public, EncryptedWeights.from_bytes(public, round_model.payload))
    # consensus within tolerance: honest replicas agree though their bytes differ
    reviews = [model_owner.review_round(p2.market, p2.mo, training_id, r, context) for r in (1, 2)]
    assert sorted(s for review in reviews for s in review.consensus) == [0, 1]
    honest = [
        c for review in reviews for c in review.checks if c.weights is not None and c.subset == 1
    ]
    assert len(honest) == 3
    assert all(np.max(np.abs(honest[0].weights - c.weights)) <= CKKS_TOLERANCE for c in honest)
    # the shifted CO was outvoted in the round that drew its subset
    reports = p2.events("FraudReported")
    assert [r["co"] for r in reports] == [p2.cos[2].address]
    found = [p2.stores["mo"].get("mo", f"round:{training_id}:{r}") for r in (1, 2)]
    assert [f["reason"] for r in found for f in r["frauds"]] == [REASON_OUTVOTED]
    # accuracy: the federated CKKS model against plaintext logistic regression on all the data
    weights = weights_from_bytes(bytes.fromhex(p2.stores["mo"].get("mo", f"weights:{training_id}")))
    X, y = p2.evaluation.X, p2.evaluation.y
    ckks_accuracy = float(np.mean(logreg_predict(weights, X) == y))
    plain = fit_logreg(p2.data.X, p2.data.y, ROUNDS, LEARNING_RATE)
    plain_accuracy = float(np.mean(logreg_predict(plain, X) == y))
    assert plain_accuracy > 0.85
    assert ckks_accuracy >= plain_accuracy - ACCURACY_GAP
    last = p2.stores["mo"].get("mo", f"round:{training_id}:{ROUNDS}")
    assert last["accuracy"] == pytest.approx(ckks_accuracy)
