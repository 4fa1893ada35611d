"""A model owner's own trained model as the start of a P3 task (``datamarket post --model``).

P3's model is a ReLU MLP whose hidden layers and training head are public and whose private
head the model owner keeps (:class:`~mercato.ml.model_parts.PartedMLP`); it is no single
trainer of :mod:`mercato.ml.trainers`, so the file is converted here, layer by layer, into
the public part's layout (each layer's weight ``out x in`` row by row, then its biases).
What maps onto it:

- a scikit-learn ``MLPClassifier`` with ReLU and any number of hidden layers (a binary
  one's single logistic output ``z`` becomes the two outputs ``0`` and ``z``, whose softmax
  is the same probability), alone or after a ``StandardScaler`` in a ``Pipeline``: the
  scaler's mean and scale become the task's published scaling (:mod:`.inputs`);
- a torch ``state_dict`` of ``Sequential(Linear, ReLU, Linear, ...)`` in ``.safetensors``;
- a Mercato ``.safetensors`` of the ``torch-mlp`` trainer (one hidden layer).

Anything else, such as a logistic regression (no hidden layer the data owners could train)
or a tree, is refused in one line. Files are read by
:func:`mercato.ml.model_files.read_model`, which never unpickles.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.columns import few
from mercato.ml.trainers.weights import Weights

Layer = tuple[NDArray[Any], NDArray[Any]]
"""A dense layer: weight ``out x in`` and bias ``out``."""

MAPS = (
    "a ReLU MLPClassifier (maybe after a StandardScaler), a torch Sequential(Linear, ReLU, "
    "Linear, ...) state dict, or a torch-mlp .safetensors"
)


@dataclass(frozen=True)
class StartingModel:
    """A brought model as P3 takes it: its hidden widths, its weights as the public part,
    and the scaling of its inputs (None: it takes the rows as they are)."""

    hidden: tuple[int, ...]
    public: Weights
    scaling: tuple[tuple[float, ...], tuple[float, ...]] | None


def starting_model(path: Path, n_features: int, classes: tuple[str, ...]) -> StartingModel:
    """The model in ``path`` over ``n_features`` features predicting ``classes`` (the MO's
    data's, in label order); InputError in one line for a model that does not map."""
    from mercato.ml.model_files import read_model

    model = read_model(path)
    scaling = None
    if type(model).__name__ == "Pipeline":
        scaling, model = _pipeline(path, model, n_features)
    layers = _binary_as_two(_layers(path, model, classes))
    widths = [int(layers[0][0].shape[1]), *(int(w.shape[0]) for w, _ in layers)]
    if widths[0] != n_features:
        raise InputError(f"{path}: a model over {widths[0]} features; your data has {n_features}")
    if widths[-1] != len(classes):
        raise InputError(
            f"{path}: a model of {widths[-1]} classes; your data has {len(classes)} "
            f"({few(classes)})"
        )
    for (weight, bias), fan_in in zip(layers, widths, strict=False):
        if weight.ndim != 2 or weight.shape[1] != fan_in or bias.shape != (weight.shape[0],):
            raise InputError(f"{path}: its layers do not chain ({[w.shape for w, _ in layers]})")
    public = np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in layers])
    if not np.isfinite(public).all():
        raise InputError(f"{path}: the weights hold NaN or infinite values")
    return StartingModel(tuple(widths[1:-1]), public.astype(np.float32), scaling)


def _pipeline(
    path: Path, pipeline: Any, n_features: int
) -> tuple[tuple[tuple[float, ...], tuple[float, ...]], Any]:
    """A ``Pipeline(StandardScaler, MLPClassifier)``: the scaler's mean and scale, and the MLP."""
    from sklearn.preprocessing import StandardScaler

    steps = [step for _, step in pipeline.steps]
    if len(steps) != 2 or not isinstance(steps[0], StandardScaler):
        names = ", ".join(type(s).__name__ for s in steps)
        raise InputError(f"{path}: a Pipeline of {names}; P3 maps a StandardScaler then an MLP")
    scaler = steps[0]
    ones = np.ones(n_features)
    mean = np.zeros(n_features) if scaler.mean_ is None else np.asarray(scaler.mean_)
    scale = ones if scaler.scale_ is None else np.asarray(scaler.scale_)
    if mean.shape != (n_features,) or scale.shape != (n_features,):
        raise InputError(
            f"{path}: its scaler takes {len(mean)} features; your data has {n_features}"
        )
    return (tuple(map(float, mean)), tuple(map(float, scale))), steps[1]


def _layers(path: Path, model: Any, classes: tuple[str, ...]) -> list[Layer]:
    """The model's dense layers, first to last."""
    from sklearn.neural_network import MLPClassifier

    from mercato.ml.model_files import WeightsModel

    if isinstance(model, MLPClassifier):
        if model.activation != "relu":
            raise InputError(f"{path}: an MLPClassifier with {model.activation}; P3's MLP is ReLU")
        theirs = [str(c) for c in model.classes_]
        if theirs != list(classes):
            raise InputError(
                f"{path}: it predicts the classes {few(theirs)}; your data's are {few(classes)} "
                "(the same, in the same order, are needed)"
            )
        return [
            (np.asarray(w).T, np.asarray(b))
            for w, b in zip(model.coefs_, model.intercepts_, strict=True)
        ]
    if isinstance(model, dict):
        return _state_dict(path, model)
    if isinstance(model, WeightsModel) and model.trainer.kind == "torch-mlp":
        spec = dict(model.trainer.spec())
        f, h, c = (int(spec[k]) for k in ("n_features", "hidden", "n_classes"))
        w = np.asarray(model.weights)
        cuts = np.cumsum([h * f, h, c * h])
        w1, b1, w2, b2 = np.split(w, cuts)
        return [(w1.reshape(h, f), b1), (w2.reshape(c, h), b2)]
    kind = model.trainer.kind if isinstance(model, WeightsModel) else type(model).__name__
    raise InputError(
        f"{path}: a {kind} has no hidden layers the data owners could train; P3 starts from {MAPS}"
    )


def _state_dict(path: Path, tensors: dict[str, NDArray[Any]]) -> list[Layer]:
    """``Sequential(Linear, ReLU, ...)``'s ``<i>.weight`` and ``<i>.bias``, in order of ``i``."""
    prefixes = {name.rpartition(".")[0] for name in tensors}
    if set(tensors) != {f"{p}.{k}" for p in prefixes for k in ("weight", "bias")} or not all(
        p.rpartition(".")[2].isdigit() for p in prefixes
    ):
        raise InputError(
            f"{path}: tensors {sorted(tensors)[:6]} are not Linear layers' weight and bias; "
            f"P3 starts from {MAPS}"
        )
    order = sorted(prefixes, key=lambda p: int(p.rpartition(".")[2]))
    if len(order) < 2:
        raise InputError(f"{path}: one Linear layer has no hidden layer; P3 starts from {MAPS}")
    return [(np.asarray(tensors[f"{p}.weight"]), np.asarray(tensors[f"{p}.bias"])) for p in order]


def _binary_as_two(layers: list[Layer]) -> list[Layer]:
    """A binary classifier's one logistic output ``z`` as two outputs ``(0, z)``."""
    weight, bias = layers[-1]
    if weight.ndim != 2 or weight.shape[0] != 1:
        return layers
    zeros = np.zeros_like(weight)
    return [*layers[:-1], (np.vstack([zeros, weight]), np.concatenate([np.zeros_like(bias), bias]))]
