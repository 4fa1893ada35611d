"""A small multilayer perceptron in PyTorch, trained deterministically on the CPU.

Model: ``Linear(n_features, hidden) -> ReLU -> Linear(hidden, n_classes)``. Weights layout
(float32), in ``module.parameters()`` order: first-layer weight ``hidden x n_features`` row by
row, its ``hidden`` biases, second-layer weight ``n_classes x hidden``, its ``n_classes``
biases. Starting weights are uniform in ``+-1/sqrt(fan_in)`` (PyTorch's default range) drawn
by NumPy from the seed, so they do not depend on torch's global generator.

Training is plain mini-batch SGD on mean cross-entropy, batch order from
``numpy.random.default_rng(seed)``. Each call runs with ``torch.use_deterministic_algorithms``,
``torch.manual_seed(seed)`` inside ``fork_rng`` and :data:`TORCH_THREADS` intra-op threads
(one thread fixes the order of every reduction), and restores the caller's settings after.
torch is imported inside the methods, so ``mercato`` imports without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mercato.ml.seed import check_seed
from mercato.ml.trainers.base import (
    FlatTrainer,
    batches,
    check_batch_size,
    check_positive,
    check_shape,
    check_training,
    check_weights,
)
from mercato.ml.trainers.weights import Weights

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset

KIND = "torch-mlp"
DEFAULT_HIDDEN = 64
DEFAULT_LEARNING_RATE = 0.005
DEFAULT_BATCH_SIZE = 16
TORCH_THREADS = 1


@dataclass(frozen=True)
class TorchMLP(FlatTrainer):
    """One-hidden-layer ReLU network; see the module docstring for the weight layout."""

    kind = KIND
    hidden: int = DEFAULT_HIDDEN
    learning_rate: float = DEFAULT_LEARNING_RATE
    batch_size: int | None = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        super().__post_init__()
        check_shape(self.hidden, 2)
        check_positive("learning_rate", self.learning_rate)
        check_batch_size(self.batch_size)

    @property
    def n_params(self) -> int:
        """Weights and biases of both layers."""
        return (self.n_features + 1) * self.hidden + (self.hidden + 1) * self.n_classes

    def init_weights(self, seed: int) -> Weights:
        """Uniform in ``+-1/sqrt(fan_in)`` per layer, drawn from ``seed``."""
        rng = np.random.default_rng(check_seed(seed))
        parts = []
        for fan_in, fan_out in ((self.n_features, self.hidden), (self.hidden, self.n_classes)):
            bound = 1.0 / np.sqrt(fan_in)
            parts.append(rng.uniform(-bound, bound, size=fan_out * fan_in))
            parts.append(rng.uniform(-bound, bound, size=fan_out))
        return np.concatenate(parts).astype(np.float32)

    def train(self, weights: Weights | None, data: Dataset, epochs: int, seed: int) -> Weights:
        """Weights after ``epochs`` passes of SGD over ``data``."""
        import torch

        check_training(data, self.n_features, self.n_classes, epochs, seed)
        start = self.init_weights(seed) if weights is None else weights
        flat = check_weights(start, self.n_params, np.float32)
        rng = np.random.default_rng(seed)
        with _deterministic(seed):
            model = self._module(flat)
            optimiser = torch.optim.SGD(model.parameters(), lr=self.learning_rate)
            X = torch.from_numpy(np.array(data.X))
            y = torch.from_numpy(np.array(data.y))
            for indices in batches(len(data.y), self.batch_size, epochs, rng):
                rows = torch.from_numpy(indices)
                optimiser.zero_grad()
                torch.nn.functional.cross_entropy(model(X[rows]), y[rows]).backward()  # type: ignore[no-untyped-call]
                optimiser.step()
            trained = torch.nn.utils.parameters_to_vector(model.parameters())
            return np.array(trained.detach().numpy(), dtype=np.float32)

    def predict(self, weights: Weights, X: NDArray[np.float32]) -> NDArray[np.int64]:
        """Index of the largest output per row."""
        import torch

        flat = check_weights(weights, self.n_params, np.float32)
        with _deterministic(0), torch.no_grad():
            logits = self._module(flat)(torch.from_numpy(np.array(X, dtype=np.float32)))
            return np.asarray(logits.argmax(dim=1).numpy(), dtype=np.int64)

    def _module(self, flat: NDArray[np.float32]) -> Any:
        import torch

        model = torch.nn.Sequential(
            torch.nn.Linear(self.n_features, self.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(self.hidden, self.n_classes),
        )
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(torch.from_numpy(flat), model.parameters())
        return model


@contextmanager
def _deterministic(seed: int) -> Iterator[None]:
    """Deterministic kernels, a fixed thread count and a seeded private RNG, then restore."""
    import torch

    was_deterministic = torch.are_deterministic_algorithms_enabled()
    threads = torch.get_num_threads()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(TORCH_THREADS)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.use_deterministic_algorithms(was_deterministic)
        torch.set_num_threads(threads)
