"""Federated training over a replicated skewed split, as P2 runs it, against centralised."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mercato.crypto import commit, keccak, new_nonce
from mercato.ml import Dataset, holdout_split, load_dataset
from mercato.ml.aggregate.base import Update
from mercato.ml.aggregate.fedavg import FedAvg
from mercato.ml.aggregate.simulate import federated_training, round_seed, schedule
from mercato.ml.split import replicate, skewed_split, subset_bytes
from mercato.ml.trainers import NumpyLogReg, Weights, weights_from_bytes, weights_to_bytes

SUBSETS = 4
REPLICAS = 3
PER_ROUND = 2  # the protocol trains a random part of the subsets each round
ROUNDS = 80
LOCAL_EPOCHS = 1
LEARNING_RATE = 0.01
ACCURACY_GAP = 0.02  # the goal: within 2 points of centralised training


def digits_train_test(seed: int) -> tuple[Dataset, Dataset]:
    """Digits cut into training and test datasets."""
    digits = load_dataset("digits")
    split = holdout_split(digits, seed)
    return (
        Dataset("digits-train", digits.ontology_class, split.X_train, split.y_train),
        Dataset("digits-test", digits.ontology_class, split.X_test, split.y_test),
    )


def replicated_round(
    model: NumpyLogReg, weights: Weights, replicas: list[Dataset], seed: int
) -> bytes:
    """Train every replica of one subset and run consensus; the agreed model's bytes."""
    trained: list[bytes] = [
        weights_to_bytes(model.train(weights, replica, LOCAL_EPOCHS, seed)) for replica in replicas
    ]
    posted = {commit(model_bytes, new_nonce()) for model_bytes in trained}
    assert len(set(trained)) == 1  # honest replicas produce byte-identical models
    assert len(posted) == len(replicas)  # yet each posted hash differs by its nonce
    return trained[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_federated_over_replicas_is_within_two_points_of_centralised(seed: int) -> None:
    train, test = digits_train_test(seed)
    model = NumpyLogReg(64, 10, learning_rate=LEARNING_RATE)
    subsets = skewed_split(train, SUBSETS, seed)
    # each compute provider holds its replica as the bytes the data owner sent
    held = [[Dataset.from_bytes(b) for b in replicate(s, REPLICAS)] for s in subsets]

    weights = model.init_weights(seed)
    for index, chosen in enumerate(schedule(SUBSETS, PER_ROUND, ROUNDS, seed)):
        agreed = [
            replicated_round(model, weights, held[s], round_seed(seed, index)) for s in chosen
        ]
        weights = FedAvg().aggregate(
            [
                Update(weights_from_bytes(model_bytes), len(subsets[s].y))
                for s, model_bytes in zip(chosen, agreed, strict=True)
            ]
        )
    centralised = model.train(None, train, ROUNDS * LOCAL_EPOCHS, seed)

    federated_accuracy = model.accuracy(weights, test)
    centralised_accuracy = model.accuracy(centralised, test)

    assert abs(federated_accuracy - centralised_accuracy) <= ACCURACY_GAP
    assert federated_accuracy > 0.9
    simulated = federated_training(
        model, FedAvg(), subsets, ROUNDS, LOCAL_EPOCHS, seed, per_round=PER_ROUND
    )
    assert weights_to_bytes(simulated) == weights_to_bytes(weights)


CROSS_PROCESS = """
from mercato.crypto import keccak
from mercato.ml import Dataset, load_dataset
from mercato.ml.split import skewed_split, subset_bytes
from mercato.ml.trainers import NumpyLogReg, weights_to_bytes
parts = skewed_split(load_dataset("digits"), 4, seed=3)
model = NumpyLogReg(64, 10, learning_rate=0.001, batch_size=16)
weights = model.train(None, Dataset.from_bytes(subset_bytes(parts[0])), 3, seed=8)
print(",".join(keccak(subset_bytes(p)).hex() for p in parts))
print(keccak(weights_to_bytes(weights)).hex())
"""


def test_subsets_and_numpy_weights_are_byte_identical_in_another_process() -> None:
    parts = skewed_split(load_dataset("digits"), 4, seed=3)
    model = NumpyLogReg(64, 10, learning_rate=0.001, batch_size=16)
    weights = model.train(None, Dataset.from_bytes(subset_bytes(parts[0])), 3, seed=8)

    output = subprocess.run(
        [sys.executable, "-c", CROSS_PROCESS], capture_output=True, text=True, check=True
    ).stdout.split()

    assert output[0] == ",".join(keccak(subset_bytes(p)).hex() for p in parts)
    assert output[1] == keccak(weights_to_bytes(weights)).hex()
