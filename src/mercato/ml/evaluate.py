"""Evaluation metrics of a trained classifier, all in [0, 1], higher is better.

:func:`evaluate` scores predictions against integer labels as given. :func:`evaluate_data`
scores a model on a labelled data set, and is what every command and protocol that
measures a model on a buyer's rows uses: a model that names its classes (a Mercato model
trained on a file carries its inputs; a scikit-learn model fitted on text labels has them
as ``classes_``) is measured on the rows re-labelled into its class order by name (and its
columns by name, where it names them), since label ``i`` of one file need not be class
``i`` of the model; a row class it does not know is refused. A model that names no classes
is measured on the rows' labels as they are, and the result says whose class order counted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from mercato.ml import columns

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset


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


@dataclass(frozen=True)
class Evaluation:
    """Every metric of a model on a data set, and the class order its labels were scored in."""

    metrics: dict[str, float]
    classes: tuple[str, ...]
    """The class names in the label order scored: label ``i`` is ``classes[i]``."""
    by_name: bool
    """True when the model names its classes and the rows were matched to them by name;
    False when it names none and the rows' own order (``classes``) was taken as its."""


def model_classes(model: Any) -> tuple[str, ...] | None:
    """The class names ``model`` predicts, in label order, when it carries them: a Mercato
    model's inputs, or the ``classes_`` of a scikit-learn model (or pipeline) fitted on
    text labels. None for a model of plain integer classes."""
    inputs = getattr(model, "inputs", None)
    if isinstance(inputs, columns.Inputs):
        return inputs.classes
    classes = getattr(model, "classes_", None)  # a Pipeline has its last step's
    if classes is None:
        return None
    values = np.asarray(classes)
    if values.dtype.kind in "US" or (
        values.dtype.kind == "O" and all(isinstance(v, str) for v in values.tolist())
    ):
        return tuple(str(v) for v in values.tolist())
    return None


def model_features(model: Any) -> tuple[str, ...]:
    """The feature columns ``model`` takes, in order, when it names them (else empty)."""
    inputs = getattr(model, "inputs", None)
    if isinstance(inputs, columns.Inputs):
        return inputs.features
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return ()
    return tuple(str(name) for name in np.asarray(names).tolist())


@dataclass(frozen=True, eq=False)
class _ByIndex:
    """A model that predicts class names, predicting their indices in ``classes`` instead."""

    model: Any
    classes: tuple[str, ...]

    def predict(self, X: Any) -> NDArray[np.int64]:
        index = {name: i for i, name in enumerate(self.classes)}
        return np.array([index[str(v)] for v in np.asarray(self.model.predict(X)).tolist()])


def evaluate_data(model: Any, data: Dataset, what: str = "the model") -> Evaluation:
    """Every metric of ``model`` (``what``, as a message names it) on ``data``: matched to
    the model's columns and classes by name where it names them (see the module);
    InputError naming both class lists when the rows hold a class the model lacks, or name
    none while the model names its own."""
    classes = model_classes(model)
    rows = columns.for_model(what, data, model_features(model), classes or ())
    if classes is None:
        return Evaluation(evaluate(model, rows.X, rows.y), columns.row_classes(rows), False)
    if not isinstance(getattr(model, "inputs", None), columns.Inputs):
        model = _ByIndex(model, classes)  # scikit-learn predicts the names themselves
    return Evaluation(evaluate(model, rows.X, rows.y), classes, True)
