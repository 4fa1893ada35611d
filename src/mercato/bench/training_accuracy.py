"""Accuracy of P2's training modes beside the issue's goals.

Federated: FedAvg over scikit-learn's digits cut by :func:`skewed_split` into
:data:`SUBSETS` subsets, each replicated :data:`REPLICAS` times, :data:`PER_ROUND` subsets
drawn per round (as the protocol draws a part of them), :data:`ROUNDS` rounds of
:data:`LOCAL_EPOCHS` local epochs with :class:`NumpyLogReg`; centralised: the same trainer
for the same total epochs on the whole training part; both scored on one held-out test
part. The replicas of a subset are byte-identical (checked here), and honest replicas train
byte-identical models from them, so averaging all three copies of an update gives the
average of one: the replicas guard against cheating and do not change the model.

CKKS: binary logistic regression on standardised breast-cancer records (the polynomial
sigmoid of :mod:`mercato.crypto.ckks` holds within ``|x . w + b| <= 8``), trained by
:func:`fit_logreg` with a :class:`CkksContext` (every epoch encrypted by the model owner,
stepped by a compute provider under the public context, decrypted) and without one, for
the same epochs. The overhead is the ratio of their wall times; key generation is timed
apart (once per model owner, not per training).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mercato.crypto.ckks import CkksContext, fit_logreg, logreg_predict
from mercato.errors import IntegrityError
from mercato.ml.aggregate.fedavg import FedAvg
from mercato.ml.aggregate.simulate import federated_training
from mercato.ml.datasets import DEFAULT_TEST_FRACTION, Dataset, holdout_split, load_dataset
from mercato.ml.split import replicate, skewed_split
from mercato.ml.trainers.numpy_logreg import NumpyLogReg

SEED = 0
FEDERATED_DATASET = "digits"
SUBSETS = 4
REPLICAS = 3
PER_ROUND = 2
ROUNDS = 80
LOCAL_EPOCHS = 1
LEARNING_RATE = 0.01
FEDERATED_GAP_GOAL = 0.02
"""The issue: federated within 2 points of centralised training."""

CKKS_DATASET = "breast_cancer"
CKKS_EXAMPLES = 200
"""Training examples: one CKKS epoch over 200 examples takes about 3 s on 2 cores."""
CKKS_EPOCHS = 3
CKKS_LEARNING_RATE = 0.1
PLAINTEXT_REPEATS = 20
"""Plaintext fits are about a millisecond: their time is the mean of this many."""
CKKS_GAP_GOAL = 0.03
"""The issue: CKKS within 3 points of plaintext logistic regression."""


@dataclass(frozen=True)
class FederatedAccuracy:
    """Test accuracy of federated and centralised training of the same model."""

    federated: float
    centralised: float
    train_examples: int
    test_examples: int
    subsets: int = SUBSETS
    replicas: int = REPLICAS
    per_round: int = PER_ROUND
    rounds: int = ROUNDS
    local_epochs: int = LOCAL_EPOCHS

    @property
    def gap(self) -> float:
        """Centralised minus federated accuracy (positive: federated is worse)."""
        return self.centralised - self.federated

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": FEDERATED_DATASET,
            "federated_accuracy": round(self.federated, 4),
            "centralised_accuracy": round(self.centralised, 4),
            "gap_points": round(100 * self.gap, 2),
            "goal_points": 100 * FEDERATED_GAP_GOAL,
            "train_examples": self.train_examples,
            "test_examples": self.test_examples,
            "subsets": self.subsets,
            "replicas": self.replicas,
            "subsets_per_round": self.per_round,
            "rounds": self.rounds,
            "local_epochs": self.local_epochs,
            "trainer": f"numpy-logreg, full batch, learning rate {LEARNING_RATE}",
        }


@dataclass(frozen=True)
class CkksAccuracy:
    """Test accuracy and wall time of logistic regression with and without CKKS."""

    ckks: float
    plaintext: float
    ckks_seconds: float
    plaintext_seconds: float
    key_seconds: float
    train_examples: int
    test_examples: int
    features: int
    epochs: int

    @property
    def gap(self) -> float:
        """Plaintext minus CKKS accuracy."""
        return self.plaintext - self.ckks

    @property
    def overhead(self) -> float:
        """CKKS wall time over plaintext wall time, for the same training."""
        return self.ckks_seconds / self.plaintext_seconds if self.plaintext_seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": CKKS_DATASET,
            "ckks_accuracy": round(self.ckks, 4),
            "plaintext_lr_accuracy": round(self.plaintext, 4),
            "gap_points": round(100 * self.gap, 2),
            "goal_points": 100 * CKKS_GAP_GOAL,
            "ckks_seconds": round(self.ckks_seconds, 3),
            "plaintext_seconds": round(self.plaintext_seconds, 6),
            "ckks_overhead": round(self.overhead),
            "key_generation_seconds": round(self.key_seconds, 3),
            "train_examples": self.train_examples,
            "test_examples": self.test_examples,
            "features": self.features,
            "epochs": self.epochs,
        }


def train_test(
    name: str, seed: int, test_fraction: float = DEFAULT_TEST_FRACTION
) -> tuple[Dataset, Dataset]:
    """A sample dataset cut into a training and a held-out test dataset (stratified)."""
    full = load_dataset(name)
    split = holdout_split(full, seed, test_fraction)
    return (
        Dataset(f"{full.name}-train", full.ontology_class, split.X_train, split.y_train),
        Dataset(f"{full.name}-test", full.ontology_class, split.X_test, split.y_test),
    )


def federated_accuracy(
    seed: int = SEED, rounds: int = ROUNDS, local_epochs: int = LOCAL_EPOCHS
) -> FederatedAccuracy:
    """FedAvg over the replicated skewed split of digits against centralised training."""
    train, test = train_test(FEDERATED_DATASET, seed)
    held: list[Dataset] = []
    for subset in skewed_split(train, SUBSETS, seed):
        copies = replicate(subset, REPLICAS)  # what the data owner sends each replica's CO
        if len(set(copies)) != 1:
            raise IntegrityError(f"the replicas of {subset.name} differ: consensus would fail")
        held.append(Dataset.from_bytes(copies[0]))
    model = NumpyLogReg(train.X.shape[1], len(train.classes), learning_rate=LEARNING_RATE)
    federated = federated_training(
        model, FedAvg(), held, rounds, local_epochs, seed, per_round=PER_ROUND
    )
    centralised = model.train(None, train, rounds * local_epochs, seed)
    return FederatedAccuracy(
        federated=model.accuracy(federated, test),
        centralised=model.accuracy(centralised, test),
        train_examples=len(train.y),
        test_examples=len(test.y),
        rounds=rounds,
        local_epochs=local_epochs,
    )


def ckks_accuracy(
    examples: int = CKKS_EXAMPLES, epochs: int = CKKS_EPOCHS, seed: int = SEED
) -> CkksAccuracy:
    """Logistic regression trained under CKKS and in plaintext, on standardised features."""
    from sklearn.preprocessing import StandardScaler

    full = load_dataset(CKKS_DATASET)
    train, test = train_test(CKKS_DATASET, seed, test_fraction=1 - examples / len(full.y))
    scaler = StandardScaler().fit(train.X)
    X_train, X_test = scaler.transform(train.X), scaler.transform(test.X)

    began = time.perf_counter()
    context = CkksContext.create()
    key_seconds = time.perf_counter() - began
    began = time.perf_counter()
    encrypted = fit_logreg(X_train, train.y, epochs, CKKS_LEARNING_RATE, context=context)
    ckks_seconds = time.perf_counter() - began
    began = time.perf_counter()
    for _ in range(PLAINTEXT_REPEATS):
        plain = fit_logreg(X_train, train.y, epochs, CKKS_LEARNING_RATE)
    plaintext_seconds = (time.perf_counter() - began) / PLAINTEXT_REPEATS

    return CkksAccuracy(
        ckks=float(np.mean(logreg_predict(encrypted, X_test) == test.y)),
        plaintext=float(np.mean(logreg_predict(plain, X_test) == test.y)),
        ckks_seconds=ckks_seconds,
        plaintext_seconds=plaintext_seconds,
        key_seconds=key_seconds,
        train_examples=len(train.y),
        test_examples=len(test.y),
        features=X_train.shape[1],
        epochs=epochs,
    )
