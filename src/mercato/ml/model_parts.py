"""P3's model in two parts: a public part data owners train, a private head the model owner keeps.

The network is a ReLU MLP, ``n_features -> hidden[0] -> ... -> hidden[-1]``, the *body*,
followed by a linear *head* ``hidden[-1] -> n_classes``. The model owner publishes the body
and a *public training head* (the public part); data owners train both on their own data and
submit the change (the delta). The model owner keeps a *private head* of the same shape, which
it fine-tunes on its own data over the federated body at the end; only the private head is
used for prediction.

Layouts (float32, flat). Public: for each body layer its weight ``out x in`` row by row, then
its ``out`` biases, then the public head's weight ``n_classes x hidden[-1]`` and its biases.
Private: the private head's weight and biases, in the same form. Starting weights are uniform
in ``+-1/sqrt(fan_in)`` (PyTorch's default range) drawn by NumPy from the seed.

Training is mini-batch SGD on mean cross-entropy, each step's gradient clipped to L2 norm
``max_grad_norm`` (so a model pushed off course by poisoned rounds cannot overflow float32),
batch order from ``numpy.random.default_rng(seed)``. The forward and backward passes are
plain float32 NumPy: for a network this small that is several times faster per step than
torch, whose per-operation overhead dominates, and it needs no torch import. Every operation
runs in a fixed order on fixed shapes, and BLAS splits a matrix product over rows and columns,
never along the summed dimension, so the same inputs and seed give byte-identical outputs on
one software stack, as with :mod:`mercato.ml.trainers.torch_mlp`.

Inputs should be of unit scale; :func:`mercato.ml.federated_sim.market_data` standardises
each feature. Defaults suit scikit-learn's digits standardised that way.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.datasets import Dataset
from mercato.ml.seed import check_seed
from mercato.ml.trainers.base import (
    check_batch_size,
    check_data,
    check_positive,
    check_shape,
    check_training,
    check_weights,
)
from mercato.ml.trainers.weights import Weights

KIND = "parted-mlp"
DEFAULT_HIDDEN: tuple[int, ...] = (64, 32)
DEFAULT_LEARNING_RATE = 0.25
DEFAULT_BATCH_SIZE = 32
DEFAULT_MAX_GRAD_NORM = 10.0
MAX_HIDDEN_LAYERS = 16
_SPEC_KEYS = frozenset(
    {"kind", "n_features", "n_classes", "hidden", "learning_rate", "batch_size", "max_grad_norm"}
)


@dataclass(frozen=True)
class PartedMLP:
    """ReLU MLP: hidden layers + public training head are the public part; the private head is
    the model owner's, of the same shape as the public head (see the module for the layouts).
    """

    n_features: int
    n_classes: int
    hidden: tuple[int, ...] = DEFAULT_HIDDEN
    learning_rate: float = DEFAULT_LEARNING_RATE
    batch_size: int = DEFAULT_BATCH_SIZE
    max_grad_norm: float = DEFAULT_MAX_GRAD_NORM

    def __post_init__(self) -> None:
        check_shape(self.n_features, self.n_classes)
        hidden = self.hidden
        if (
            not isinstance(hidden, tuple | list)
            or not 1 <= len(hidden) <= MAX_HIDDEN_LAYERS
            or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in hidden)
        ):
            raise InputError(
                f"hidden must be 1 to {MAX_HIDDEN_LAYERS} positive integer layer widths, "
                f"got {hidden!r}"
            )
        object.__setattr__(self, "hidden", tuple(hidden))
        check_positive("learning_rate", self.learning_rate)
        if self.batch_size is None:
            raise InputError("batch_size must be a positive integer, got None")
        check_batch_size(self.batch_size)
        check_positive("max_grad_norm", self.max_grad_norm)

    @property
    def n_public(self) -> int:
        """Number of float32 values in the public vector: the body and the public head."""
        return sum((fan_in + 1) * fan_out for fan_in, fan_out in self._layers())

    @property
    def n_private(self) -> int:
        """Number of float32 values in the private head."""
        return (self.hidden[-1] + 1) * self.n_classes

    def spec(self) -> dict[str, Any]:
        """The kind and every hyper-parameter, JSON-able (``hidden`` as a list)."""
        return {
            "kind": KIND,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "hidden": list(self.hidden),
            "learning_rate": float(self.learning_rate),
            "batch_size": self.batch_size,
            "max_grad_norm": float(self.max_grad_norm),
        }

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> PartedMLP:
        """The model :meth:`spec` describes; InputError naming what is wrong otherwise."""
        if not isinstance(spec, Mapping):
            raise InputError(f"model spec must be a mapping, got {type(spec).__name__}")
        keys = set(spec)
        if keys != _SPEC_KEYS:
            missing, extra = sorted(_SPEC_KEYS - keys), sorted(keys - _SPEC_KEYS)
            raise InputError(
                f"model spec: missing keys {missing}, unknown keys {extra}; "
                f"a {KIND!r} spec has exactly {sorted(_SPEC_KEYS)}"
            )
        if spec["kind"] != KIND:
            raise InputError(f"model spec: kind is {spec['kind']!r}, not {KIND!r}")
        hidden = spec["hidden"]
        if not isinstance(hidden, list | tuple):
            raise InputError(f"model spec: hidden must be a list of layer widths, got {hidden!r}")
        return cls(
            n_features=spec["n_features"],
            n_classes=spec["n_classes"],
            hidden=tuple(hidden),
            learning_rate=spec["learning_rate"],
            batch_size=spec["batch_size"],
            max_grad_norm=spec["max_grad_norm"],
        )

    def init(self, seed: int) -> tuple[Weights, Weights]:
        """(public, private) starting weights from ``seed``; the two heads start equal."""
        rng = np.random.default_rng(check_seed(seed))
        parts = []
        for fan_in, fan_out in self._layers():
            bound = 1.0 / np.sqrt(fan_in)
            parts.append(rng.uniform(-bound, bound, size=fan_out * fan_in))
            parts.append(rng.uniform(-bound, bound, size=fan_out))
        public = np.concatenate(parts).astype(np.float32)
        private = public[-self.n_private :].copy()
        return public, private

    def train_full(
        self, public: Weights, private: Weights, data: Dataset, epochs: int, seed: int
    ) -> tuple[Weights, Weights]:
        """The model owner's pretraining: body and private head trained on ``data``.

        Returns (public, private); the public training head is a copy of the trained head.
        """
        check_training(data, self.n_features, self.n_classes, epochs, seed)
        pub = check_weights(public, self.n_public, np.float32)
        priv = check_weights(private, self.n_private, np.float32)
        trained = np.concatenate([pub[: self._n_body], priv])
        self._sgd(trained, self._layers(), data.X, data.y, epochs, seed)
        return trained, trained[self._n_body :].copy()

    def local_update(self, public: Weights, data: Dataset, epochs: int, seed: int) -> Weights:
        """A data owner's update: the public part trained on ``data`` minus ``public`` (float32)."""
        check_training(data, self.n_features, self.n_classes, epochs, seed)
        start = check_weights(public, self.n_public, np.float32)
        trained = start.copy()
        self._sgd(trained, self._layers(), data.X, data.y, epochs, seed)
        delta: Weights = trained - start
        return delta

    def fine_tune_head(
        self, public: Weights, private: Weights, data: Dataset, epochs: int, seed: int
    ) -> Weights:
        """The model owner's last step: the private head trained on ``data`` over a frozen body."""
        check_training(data, self.n_features, self.n_classes, epochs, seed)
        pub = check_weights(public, self.n_public, np.float32)
        head = check_weights(private, self.n_private, np.float32)
        layers = self._layers()
        # The body is frozen, so its features are computed once and the head trains alone.
        features = _forward(_unpack(pub[: self._n_body], layers[:-1]), data.X)[-1]
        self._sgd(head, layers[-1:], features, data.y, epochs, seed)
        return head

    def predict(
        self, public: Weights, private: Weights, X: NDArray[np.float32]
    ) -> NDArray[np.int64]:
        """Index of the largest output per row: body from ``public``, head from ``private``."""
        pub = check_weights(public, self.n_public, np.float32)
        priv = check_weights(private, self.n_private, np.float32)
        rows = np.asarray(X, dtype=np.float32)
        if rows.ndim != 2 or rows.shape[1] != self.n_features:
            raise InputError(f"X must have shape (n, {self.n_features}), got {rows.shape}")
        params = _unpack(np.concatenate([pub[: self._n_body], priv]), self._layers())
        logits = _forward(params, rows)[-1]
        return np.asarray(logits.argmax(axis=1), dtype=np.int64)

    def accuracy(self, public: Weights, private: Weights, data: Dataset) -> float:
        """Fraction of ``data`` predicted right (body of ``public``, ``private`` head)."""
        check_data(data, self.n_features, self.n_classes)
        return float(np.mean(self.predict(public, private, data.X) == data.y))

    @property
    def _n_body(self) -> int:
        return self.n_public - self.n_private

    def _layers(self) -> list[tuple[int, int]]:
        """(fan_in, fan_out) of every body layer and of the head."""
        widths = [self.n_features, *self.hidden, self.n_classes]
        return list(itertools.pairwise(widths))

    def _sgd(
        self,
        flat: NDArray[np.float32],
        layers: list[tuple[int, int]],
        X: NDArray[np.float32],
        y: NDArray[np.int64],
        epochs: int,
        seed: int,
    ) -> None:
        """``epochs`` passes of mini-batch SGD on mean cross-entropy, updating ``flat`` in place."""
        params = _unpack(flat, layers)
        grad = np.empty_like(flat)
        grads = _unpack(grad, layers)
        rate = np.float32(self.learning_rate)
        limit = np.float32(self.max_grad_norm)
        n = len(y)
        batch = min(self.batch_size, n)
        rng = np.random.default_rng(seed)
        for _ in range(epochs):
            order = rng.permutation(n)
            for first in range(0, n, batch):
                rows = order[first : first + batch]
                _backward(params, grads, X[rows], y[rows])
                norm = np.sqrt(np.dot(grad, grad))
                if norm > limit:  # clipped, so a diverging model cannot overflow float32
                    grad *= limit / norm
                flat -= rate * grad


