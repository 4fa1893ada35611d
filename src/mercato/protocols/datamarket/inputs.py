"""What a task's model takes from a data file: named features, named classes, the scaling.

A task posted from a sample set (``datamarket post --dataset``) trains on the standardised
cut of :mod:`~mercato.protocols.datamarket.cut`; its classes are the label indices ``0`` to
``n - 1``. A task posted from the model owner's own file publishes its inputs
(:class:`~mercato.ml.columns.Inputs`, which P2's methods publish too) in its spec: the
feature columns in the model's order, the class names in label order, and the per-feature
standardisation ``(x - mean) / scale`` (the fixed preprocessing an MO publishes with its
model) that every party applies to its rows before training. A data owner's own file is
matched by names: :func:`aligned` puts its columns in the task's order and maps its class
names to the task's labels, :func:`task_data` also scales it, exactly as scikit-learn's
``StandardScaler`` does (so the exported model, which starts with one, sees the same
numbers). :func:`~mercato.protocols.datamarket.rules.data_problem` says first why a data
set does not fit. Light: NumPy only; data sets are built when a function needs one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.protocols.datamarket.documents import TaskSpec


def aligned(spec: TaskSpec, data: Dataset) -> Dataset:
    """``data`` with its columns in the task's order and its labels the task's (by class
    name); ``data`` itself when nothing moves. Assumes ``data_problem`` found no problem."""
    from mercato.ml import columns

    features = () if spec.inputs is None else spec.inputs.features
    return columns.aligned(data, features, spec.class_names)


def scaled_rows(spec: TaskSpec, X: Any) -> Any:
    """The rows ``X`` (float32) scaled as the task publishes, as ``StandardScaler`` does."""
    if spec.inputs is None:
        return np.array(X, dtype=np.float32)
    return spec.inputs.scaled(X)


def task_data(spec: TaskSpec, data: Dataset) -> Dataset:
    """``data`` as the task's model trains on it: aligned (:func:`aligned`), then scaled."""
    data = aligned(spec, data)
    if spec.inputs is None or not spec.inputs.scales:
        return data
    return data.renamed(data.name, scaled_rows(spec, data.X), data.y)
