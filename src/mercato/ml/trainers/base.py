"""The Trainer interface: deterministic training of a model held as one flat float vector.

A trainer is a frozen description of a model family and its training method (its fields are
the hyper-parameters); the weights travel separately, as a flat vector whose layout each
implementation documents. ``train`` is a pure function of its inputs: the same weights, data,
epochs and seed give byte-identical weights on one software stack (same NumPy / torch build
and CPU kind). Replica consensus in P2 rests on that; different BLAS builds or CPU
instruction sets may round differently, so replicas of one subset should run the same stack.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.seed import check_seed
from mercato.ml.trainers.weights import Weights

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset

MAX_EPOCHS = 10_000


@runtime_checkable
class Trainer(Protocol):
    """A model family with a deterministic training method over flat float weights."""

    @property
    def kind(self) -> str:
        """Short name of the implementation, such as ``"numpy-logreg"``."""

    @property
    def n_params(self) -> int:
        """Length of the flat weight vector."""

    def spec(self) -> Mapping[str, Any]:
        """The kind and every hyper-parameter: what the training-method hash covers."""

    def init_weights(self, seed: int) -> Weights:
        """Starting weights; the same seed gives the same vector."""

    def train(self, weights: Weights | None, data: Dataset, epochs: int, seed: int) -> Weights:
        """Weights after ``epochs`` passes over ``data`` from ``weights`` (None: init_weights)."""

    def predict(self, weights: Weights, X: NDArray[np.float32]) -> NDArray[np.int64]:
        """Predicted class, one per row of ``X``."""

    def accuracy(self, weights: Weights, data: Dataset) -> float:
        """Fraction of ``data`` predicted right."""


@dataclass(frozen=True)
class FlatTrainer:
    """Base of the trainers here: the model's shape, ``spec`` and ``accuracy``.

    A subclass is a frozen dataclass whose further fields are its hyper-parameters; it sets
    ``kind``, checks its own fields after ``super().__post_init__()`` and implements the rest.
    """

    kind: ClassVar[str]
    n_features: int
    n_classes: int

    def __post_init__(self) -> None:
        check_shape(self.n_features, self.n_classes)

    def spec(self) -> Mapping[str, Any]:
        """The kind and every hyper-parameter."""
        return {"kind": self.kind, **asdict(self)}

    def predict(self, weights: Weights, X: NDArray[np.float32]) -> NDArray[np.int64]:
        """Predicted class, one per row of ``X``."""
        raise NotImplementedError

    def accuracy(self, weights: Weights, data: Dataset) -> float:
        """Fraction of ``data`` predicted right."""
        return float(np.mean(self.predict(weights, data.X) == data.y))


def batches(
    n: int, batch_size: int | None, epochs: int, rng: np.random.Generator
) -> Iterator[NDArray[np.int64]]:
    """Row indices of each mini-batch of ``n`` rows, epoch after epoch.

    ``batch_size`` None (or at least ``n``) is one full batch in row order, which draws
    nothing from ``rng``; otherwise each epoch's order is ``rng.permutation(n)``.
    """
    batch = n if batch_size is None else min(batch_size, n)
    for _ in range(epochs):
        order = np.arange(n) if batch == n else rng.permutation(n)
        for first in range(0, n, batch):
            yield order[first : first + batch]


def check_shape(n_features: int, n_classes: int) -> None:
    """InputError unless the model has at least one feature and two classes."""
    for name, value, least in (("n_features", n_features, 1), ("n_classes", n_classes, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise InputError(f"{name} must be an integer of at least {least}, got {value!r}")


def check_positive(name: str, value: float) -> float:
    """``value`` as a float if it is a finite number above zero, else InputError."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < np.inf:
        raise InputError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def check_batch_size(batch_size: int | None) -> None:
    """InputError unless ``batch_size`` is None (full batch) or a positive integer."""
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise InputError(f"batch_size must be None or a positive integer, got {batch_size!r}")


def check_training(data: Dataset, n_features: int, n_classes: int, epochs: int, seed: int) -> None:
    """InputError unless ``data`` fits the model and epochs and seed are valid."""
    check_data(data, n_features, n_classes)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or not 0 <= epochs <= MAX_EPOCHS:
        raise InputError(f"epochs must be an integer from 0 to {MAX_EPOCHS}, got {epochs!r}")
    check_seed(seed)


def check_data(data: Dataset, n_features: int, n_classes: int) -> None:
    """InputError unless ``data`` has ``n_features`` columns and labels below ``n_classes``."""
    if data.X.shape[1] != n_features:
        raise InputError(
            f"dataset {data.name!r} has {data.X.shape[1]} features, the model {n_features}"
        )
    if data.y.min() < 0 or data.y.max() >= n_classes:
        raise InputError(
            f"dataset {data.name!r} has labels outside 0..{n_classes - 1} of the model"
        )


def check_weights(weights: Weights, n_params: int, dtype: type[np.floating[Any]]) -> Weights:
    """A private, writable copy of ``weights`` as ``dtype``, after checking its shape."""
    array = np.asarray(weights)
    if array.shape != (n_params,) or array.dtype.kind != "f":
        raise InputError(
            f"weights must be a float vector of {n_params} values, got {array.dtype} {array.shape}"
        )
    if not np.isfinite(array).all():
        raise InputError("weights hold NaN or infinite values")
    return np.array(array, dtype=dtype)
