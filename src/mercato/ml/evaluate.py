"""Evaluation metrics of a trained classifier, all in [0, 1], higher is better."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score


class Classifier(Protocol):
    """Anything with a scikit-learn style ``predict``."""

    def predict(self, X: Any) -> Any:
        """Predicted labels, one per row of ``X``."""


def accuracy(model: Classifier, X: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    """Fraction of examples whose predicted label is right."""
    return float(accuracy_score(y, model.predict(X)))


def balanced_accuracy(model: Classifier, X: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    """Mean recall over classes: accuracy that a majority class cannot inflate."""
    return float(balanced_accuracy_score(y, model.predict(X)))


def f1_macro(model: Classifier, X: NDArray[np.float32], y: NDArray[np.int64]) -> float:
    """Unweighted mean of the per-class F1 scores."""
    return float(f1_score(y, model.predict(X), average="macro"))


Metric = Callable[[Classifier, NDArray[np.float32], NDArray[np.int64]], float]

# The names a requirements document may use (mercato.ontology.requirements.METRIC_RANGES).
METRICS: Mapping[str, Metric] = MappingProxyType(
    {"accuracy": accuracy, "balanced_accuracy": balanced_accuracy, "f1_macro": f1_macro}
)


def evaluate(model: Classifier, X: NDArray[np.float32], y: NDArray[np.int64]) -> dict[str, float]:
    """Every metric in :data:`METRICS` on one labelled set."""
    return {name: metric(model, X, y) for name, metric in METRICS.items()}
