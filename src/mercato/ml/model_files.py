"""Model files a participant brings or takes away, in formats that load without running code.

Two formats, both opened without unpickling anything:

- ``.skops`` (scikit-learn estimators, written by ``skops.io.dump``): loaded by skops, which
  rebuilds only the types it is told to trust. Mercato trusts skops's own safe list plus the
  scikit-learn types of :data:`mercato.ml.model_io.ALLOWED_GLOBALS`; a file naming any other
  type is refused with the names.
- ``.safetensors`` (weights): a Mercato model (its trainer's spec in the metadata key
  ``mercato.trainer`` and one tensor ``weights``), or a torch ``state_dict`` of
  ``Sequential(Linear, ReLU, Linear)`` saved with ``safetensors.torch.save_file``.

Pickle files (``.pkl``, ``.joblib``, torch's ``.pt``) are refused by name: opening one runs
whatever it names. Model owners start P2 and P3 trainings from a file
(:func:`starting_weights`); buyers take their model away as a file (:func:`write_model`) with
its metrics beside it (:func:`write_metrics`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError
from mercato.ml.columns import Inputs
from mercato.ml.trainers import Trainer, Weights, trainer_from_spec
from mercato.user_files import read_user_file, write_user_file

MODEL_SUFFIXES = (".skops", ".safetensors")
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pt", ".pth", ".sav", ".bin")
MAX_MODEL_BYTES = 256 * 1024 * 1024
TRAINER_KEY = "mercato.trainer"
INPUTS_KEY = "mercato.inputs"
WEIGHTS_TENSOR = "weights"


@dataclass(frozen=True, eq=False)
class WeightsModel:
    """A Mercato model: a trainer (family and shape) and its flat weights, and the inputs it
    takes (columns, classes, the scaling it applies to rows) if it was trained on a file;
    predicts like sklearn from rows as the file holds them."""

    trainer: Trainer
    weights: Weights
    inputs: Inputs | None = None

    def predict(self, X: NDArray[np.float32]) -> NDArray[np.int64]:
        rows = np.asarray(X, dtype=np.float32) if self.inputs is None else self.inputs.scaled(X)
        return self.trainer.predict(self.weights, rows)


def read_model(path: Path | str) -> Any:
    """The model in ``path``: a scikit-learn estimator, a :class:`WeightsModel`, or a
    ``{name: array}`` torch state dict. Raises InputError for anything unsafe or unreadable."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        raise InputError(
            f"{path}: {suffix} files are pickles, and opening one runs whatever it names; "
            "save the model with skops.io.dump (scikit-learn) or safetensors (weights)"
        )
    if suffix not in MODEL_SUFFIXES:
        raise InputError(
            f"{path}: unknown model file type {suffix or '(none)'!r}; "
            f"expected one of {', '.join(MODEL_SUFFIXES)}"
        )
    data = read_user_file(path, MAX_MODEL_BYTES)
    if suffix == ".skops":
        return _load_skops(path, data)
    return _load_safetensors(path, data)