def apply_update(public: Weights, delta: NDArray[np.floating[Any]]) -> Weights:
    """``public + delta`` as float32: the one place an aggregated delta enters the model."""
    base = np.asarray(public)
    step = np.asarray(delta)
    for name, array in (("public", base), ("delta", step)):
        if array.ndim != 1 or array.dtype.kind != "f":
            raise InputError(f"{name} must be a 1-D float vector, got {array.dtype} {array.shape}")
        if not np.isfinite(array).all():
            raise InputError(f"{name} holds NaN or infinite values")
    if base.shape != step.shape:
        raise InputError(f"delta has {step.shape[0]} values, the public part {base.shape[0]}")
    result: Weights = base.astype(np.float32) + step.astype(np.float32)
    return result


def _unpack(
    flat: NDArray[np.float32], layers: list[tuple[int, int]]
) -> list[tuple[NDArray[np.float32], NDArray[np.float32]]]:
    """(weight, bias) views into ``flat`` for each layer: writing to them writes to ``flat``."""
    params, offset = [], 0
    for fan_in, fan_out in layers:
        weight = flat[offset : offset + fan_out * fan_in].reshape(fan_out, fan_in)
        offset += fan_out * fan_in
        params.append((weight, flat[offset : offset + fan_out]))
        offset += fan_out
    return params


