"""Trainers: one Protocol, two implementations (NumPy softmax regression, torch MLP)."""

from mercato.ml.trainers.base import Trainer
from mercato.ml.trainers.numpy_logreg import NumpyLogReg
from mercato.ml.trainers.torch_mlp import TorchMLP
from mercato.ml.trainers.weights import Weights, weights_from_bytes, weights_to_bytes

__all__ = [
    "NumpyLogReg",
    "TorchMLP",
    "Trainer",
    "Weights",
    "weights_from_bytes",
    "weights_to_bytes",
]
