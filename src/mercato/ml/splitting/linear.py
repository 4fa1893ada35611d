"""Split a linear classifier by groups of features: each vendor computes its part of the scores.

A logistic regression's scores are ``x @ W.T + b``, a sum over features, so a vendor holding
the weight columns of a group of features computes that group's partial scores and the
combiner adds them (the formula split of Arya et al.). Features are dealt in contiguous
groups; each group (one component) holds its feature indices and their weight columns, the
first group also the bias, and returns its partial scores shaped ``1 x rows x classes``; the
combiner is the ensemble's ``vote`` (:func:`mercato.ml.splitting.ensemble.run_vote`), which
adds the parts in order from zero and takes the argmax (its division by the count changes no
argmax). Everything is computed in float64. Two sources:

- a torch ``Linear`` state dict, ``{"weight": classes x features, "bias": classes}`` (or
  ``0.weight``/``0.bias``), as a P2 model file holds it; labels are the output indices;
- a fitted scikit-learn ``LogisticRegression`` (a binary one's single score ``s`` becomes the
  two scores ``0`` and ``s``, whose argmax is scikit-learn's ``s > 0``).

Exactness: the split adds the same products as the whole model, grouped differently
(``(b + x1 w1) + x2 w2`` against ``b + (x1 w1 + x2 w2)``), so the sums may differ in their
last bits, and a label can flip only where two classes' scores tie to within that rounding
(an exact near-tie). The tests find none on the 1,797 digits rows or on 17,970 noisy copies
of them, for 2 to 64 groups: there the top two scores of a logistic regression fitted to 900
digits differ by 3e-4 or more, against rounding errors below 1e-12 (scores under 40).

Every group is needed: a group left out removes its features' contribution (and the first
group the bias), so the labels are no longer the model's. Never answer with a subset of the
groups (:meth:`SplitModel.predict` with ``groups``, or an API document's ``subsets``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.splitting.components import (
    Component,
    SplitModel,
    check_parts,
    numeric_classes,
    shares,
)

LINEAR_KEYS = (frozenset({"weight", "bias"}), frozenset({"0.weight", "0.bias"}))
"""The key sets of a state dict holding exactly one ``Linear`` layer."""


def is_linear_state_dict(tensors: Any) -> bool:
    """Whether a state dict holds exactly one ``Linear`` layer and nothing else."""
    return isinstance(tensors, dict) and frozenset(tensors) in LINEAR_KEYS


def split_linear_state_dict(tensors: dict[str, Any], parts: int) -> SplitModel:
    """Split a torch ``Linear`` state dict by groups of features."""
    prefix = "" if "weight" in tensors else "0."
    weight = _numbers(tensors[prefix + "weight"], "weight")
    bias = _numbers(tensors[prefix + "bias"], "bias")
    if weight.ndim != 2:
        raise InputError(f"a Linear layer's weight is classes x features, not {weight.shape}")
    classes = np.arange(weight.shape[0], dtype=np.int64)
    return split_scores(weight, bias, classes, parts, "torch Linear layer")


def split_logistic(model: Any, parts: int) -> SplitModel:
    """Split a fitted scikit-learn ``LogisticRegression`` by groups of features."""
    weight = _numbers(model.coef_, "coef_")
    bias = _numbers(model.intercept_, "intercept_")
    classes = numeric_classes(model.classes_)
    if weight.shape[0] == 1 and len(classes) == 2:  # binary: one score, class 1 where it is > 0
        weight = np.vstack([np.zeros_like(weight), weight])
        bias = np.concatenate([np.zeros_like(bias), bias])
    return split_scores(weight, bias, classes, parts, type(model).__name__)


def split_scores(
    weight: NDArray[Any],
    bias: NDArray[Any],
    classes: NDArray[Any],
    parts: int,
    name: str = "linear model",
) -> SplitModel:
    """Split the scores ``x @ weight.T + bias`` (``weight``: classes x features) by features."""
    if isinstance(parts, bool) or not isinstance(parts, int) or parts < 2:
        raise InputError(
            f"cannot split a {name} into {parts!r} parts: it splits by features into 2 or more"
        )
    if weight.ndim != 2 or bias.shape != (weight.shape[0],) or len(classes) != weight.shape[0]:
        raise InputError(
            f"weight {weight.shape}, bias {bias.shape} and {len(classes)} classes do not match:"
            " weight is classes x features, bias one per class"
        )
    count = weight.shape[1]
    check_parts(parts, count, "features")
    groups = [
        _group(index, np.asarray(members, dtype=np.int64), weight, bias, count)
        for index, members in enumerate(shares(count, parts))
    ]
    combiner = Component(index=parts, kind="vote", arrays={"classes": np.asarray(classes)})
    return SplitModel(technique="features", flow="combine", components=(*groups, combiner))


def run_partial_scores(component: Component, inputs: NDArray[Any]) -> NDArray[np.float64]:
    """Return this group's partial scores for the rows: ``1 x rows x classes``."""
    rows = np.asarray(inputs, dtype=np.float64)
    features = int(component.settings["features"])
    if rows.ndim != 2 or rows.shape[1] != features:
        raise InputError(
            f"component {component.index} takes rows of {features} features,"
            f" not an array of shape {rows.shape}"
        )
    scores = np.zeros((len(rows), int(component.settings["classes"])), dtype=np.float64)
    if "bias" in component.arrays:
        scores += component.arrays["bias"]
    scores += rows[:, component.arrays["features"]] @ component.arrays["weight"]
    return scores[np.newaxis]


