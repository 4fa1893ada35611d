"""Trainers: one Protocol, two implementations (NumPy softmax regression, torch MLP)."""

from collections.abc import Mapping
from typing import Any

from mercato.errors import InputError
from mercato.ml.trainers.base import Trainer
from mercato.ml.trainers.numpy_logreg import NumpyLogReg
from mercato.ml.trainers.torch_mlp import TorchMLP
from mercato.ml.trainers.weights import Weights, weights_from_bytes, weights_to_bytes

TRAINERS: dict[str, type[NumpyLogReg] | type[TorchMLP]] = {
    "numpy-logreg": NumpyLogReg,
    "torch-mlp": TorchMLP,
}


def trainer_from_spec(spec: Mapping[str, Any]) -> Trainer:
    """The trainer that :meth:`Trainer.spec` described: its kind and hyper-parameters."""
    params = dict(spec)
    kind = params.pop("kind", None)
    if kind not in TRAINERS:
        raise InputError(f"trainer: unknown kind {kind!r}; known: {', '.join(sorted(TRAINERS))}")
    try:
        return TRAINERS[kind](**params)
    except TypeError as exc:
        raise InputError(f"trainer {kind}: bad hyper-parameters {sorted(params)}: {exc}") from None


__all__ = [
    "TRAINERS",
    "NumpyLogReg",
    "TorchMLP",
    "Trainer",
    "Weights",
    "trainer_from_spec",
    "weights_from_bytes",
    "weights_to_bytes",
]
