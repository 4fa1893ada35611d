"""The training step of P1's secure-learning phase, run by the infrastructure winner.

Training is deterministic: the same dataset, algorithm spec and seed give byte-identical
model bytes, so a client (or a replica in P2) can re-run it and compare hashes. That holds
on one software stack; different NumPy, scikit-learn or BLAS builds may round differently.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mercato.errors import InputError
from mercato.ml.algorithms import AlgorithmSpec, build_estimator
from mercato.ml.datasets import DEFAULT_TEST_FRACTION, Dataset, holdout_split
from mercato.ml.evaluate import evaluate
from mercato.ml.model_io import dump_model, model_digest
from mercato.ml.seed import check_seed


@dataclass(frozen=True)
class TrainedModel:
    """A fitted model's bytes and hash, its held-out metrics and the hashes of its inputs."""

    model_bytes: bytes
    model_hash: bytes
    metrics: Mapping[str, float]
    dataset_hash: bytes
    algorithm_hash: bytes
    seed: int
    n_train: int
    n_test: int


def train(
    dataset: Dataset,
    algorithm: AlgorithmSpec,
    seed: int,
    test_fraction: float = DEFAULT_TEST_FRACTION,
) -> TrainedModel:
    """Fit ``algorithm`` on a seeded split of ``dataset`` and score it on the held-out part."""
    seed = check_seed(seed)
    split = holdout_split(dataset, seed, test_fraction)
    estimator = build_estimator(algorithm, seed)
    try:
        estimator.fit(split.X_train, split.y_train)
    except ValueError as exc:  # scikit-learn's way of saying data and algorithm do not fit
        raise InputError(
            f"cannot train {algorithm.family!r} on dataset {dataset.name!r}: {exc}"
        ) from None
    model_bytes = dump_model(estimator)
    return TrainedModel(
        model_bytes=model_bytes,
        model_hash=model_digest(model_bytes),
        metrics=evaluate(estimator, split.X_test, split.y_test),
        dataset_hash=dataset.digest(),
        algorithm_hash=algorithm.digest(),
        seed=seed,
        n_train=len(split.y_train),
        n_test=len(split.y_test),
    )
