"""Multinomial logistic (softmax) regression by gradient descent, in plain NumPy.

Weights layout (float64): the ``n_features x n_classes`` matrix ``W`` row by row, then the
``n_classes`` biases ``b``; the model predicts ``argmax(X @ W + b)``. Training minimises the
mean cross-entropy plus ``l2 / 2 * |W|^2`` by mini-batch gradient descent; the batch order of
every epoch comes from ``numpy.random.default_rng(seed)``, and a full batch (``batch_size``
None) needs no order at all. With a full batch and one local epoch, federated averaging
weighted by example counts is exactly one centralised gradient step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from mercato.ml.seed import check_seed
from mercato.ml.trainers.base import (
    FlatTrainer,
    batches,
    check_batch_size,
    check_positive,
    check_training,
    check_weights,
)
from mercato.ml.trainers.weights import Weights

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset

KIND = "numpy-logreg"
DEFAULT_LEARNING_RATE = 0.01
DEFAULT_BATCH_SIZE: int | None = None
DEFAULT_L2 = 0.0


@dataclass(frozen=True)
class NumpyLogReg(FlatTrainer):
    """Softmax regression; see the module docstring for the weight layout."""

    kind = KIND
    learning_rate: float = DEFAULT_LEARNING_RATE
    batch_size: int | None = DEFAULT_BATCH_SIZE
    l2: float = DEFAULT_L2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive("learning_rate", self.learning_rate)
        check_batch_size(self.batch_size)
        if self.l2 != 0:
            check_positive("l2", self.l2)

    @property
    def n_params(self) -> int:
        """``(n_features + 1) * n_classes``."""
        return (self.n_features + 1) * self.n_classes

    def init_weights(self, seed: int) -> Weights:
        """All zeros: the convex problem needs no random start (``seed`` is only checked)."""
        check_seed(seed)
        return np.zeros(self.n_params, dtype=np.float64)

    def train(self, weights: Weights | None, data: Dataset, epochs: int, seed: int) -> Weights:
        """Weights after ``epochs`` passes of gradient descent over ``data``."""
        check_training(data, self.n_features, self.n_classes, epochs, seed)
        start = self.init_weights(seed) if weights is None else weights
        flat = check_weights(start, self.n_params, np.float64)
        W, b = self._unpack(flat)
        X = data.X.astype(np.float64)
        Y = np.eye(self.n_classes)[data.y]
        rng = np.random.default_rng(seed)
        for rows in batches(len(data.y), self.batch_size, epochs, rng):
            W, b = descend(W, b, X[rows], Y[rows], self.learning_rate, self.l2)
        return np.concatenate([W.ravel(), b])

    def predict(self, weights: Weights, X: NDArray[np.float32]) -> NDArray[np.int64]:
        """``argmax(X @ W + b)`` per row."""
        W, b = self._unpack(check_weights(weights, self.n_params, np.float64))
        return np.asarray(np.argmax(X.astype(np.float64) @ W + b, axis=1), dtype=np.int64)

    def _unpack(self, flat: Weights) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        cut = self.n_features * self.n_classes
        values = np.asarray(flat, dtype=np.float64)
        return values[:cut].reshape(self.n_features, self.n_classes), values[cut:]


def softmax(logits: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise softmax, shifted by the row maximum so ``exp`` cannot overflow."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: NDArray[np.float64] = shifted / shifted.sum(axis=1, keepdims=True)
    return result


def descend(
    W: NDArray[np.float64],
    b: NDArray[np.float64],
    X: NDArray[np.float64],
    Y: NDArray[np.float64],
    learning_rate: float,
    l2: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One gradient step of mean cross-entropy (one-hot ``Y``) plus ``l2 / 2 * |W|^2``."""
    residual = (softmax(X @ W + b) - Y) / len(X)
    return W - learning_rate * (X.T @ residual + l2 * W), b - learning_rate * residual.sum(axis=0)