def _forward(
    params: list[tuple[NDArray[np.float32], NDArray[np.float32]]], X: NDArray[np.float32]
) -> list[NDArray[np.float32]]:
    """Every layer's output, the input first: ReLU after each layer but the last."""
    outputs = [X]
    for index, (weight, bias) in enumerate(params):
        z = outputs[-1] @ weight.T + bias
        outputs.append(z if index == len(params) - 1 else np.maximum(z, np.float32(0.0)))
    return outputs


def _backward(
    params: list[tuple[NDArray[np.float32], NDArray[np.float32]]],
    grads: list[tuple[NDArray[np.float32], NDArray[np.float32]]],
    X: NDArray[np.float32],
    y: NDArray[np.int64],
) -> None:
    """Write the gradient of the mean cross-entropy over the rows ``X`` into ``grads``."""
    outputs = _forward(params, X)
    logits = outputs[-1]
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    delta = shifted / shifted.sum(axis=1, keepdims=True)
    delta[np.arange(len(y)), y] -= np.float32(1.0)
    delta /= np.float32(len(y))
    for index in range(len(params) - 1, -1, -1):
        weight_grad, bias_grad = grads[index]
        np.matmul(delta.T, outputs[index], out=weight_grad)
        np.sum(delta, axis=0, out=bias_grad)
        if index:
            delta = (delta @ params[index][0]) * (outputs[index] > 0)
