"""Whether a data set fits the columns and classes a model takes, and the data set put in
that model's order.

A model trained on a participant's file takes its features in one order (``features``,
named when the file named them) and predicts classes by label (``classes``: label ``i`` is
``classes[i]``; ``"0"`` to ``"n - 1"`` for a sample set). Another participant's file is
matched by names: :func:`fit_problem` says first why it does not fit, :func:`aligned` puts
its columns in the model's order and maps its class names to the model's labels. Every
protocol whose parties bring their own files (P2's model owner measuring rounds on its
rows, P3's data owners and model owner) asks the same. A model trained on a file publishes
its :class:`Inputs` (features, classes and the standardisation of the rows, which every
party applies before training). Light: NumPy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ontology.canonical import check_fields

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
    problem = feature_problem(model, features, data)
    if problem is not None:
        return problem
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


def feature_problem(model: str, features: Sequence[str], data: Dataset) -> str | None:
    """Unless ``data`` has every feature ``model`` takes by name (where both name them)."""
    if features and data.features and set(data.features) != set(features):
        missing = [f for f in features if f not in data.features]
        return (
            f"{model} takes the features {few(features)}; {data.name!r} has no column "
            f"{missing[0]!r}"
        )
    return None


def row_classes(data: Dataset) -> tuple[str, ...]:
    """The classes of ``data`` in label order: its names, else ``"0"`` to its largest label."""
    return data.labels or number_names(int(data.y.max()) + 1)


def number_names(count: int) -> tuple[str, ...]:
    """``"0"`` to ``"count - 1"``: the class names of a set whose labels are only numbers."""
    return tuple(str(i) for i in range(count))


def class_problem(model: str, classes: Sequence[str], data: Dataset) -> str | None:
    """Unless every class the rows of ``data`` hold is one ``model`` predicts (``classes``, in
    label order), matched by name. Rows that name no classes match only a model whose classes
    are the numbers ``"0"`` to ``"n - 1"``: their labels are then the model's."""
    classes = tuple(classes)
    if data.labels:
        held = [data.labels[i] for i in sorted(set(data.y.tolist()))]
        unknown = [label for label in held if label not in classes]
        if unknown:
            return (
                f"{model} predicts the classes {few(classes)}; {data.name!r} holds the classes "
                f"{few(held)}, and {unknown[0]!r} is none of the model's"
            )
    elif classes != number_names(len(classes)) or int(data.y.max()) >= len(classes):
        return (
            f"{model} predicts the classes {few(classes)}; {data.name!r} names no classes "
            f"(its labels are {few(row_classes(data))}), so they cannot be matched: measure "
            "it on a file whose label column names them (--data FILE with --label or --schema)"
        )
    return None


def for_model(
    model: str, data: Dataset, features: Sequence[str], classes: Sequence[str]
) -> Dataset:
    """``data`` as a model that names its ``features`` and/or ``classes`` (either may be
    empty: that model names none) takes it: its columns in the model's order and its labels
    the model's, both by name (:func:`aligned`). InputError, naming the model's and the
    rows' lists, when a column or a class of the rows is not the model's."""
    problem = feature_problem(model, features, data)
    if classes:
        problem = problem or class_problem(model, classes, data)
    if problem is not None:
        raise InputError(problem)
    return aligned(data, features, classes or data.labels)


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


_FIELDS = ("classes", "features", "mean", "scale")


def _names(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"inputs.{what} must be a list of non-empty texts")
    names = tuple(value)
    if len(set(names)) != len(names):
        raise InputError(f"inputs.{what} names one more than once")
    return names


def _numbers(value: object, what: str, count: int) -> tuple[float, ...]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != count
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) for v in value)
    ):
        raise InputError(f"inputs.{what} must be {count} finite numbers")
    return tuple(float(v) for v in value)


@dataclass(frozen=True)
class Inputs:
    """What a model trained on a participant's file takes: its features in order, its classes
    in label order, and the fixed scaling of the rows (the preprocessing published with it)."""

    features: tuple[str, ...]
    classes: tuple[str, ...]
    """Class names in label order: label ``i`` is ``classes[i]``."""
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    """Per feature, in ``features`` order: a row is scaled as ``(x - mean) / scale``."""

    def __post_init__(self) -> None:
        features = _names(self.features, "features")
        classes = _names(self.classes, "classes")
        if len(classes) < 2:
            raise InputError("inputs.classes must name at least 2 classes")
        mean = _numbers(self.mean, "mean", len(features))
        scale = _numbers(self.scale, "scale", len(features))
        if min(scale) <= 0:
            raise InputError("inputs.scale must be above 0 for every feature")
        for name, value in (
            ("features", features), ("classes", classes), ("mean", mean), ("scale", scale)
        ):  # fmt: skip
            object.__setattr__(self, name, value)

    @property
    def scales(self) -> bool:
        """Whether the scaling changes anything (a model brought without a scaler does not)."""
        return any(m != 0.0 for m in self.mean) or any(s != 1.0 for s in self.scale)

    def to_document(self) -> dict[str, Any]:
        return {name: list(getattr(self, name)) for name in _FIELDS}

    def scaled(self, X: Any) -> NDArray[np.float32]:
        """The rows ``X`` (float32) scaled as ``(x - mean) / scale``, as ``StandardScaler``
        does."""
        rows = np.array(X, dtype=np.float32)
        if self.scales:
            rows -= np.asarray(self.mean, dtype=np.float64)
            rows /= np.asarray(self.scale, dtype=np.float64)
        return rows

    @classmethod
    def from_document(cls, document: object, what: str) -> Inputs:
        """The inputs of a document ``what`` (e.g. ``task spec``); InputError if malformed."""
        if not isinstance(document, dict):
            raise InputError(f"{what}: inputs must be a JSON object")
        check_fields(document, _FIELDS, what, "inputs.")
        try:
            return cls(**document)
        except InputError as exc:
            raise InputError(f"{what}: {exc}") from None


def standardisation(X: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-feature mean and std of the rows ``X``; a constant feature gets scale 1."""
    from mercato.ml.federated_sim import standardiser

    mean, scale = standardiser(np.asarray(X, dtype=np.float32))
    return tuple(float(m) for m in mean), tuple(float(s) for s in scale)
