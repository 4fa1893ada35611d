"""Split a neural network into contiguous blocks of dense layers.

Each block (one component) multiplies by its layers' weights (stored ``inputs x outputs``),
adds the biases and applies the activation after each layer; the last block applies the
output activation and returns labels (the argmax, as the whole model's ``predict``) or, when
asked, the raw outputs. Two sources:

- a torch ``Sequential(Linear, ReLU, Linear, ...)`` state dict, ``{name: array}`` as
  :func:`mercato.ml.model_files.read_model` returns it (ReLU between layers, none after the
  last; labels are the output indices);
- a fitted scikit-learn ``MLPClassifier`` (its hidden and output activations and classes).

A block computes exactly what the whole network computes for its layers, so the split
predictions equal those of the same network run as one block.
"""

from __future__ import annotations

from collections.abc import Mapping
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

HIDDEN_ACTIVATIONS = ("identity", "relu", "tanh", "logistic")
OUTPUT_ACTIVATIONS = ("identity", "softmax", "logistic")
OUTPUTS = ("labels", "logits")


def split_state_dict(
    tensors: Mapping[str, NDArray[Any]], parts: int, output: str = "labels"
) -> SplitModel:
    """Split a torch ``Sequential`` of ``Linear`` layers with ReLU between them."""
    layers = _state_dict_layers(tensors)
    classes = np.arange(layers[-1][0].shape[1], dtype=np.int64)
    return _split(layers, parts, "relu", "identity", classes, output)


def split_mlp(mlp: Any, parts: int, output: str = "labels") -> SplitModel:
    """Split a fitted scikit-learn ``MLPClassifier``."""
    layers = [
        (np.asarray(w), np.asarray(b)) for w, b in zip(mlp.coefs_, mlp.intercepts_, strict=True)
    ]
    classes = numeric_classes(mlp.classes_)
    return _split(layers, parts, mlp.activation, mlp.out_activation_, classes, output)


def run_dense(component: Component, inputs: NDArray[Any]) -> NDArray[Any]:
    """Run one block of layers; the last block turns the outputs into labels if asked."""
    settings = component.settings
    activation: NDArray[Any] = np.asarray(inputs)
    for layer in range(int(settings["layers"])):
        activation = activation @ component.arrays[f"{layer:04d}.weight"]
        activation += component.arrays[f"{layer:04d}.bias"]
        last = layer == int(settings["layers"]) - 1
        if not last or not settings["final"]:
            _apply(settings["hidden"], activation)
    if not settings["final"]:
        return activation
    _apply(settings["out"], activation)
    if settings["output"] == "logits":
        return activation
    classes = np.asarray(component.arrays["classes"])
    if activation.shape[1] == 1:  # one logistic output: scikit-learn's binary threshold
        chosen = (activation.ravel() > 0.5).astype(np.int64)
    else:
        chosen = np.argmax(activation, axis=1)
    labels: NDArray[Any] = classes.take(chosen, axis=0)
    return labels


def _split(
    layers: list[tuple[NDArray[Any], NDArray[Any]]],
    parts: int,
    hidden: str,
    out: str,
    classes: NDArray[Any],
    output: str,
) -> SplitModel:
    check_parts(parts, len(layers), "layers")
    if hidden not in HIDDEN_ACTIVATIONS or out not in OUTPUT_ACTIVATIONS:
        raise InputError(f"activation {hidden!r} then {out!r} does not split")
    if output not in OUTPUTS:
        raise InputError(f"output must be one of {', '.join(OUTPUTS)}, not {output!r}")
    blocks = shares(len(layers), parts)
    components = []
    for index, block in enumerate(blocks):
        final = index == len(blocks) - 1
        arrays: dict[str, NDArray[Any]] = {}
        for number, layer in enumerate(block):
            weight, bias = layers[layer]
            arrays[f"{number:04d}.weight"] = np.ascontiguousarray(weight)
            arrays[f"{number:04d}.bias"] = np.ascontiguousarray(bias)
        if final:
            arrays["classes"] = classes
        settings = {"layers": len(block), "hidden": hidden, "out": out, "final": final}
        components.append(
            Component(
                index=index,
                kind="dense",
                arrays=arrays,
                settings={**settings, "output": output} if final else settings,
            )
        )
    return SplitModel(technique="layers", flow="chain", components=tuple(components))


def _state_dict_layers(
    tensors: Mapping[str, NDArray[Any]],
) -> list[tuple[NDArray[Any], NDArray[Any]]]:
    """Linear layers of a state dict in order, weights turned to ``inputs x outputs``."""
    prefixes = sorted({name.rsplit(".", 1)[0] for name in tensors}, key=_layer_order)
    if not prefixes or set(tensors) != {f"{p}.{k}" for p in prefixes for k in ("weight", "bias")}:
        raise InputError(f"tensors {sorted(tensors)[:6]} are not Linear layers' weight and bias")
    layers = [
        (np.asarray(tensors[f"{p}.weight"]).T, np.asarray(tensors[f"{p}.bias"])) for p in prefixes
    ]
    for (weight, bias), (following, _) in zip(layers, [*layers[1:], (None, None)], strict=True):
        if weight.ndim != 2 or bias.shape != (weight.shape[1],):
            raise InputError(f"a Linear layer's weight {weight.shape} and bias {bias.shape} differ")
        if following is not None and following.shape[0] != weight.shape[1]:
            raise InputError(
                f"a layer of {weight.shape[1]} outputs feeds one of {following.shape[0]} inputs"
            )
    return layers


def _layer_order(prefix: str) -> tuple[int, str]:
    last = prefix.rsplit(".", 1)[-1]
    return (int(last), prefix) if last.isdigit() else (0, prefix)


def _apply(name: str, values: NDArray[Any]) -> None:
    """Apply an activation in place, with scikit-learn's own functions' arithmetic."""
    if name == "relu":
        np.maximum(values, 0, out=values)
    elif name == "tanh":
        np.tanh(values, out=values)
    elif name == "logistic":
        from scipy.special import expit

        expit(values, out=values)
    elif name == "softmax":
        shifted = values - values.max(axis=1)[:, np.newaxis]
        np.exp(shifted, out=values)
        values /= values.sum(axis=1)[:, np.newaxis]