def _group(
    index: int, members: NDArray[np.int64], weight: NDArray[Any], bias: NDArray[Any], count: int
) -> Component:
    arrays = {"features": members, "weight": np.ascontiguousarray(weight[:, members].T)}
    if index == 0:
        arrays["bias"] = bias
    return Component(
        index=index,
        kind="partial-scores",
        arrays=arrays,
        settings={"features": count, "classes": int(weight.shape[0])},
    )


def _numbers(value: Any, name: str) -> NDArray[np.float64]:
    """An array of finite float64 numbers, or InputError."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"the model's {name} is not an array of numbers") from None
    if not np.isfinite(array).all():
        raise InputError(f"the model's {name} holds NaN or infinite values")
    return array


def as_linear_state_dict(model: Any) -> Any:
    """``model`` itself, or, for a Mercato logistic regression (``numpy-logreg``, as a P2
    training exports it), the same model as a torch ``Linear`` state dict over rows as the
    file holds them: its scaling folded into the weights, so it splits by features."""
    from mercato.ml.model_files import WeightsModel, rescaled

    if type(model).__name__ == "Pipeline":
        return scaled_logistic_state_dict(model)
    if not isinstance(model, WeightsModel):
        return model
    spec = dict(model.trainer.spec())
    if spec.get("kind") != "numpy-logreg":
        raise InputError(
            f"a Mercato {spec.get('kind')} model does not split; a numpy-logreg "
            "model, a torch state dict or a scikit-learn model does"
        )
    inputs = model.inputs
    source = (inputs.mean, inputs.scale) if inputs is not None and inputs.scales else None
    flat = rescaled(spec, np.asarray(model.weights, dtype=np.float64), source, None)
    n_in, n_out = int(spec["n_features"]), int(spec["n_classes"])
    cut = n_in * n_out
    weight = flat[:cut].reshape(n_in, n_out).T  # numpy-logreg keeps it features x classes
    return {"0.weight": np.ascontiguousarray(weight), "0.bias": flat[cut : cut + n_out]}


def scaled_logistic_state_dict(pipeline: Any) -> dict[str, NDArray[np.float64]]:
    """A scikit-learn ``Pipeline(StandardScaler, LogisticRegression)`` (as P1 delivers one) as
    a ``Linear`` state dict over raw rows; any other pipeline is refused in one line."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    steps = [step for _, step in pipeline.steps]
    if not (
        len(steps) == 2
        and isinstance(steps[0], StandardScaler)
        and isinstance(steps[1], LogisticRegression)
        and hasattr(steps[1], "classes_")
    ):
        raise InputError(
            "a pipeline splits only as a fitted StandardScaler then a LogisticRegression"
        )
    scaler, logistic = steps
    classes = np.asarray(logistic.classes_)
    if classes.dtype.kind not in "iu" or list(classes) != list(range(len(classes))):
        raise InputError(f"its labels must be 0 to n - 1, not {list(classes)}")
    weight = np.asarray(logistic.coef_, dtype=np.float64)
    bias = np.asarray(logistic.intercept_, dtype=np.float64)
    if weight.shape[0] == 1:  # binary: one score s, class 1 where s > 0: scores 0 and s
        weight = np.vstack([np.zeros_like(weight), weight])
        bias = np.concatenate([np.zeros_like(bias), bias])
    mean = np.zeros(weight.shape[1]) if scaler.mean_ is None else scaler.mean_
    scale = np.ones(weight.shape[1]) if scaler.scale_ is None else scaler.scale_
    weight = weight / np.asarray(scale, dtype=np.float64)  # over (x - m) / s  ->  over x
    bias = bias - weight @ np.asarray(mean, dtype=np.float64)
    return {"0.weight": np.ascontiguousarray(weight), "0.bias": bias}
