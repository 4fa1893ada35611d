"""What a task's model takes from a data file: named features, named classes, the scaling.

A task posted from a sample set (``datamarket post --dataset``) trains on the standardised
cut of :mod:`~mercato.protocols.datamarket.cut`; its classes are the label indices ``0`` to
``n - 1``. A task posted from the model owner's own file publishes :class:`TaskInputs` in
its spec: the feature columns in the model's order, the class names in label order, and the
per-feature standardisation ``(x - mean) / scale`` (the fixed preprocessing an MO publishes
with its model) that every party applies to its rows before training. A data owner's own
file is matched by names: :func:`aligned` puts its columns in the task's order and maps its
class names to the task's labels, :func:`task_data` also scales it, exactly as
scikit-learn's ``StandardScaler`` does (so the exported model, which starts with one, sees
the same numbers). :func:`~mercato.protocols.datamarket.rules.data_problem` says first why a
data set does not fit. Light: NumPy only; data sets are built when a function needs one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mercato.errors import InputError
from mercato.ontology.canonical import check_fields

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.protocols.datamarket.documents import TaskSpec

_FIELDS = ("classes", "features", "mean", "scale")


def _names(value: object, what: str) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise InputError(f"task spec: inputs.{what} must be a list of non-empty texts")
    names = tuple(value)
    if len(set(names)) != len(names):
        raise InputError(f"task spec: inputs.{what} names one more than once")
    return names


def _numbers(value: object, what: str, count: int) -> tuple[float, ...]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != count
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        or not all(math.isfinite(v) for v in value)
    ):
        raise InputError(f"task spec: inputs.{what} must be {count} finite numbers")
    return tuple(float(v) for v in value)


@dataclass(frozen=True)
class TaskInputs:
    """The features and classes of a task posted from a file, and the scaling of its rows."""

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
            raise InputError("task spec: inputs.classes must name at least 2 classes")
        mean = _numbers(self.mean, "mean", len(features))
        scale = _numbers(self.scale, "scale", len(features))
        if min(scale) <= 0:
            raise InputError("task spec: inputs.scale must be above 0 for every feature")
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

    @classmethod
    def from_document(cls, document: object) -> TaskInputs:
        if not isinstance(document, dict):
            raise InputError("task spec: inputs must be a JSON object")
        check_fields(document, _FIELDS, "task spec", "inputs.")
        return cls(**document)


def standardisation(X: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-feature mean and std of the rows ``X``; a constant feature gets scale 1."""
    from mercato.ml.federated_sim import standardiser

    mean, scale = standardiser(np.asarray(X, dtype=np.float32))
    return tuple(float(m) for m in mean), tuple(float(s) for s in scale)


def aligned(spec: TaskSpec, data: Dataset) -> Dataset:
    """``data`` with its columns in the task's order and its labels the task's (by class
    name); ``data`` itself when nothing moves. Assumes ``data_problem`` found no problem."""
    from mercato.ml import columns

    features = () if spec.inputs is None else spec.inputs.features
    return columns.aligned(data, features, spec.class_names)


def scaled_rows(spec: TaskSpec, X: Any) -> Any:
    """The rows ``X`` (float32) scaled as the task publishes, as ``StandardScaler`` does."""
    inputs = spec.inputs
    rows = np.array(X, dtype=np.float32)
    if inputs is not None and inputs.scales:
        rows -= np.asarray(inputs.mean, dtype=np.float64)
        rows /= np.asarray(inputs.scale, dtype=np.float64)
    return rows


def task_data(spec: TaskSpec, data: Dataset) -> Dataset:
    """``data`` as the task's model trains on it: aligned (:func:`aligned`), then scaled."""
    data = aligned(spec, data)
    if spec.inputs is None or not spec.inputs.scales:
        return data
    return data.renamed(data.name, scaled_rows(spec, data.X), data.y)
