"""The executors' benchmark: check what they were sealed, score each model the same way.

An executor holds the public sample and the hidden groups the buyer sealed to it; it checks
that all of them give the request's test root (else it flags the test set), checks each
seller's model against its plaintext root (else it flags that model), and scores every
model on the hidden groups only, so a model trained on the revealed sample gains nothing.
A score is an integer: ``floor(right * SCORE_SCALE / rows)``, the same on every machine that
predicts the same labels, so honest executors agree bit for bit and a majority is exact.

Models are files that load without running code (:mod:`mercato.ml.model_files`): a
scikit-learn estimator in ``.skops``, a Mercato ``.safetensors`` model, or a torch
``Sequential(Linear, ReLU, Linear)`` state dict in ``.safetensors``, predicted here with
numpy (no torch needed to benchmark it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.crypto.fairswap import plain_root
from mercato.errors import InputError
from mercato.ml.evaluate import Classifier
from mercato.protocols.modelmarket.documents import read_group, test_set_problem
from mercato.protocols.modelmarket.limits import SCORE_SCALE
from mercato.protocols.modelmarket.views import TEST_FLAG, model_flag

ZIP_MAGIC = b"PK\x03\x04"


@dataclass(frozen=True)
class StateDictMLP:
    """A torch ``Sequential(Linear, ReLU, Linear)`` from its state dict, predicted in numpy."""

    w1: NDArray[np.float32]
    b1: NDArray[np.float32]
    w2: NDArray[np.float32]
    b2: NDArray[np.float32]

    @classmethod
    def of(cls, state: Mapping[str, NDArray[Any]]) -> StateDictMLP:
        weights = sorted(k for k in state if k.endswith(".weight"))
        biases = sorted(k for k in state if k.endswith(".bias"))
        if len(weights) != 2 or len(biases) != 2:
            raise InputError("a torch model here is Sequential(Linear, ReLU, Linear)")
        names = (weights[0], biases[0], weights[1], biases[1])
        return cls(*(np.asarray(state[k], dtype=np.float32) for k in names))

    def predict(self, X: NDArray[Any]) -> NDArray[np.int64]:
        hidden = np.maximum(np.asarray(X, dtype=np.float32) @ self.w1.T + self.b1, 0)
        labels: NDArray[np.int64] = np.argmax(hidden @ self.w2.T + self.b2, axis=1).astype(np.int64)
        return labels


def model_suffix(data: bytes) -> str:
    """The file type of model bytes: ``.skops`` (a zip) or ``.safetensors``."""
    return ".skops" if data.startswith(ZIP_MAGIC) else ".safetensors"


def load_model_bytes(data: bytes) -> Classifier:
    """A model from the bytes of a model file; InputError if it is not a safe model file."""
    from mercato.ml.model_files import read_model

    with tempfile.TemporaryDirectory(prefix="mercato-model-") as folder:
        path = Path(folder) / f"model{model_suffix(data)}"
        path.write_bytes(data)
        model = read_model(path)
    if isinstance(model, dict):
        return StateDictMLP.of(model)
    if not hasattr(model, "predict"):
        raise InputError("the model file holds no classifier")
    return model  # type: ignore[no-any-return]


def stack_groups(blobs: Mapping[int, bytes]) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """The rows and labels of ``blobs`` in index order."""
    parts = [read_group(blobs[i]) for i in sorted(blobs)]
    return np.concatenate([X for X, _ in parts]), np.concatenate([y for _, y in parts])


def score(model: Classifier, X: NDArray[np.float32], y: NDArray[np.int64]) -> int:
    """Accuracy in parts per million, rounded down; 0 if the model cannot predict these rows."""
    try:
        predicted = np.asarray(model.predict(X)).astype(np.int64)
    except Exception:  # a model of another shape or that names classes: it scores nothing
        return 0
    if predicted.shape != y.shape:
        return 0
    right = int(np.sum(predicted == y))
    return right * SCORE_SCALE // len(y)


@dataclass(frozen=True)
class Benchmark:
    """What an executor found: one score per submission and the flags."""

    scores: tuple[int, ...]
    flags: int
    problems: tuple[str, ...]
    """Why each flag or zero score, in words."""


def benchmark(
    test_root: bytes,
    groups: int,
    sample: Mapping[int, bytes],
    hidden: Mapping[int, bytes] | None,
    models: Sequence[bytes | None],
    plain_roots: Sequence[bytes],
    live: Sequence[bool],
) -> Benchmark:
    """Score each live submission's model on the hidden groups.

    ``hidden`` is None when the buyer never sealed them; ``models[i]`` None when seller i
    never sealed its model to the executors. A test set that does not give ``test_root``
    flags the request (and scores nothing); a model that does not give its plaintext root
    flags that submission.
    """
    problems: list[str] = []
    scores = [0] * len(plain_roots)
    if hidden is None:
        return Benchmark(tuple(scores), TEST_FLAG, ("the buyer sealed no test groups to us",))
    overlap = set(sample) & set(hidden)
    problem = test_set_problem(test_root, groups, {**sample, **hidden})
    if overlap:
        problem = f"the hidden groups repeat {len(overlap)} revealed group(s)"
    if problem is None:
        try:
            X, y = stack_groups(hidden)
        except InputError as exc:
            problem = str(exc)
    if problem is not None:
        return Benchmark(tuple(scores), TEST_FLAG, (problem,))
    flags = 0
    for index, (data, root, alive) in enumerate(zip(models, plain_roots, live, strict=True)):
        if not alive:
            continue
        if data is None or not data or plain_root(data) != root:
            flags |= model_flag(index)
            problems.append(f"submission {index}: the model sealed to us is not the one committed")
            continue
        try:
            model = load_model_bytes(data)
        except InputError as exc:
            problems.append(f"submission {index}: {exc}")
            continue
        scores[index] = score(model, X, y)
    return Benchmark(tuple(scores), flags, tuple(problems))