def write_model(path: Path | str, model: Any) -> Path:
    """Write a scikit-learn estimator as ``.skops`` or a :class:`WeightsModel` as
    ``.safetensors``; ``path``'s suffix must fit. Returns the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if isinstance(model, WeightsModel):
        if suffix != ".safetensors":
            raise InputError(f"{path}: this model is weights: name the file *.safetensors")
        from safetensors.numpy import save

        metadata = {TRAINER_KEY: json.dumps(dict(model.trainer.spec()), sort_keys=True)}
        if model.inputs is not None:
            metadata[INPUTS_KEY] = json.dumps(model.inputs.to_document(), sort_keys=True)
        tensors = {WEIGHTS_TENSOR: np.ascontiguousarray(model.weights)}
        data = save(tensors, metadata=metadata)
    else:
        if suffix != ".skops":
            raise InputError(f"{path}: this model is a scikit-learn estimator: name it *.skops")
        import skops.io

        data = skops.io.dumps(model)
    return write_user_file(path, data)


def write_metrics(path: Path | str, metrics: Mapping[str, Any]) -> Path:
    """The measured metrics (and what they were measured on) as JSON beside the model."""
    text = json.dumps(dict(metrics), indent=2, sort_keys=True) + "\n"
    return write_user_file(Path(path), text.encode())


def starting_weights(path: Path | str, trainer: Trainer, inputs: Inputs | None = None) -> Weights:
    """The flat weights of ``trainer`` that the model in ``path`` holds, to train on from,
    over rows scaled by ``inputs`` (the training's published scaling) if given.

    Accepted: a Mercato ``.safetensors`` model of the same trainer spec; a torch state dict
    ``Sequential(Linear, ReLU, Linear)`` for ``torch-mlp``; a scikit-learn
    ``LogisticRegression`` for ``numpy-logreg`` or a one-hidden-layer ReLU ``MLPClassifier``
    for ``torch-mlp``, alone or after a ``StandardScaler`` in a ``Pipeline``. The model is
    taken to read rows as the file holds them, or as its own scaler or inputs scale them;
    its first layer is re-expressed exactly for the training's scaling (a linear layer over
    ``(x - m) / s`` is a linear layer over ``x``). Shapes must fit the trainer: anything
    else is one line saying why.
    """
    path = Path(path)
    model = read_model(path)
    spec = dict(trainer.spec())
    n_features, n_classes = int(spec["n_features"]), int(spec["n_classes"])
    source: tuple[Any, Any] | None = None
    if type(model).__name__ == "Pipeline":
        source, model = _unwrap_scaler(path, model)
    if isinstance(model, WeightsModel):
        theirs = dict(model.trainer.spec())
        if theirs != spec:
            raise InputError(f"{path}: a model of {theirs}, not of this training's {spec}")
        flat = np.asarray(model.weights, dtype=np.float64)
        if model.inputs is not None and model.inputs.scales:
            source = (model.inputs.mean, model.inputs.scale)
    elif isinstance(model, dict):
        flat = _mlp_flat(path, spec, _state_dict_layers(path, model))
    else:
        flat = _sklearn_flat(path, spec, model, n_features, n_classes)
    if len(flat) != trainer.n_params:
        raise InputError(
            f"{path}: {len(flat)} weights; this training's model has {trainer.n_params}"
        )
    target = None if inputs is None or not inputs.scales else (inputs.mean, inputs.scale)
    flat = rescaled(spec, flat, source, target)
    if not np.isfinite(flat).all():
        raise InputError(f"{path}: the weights hold NaN or infinite values")
    return flat


def rescaled(
    spec: Mapping[str, Any],
    flat: NDArray[np.float64],
    source: tuple[Any, Any] | None,
    target: tuple[Any, Any] | None,
) -> NDArray[np.float64]:
    """The same model (``spec``'s layout) over rows scaled by ``target`` (mean, scale) instead
    of ``source`` (None: raw rows): only the first layer changes."""
    if source is None and target is None:
        return flat
    n_in = int(spec["n_features"])
    width = int(spec["n_classes"] if spec["kind"] == "numpy-logreg" else spec["hidden"])
    cut = n_in * width
    if spec["kind"] == "numpy-logreg":  # weight in x out, row by row
        weight = flat[:cut].reshape(n_in, width).T
    else:  # torch layout: weight out x in
        weight = flat[:cut].reshape(width, n_in)
    bias = flat[cut : cut + width]
    if source is not None:  # over (x - m) / s  ->  over x
        weight = weight / np.asarray(source[1], dtype=np.float64)
        bias = bias - weight @ np.asarray(source[0], dtype=np.float64)
    if target is not None:  # over x  ->  over (x - m) / s
        bias = bias + weight @ np.asarray(target[0], dtype=np.float64)
        weight = weight * np.asarray(target[1], dtype=np.float64)
    head = weight.T.ravel() if spec["kind"] == "numpy-logreg" else weight.ravel()
    return np.concatenate([head, bias, flat[cut + width :]]).astype(np.float64)


def _unwrap_scaler(path: Path, pipeline: Any) -> tuple[tuple[Any, Any], Any]:
    """((mean, scale), estimator) of a ``Pipeline(StandardScaler, estimator)``."""
    from sklearn.preprocessing import StandardScaler

    steps = [step for _, step in pipeline.steps]
    if len(steps) != 2 or not isinstance(steps[0], StandardScaler):
        raise InputError(
            f"{path}: a Pipeline starts a training only as StandardScaler then the model; "
            f"this one is {' -> '.join(type(s).__name__ for s in steps)}"
        )
    scaler = steps[0]
    mean = np.zeros(scaler.n_features_in_) if scaler.mean_ is None else scaler.mean_
    scale = np.ones(scaler.n_features_in_) if scaler.scale_ is None else scaler.scale_
    return (mean, scale), steps[1]


def _sklearn_flat(
    path: Path, spec: Mapping[str, Any], model: Any, n_features: int, n_classes: int
) -> NDArray[np.float64]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if isinstance(model, LogisticRegression) and spec["kind"] == "numpy-logreg":
        coef, intercept = np.asarray(model.coef_), np.asarray(model.intercept_)
        if coef.shape[0] == 1 and n_classes == 2:  # binary: one score, class 1 against 0
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        if coef.shape != (n_classes, n_features):
            raise InputError(
                f"{path}: a logistic regression over {coef.shape[1]} features and "
                f"{coef.shape[0]} classes; this training has {n_features} and {n_classes}"
            )
        return np.concatenate([coef.T.ravel(), intercept]).astype(np.float64)
    if isinstance(model, MLPClassifier) and spec["kind"] == "torch-mlp":
        if model.activation != "relu" or len(model.coefs_) != 2 or n_classes < 3:
            raise InputError(
                f"{path}: only a one-hidden-layer ReLU MLPClassifier over 3 or more classes "
                "maps onto torch-mlp"
            )
        layers = [
            (np.asarray(w).T, np.asarray(b))
            for w, b in zip(model.coefs_, model.intercepts_, strict=True)
        ]
        return _mlp_flat(path, spec, layers)
    raise InputError(
        f"{path}: a {type(model).__name__} cannot start a {spec['kind']} training "
        "(LogisticRegression starts numpy-logreg, MLPClassifier torch-mlp)"
    )


def _state_dict_layers(
    path: Path, tensors: Mapping[str, NDArray[Any]]
) -> list[tuple[NDArray[Any], NDArray[Any]]]:
    prefixes = sorted({name.rsplit(".", 1)[0] for name in tensors}, key=_layer_order)
    if set(tensors) != {f"{p}.{k}" for p in prefixes for k in ("weight", "bias")}:
        raise InputError(f"{path}: tensors {sorted(tensors)} are not Linear layers' weight/bias")
    return [(tensors[f"{p}.weight"], tensors[f"{p}.bias"]) for p in prefixes]


def _layer_order(prefix: str) -> tuple[int, str]:
    last = prefix.rsplit(".", 1)[-1]
    return (int(last), prefix) if last.isdigit() else (0, prefix)


def _mlp_flat(
    path: Path, spec: Mapping[str, Any], layers: list[tuple[NDArray[Any], NDArray[Any]]]
) -> NDArray[np.float64]:
    """Torch layout of two Linear layers (weight ``out x in``) as torch-mlp's flat vector."""
    if spec["kind"] != "torch-mlp":
        raise InputError(f"{path}: layer weights start a torch-mlp training, not {spec['kind']}")
    shapes = [
        (spec["hidden"], spec["n_features"]),
        (spec["n_classes"], spec["hidden"]),
    ]
    got = [tuple(w.shape) for w, _ in layers]
    if got != shapes or any(b.shape != (w.shape[0],) for w, b in layers):
        raise InputError(f"{path}: layer shapes {got}; this training's model needs {shapes}")
    return np.concatenate([np.concatenate([w.ravel(), b.ravel()]) for w, b in layers]).astype(
        np.float64
    )


def _load_skops(path: Path, data: bytes) -> Any:
    import skops.io

    from mercato.ml.model_io import ALLOWED_GLOBALS

    try:
        untrusted = skops.io.get_untrusted_types(data=data)
    except Exception as exc:  # skops raises many kinds for a damaged archive
        raise InputError(f"{path}: not a readable skops file: {exc}") from None
    allowed = {f"{module}.{name}" for module, name in ALLOWED_GLOBALS}
    refused = sorted(set(untrusted) - allowed)
    if refused:
        raise InputError(
            f"{path}: names types Mercato does not load: {', '.join(refused[:5])}"
            + (f" and {len(refused) - 5} more" if len(refused) > 5 else "")
        )
    try:
        model = skops.io.loads(data, trusted=list(untrusted))
    except Exception as exc:
        raise InputError(f"{path}: cannot load the skops file: {exc}") from None
    if not callable(getattr(model, "predict", None)):
        raise InputError(f"{path}: holds a {type(model).__name__}, which does not predict")
    return model


def _load_safetensors(path: Path, data: bytes) -> Any:
    from safetensors import SafetensorError, safe_open
    from safetensors.numpy import load

    try:
        tensors = load(data)
        with safe_open(str(path), framework="numpy") as handle:
            metadata = handle.metadata() or {}
    except (SafetensorError, ValueError, OSError) as exc:
        raise InputError(f"{path}: not a readable safetensors file: {exc}") from None
    if TRAINER_KEY not in metadata:
        return dict(tensors)
    try:
        spec = json.loads(metadata[TRAINER_KEY])
    except ValueError:
        raise InputError(f"{path}: metadata {TRAINER_KEY} is not JSON") from None
    if not isinstance(spec, dict) or set(tensors) != {WEIGHTS_TENSOR}:
        raise InputError(f"{path}: a Mercato model holds one tensor {WEIGHTS_TENSOR!r} and a spec")
    trainer = trainer_from_spec(spec)
    weights = np.asarray(tensors[WEIGHTS_TENSOR])
    if weights.ndim != 1 or len(weights) != trainer.n_params:
        raise InputError(
            f"{path}: {weights.shape} weights; {spec['kind']} needs {trainer.n_params}"
        )
    inputs = None
    if INPUTS_KEY in metadata:
        try:
            document = json.loads(metadata[INPUTS_KEY])
        except ValueError:
            raise InputError(f"{path}: metadata {INPUTS_KEY} is not JSON") from None
        inputs = Inputs.from_document(document, f"{path}: metadata {INPUTS_KEY}")
    return WeightsModel(trainer, weights, inputs)
