"""Whether a data set fits the columns and classes a model takes, and the data set put in
that model's order.

A model trained on a participant's file takes its features in one order (``features``,
named when the file named them) and predicts classes by label (``classes``: label ``i`` is
``classes[i]``; ``"0"`` to ``"n - 1"`` for a sample set). Another participant's file is
matched by names: :func:`fit_problem` says first why it does not fit, :func:`aligned` puts
its columns in the model's order and maps its class names to the model's labels. Every
protocol whose parties bring their own files (P2's model owner measuring rounds on its
rows, P3's data owners and model owner) asks the same. Light: NumPy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset


def few(names: Sequence[str], shown: int = 6) -> str:
    """Names for a message: the first ``shown``, then how many more."""
    text = ", ".join(names[:shown])
    return text + (f" and {len(names) - shown} more" if len(names) > shown else "")


def fit_problem(
    model: str,
    n_features: int,
    features: Sequence[str],
    classes: Sequence[str],
    data: Dataset,
) -> str | None:
    """Unless ``model`` (how a message names it, e.g. ``task 3's model``) takes ``data``: the
    feature count (and names, where both have them) and every class ``data`` holds (by name,
    where it names them). ``classes`` are the model's in label order."""
    name = data.name
    if data.X.shape[1] != n_features:
        return f"{model} takes {n_features} features; {name!r} has {data.X.shape[1]}"
    if features and data.features and set(data.features) != set(features):
        missing = [f for f in features if f not in data.features]
        return f"{model} takes the features {few(features)}; {name!r} has no column {missing[0]!r}"
    if data.labels:
        held = [data.labels[i] for i in sorted(set(data.y.tolist()))]
        held = [label for label in held if label not in classes]
        if held:
            return (
                f"{model} predicts the classes {few(classes)}; {name!r} holds class "
                f"{held[0]!r}, which it does not"
            )
    elif int(data.y.max()) >= len(classes):
        return (
            f"{model} takes {n_features} features and {len(classes)} classes; {name!r} has "
            f"{data.X.shape[1]} features and labels up to {int(data.y.max())}"
        )
    return None


def aligned(data: Dataset, features: Sequence[str], classes: Sequence[str]) -> Dataset:
    """``data`` with its columns in ``features``' order and its labels the model's (by class
    name); ``data`` itself when nothing moves. Assumes :func:`fit_problem` found no problem."""
    features, classes = tuple(features), tuple(classes)
    X, y = data.X, data.y
    named = data.features
    if features and named and named != features:
        X = X[:, [named.index(name) for name in features]]
        named = features
    if data.labels and data.labels != classes[: len(data.labels)]:
        to_model = np.array([classes.index(c) if c in classes else -1 for c in data.labels])
        y = to_model[y]
    if X is data.X and y is data.y and (not data.labels or data.labels == classes):
        return data
    from mercato.ml.datasets import Dataset

    return Dataset(data.name, data.ontology_class, X, y, named, classes)
