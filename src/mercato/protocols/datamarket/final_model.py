"""The model owner's final model of a task, as one model that predicts, and its Result.

The chain holds the hash of the last public part (hidden layers and public training head);
the MO keeps its private head (:mod:`.state_files`), fine-tuned at the end. :func:`as_model`
joins the two into a scikit-learn ``MLPClassifier`` (ReLU, softmax output; label ``i`` is
the task's class ``i``, :attr:`TaskSpec.class_names`), after a ``StandardScaler`` in a
``Pipeline`` when the task publishes a scaling (:mod:`.inputs`), so the model takes rows as
the data file holds them. It is written as ``.skops`` and loads back with
:func:`mercato.ml.model_files.read_model` (skops and Mercato trust these types). A model of
one hidden layer is also a :class:`~mercato.ml.model_files.WeightsModel` of ``torch-mlp``
that carries the task's inputs (so it scales rows itself), written as ``.safetensors``.

:func:`take_model` is ``datamarket model``: the final public part read from the blob the
chain names (the store checks the bytes against that hash), the head recorded by ``post``
(tuned now if ``finish`` did not), measured on the MO's held-out rows or the rows given, with
what each round did: its public model's accuracy on the same rows, who was used and
excluded, the scores and the pay (:func:`rounds_report`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mercato.errors import InputError
from mercato.protocols.datamarket import history
from mercato.protocols.datamarket.data_owner import load_spec
from mercato.protocols.datamarket.inputs import aligned
from mercato.protocols.datamarket.market import MAX_ROUNDS
from mercato.protocols.datamarket.model_owner import (
    OwnerModel,
    public_accuracy,
    tune_head,
)
from mercato.protocols.datamarket.owner_data import of_head
from mercato.protocols.datamarket.rules import fit_problem, head_problem, take_problem
from mercato.protocols.datamarket.state_files import (
    heads_file,
    read_heads,
    record_head,
    task_key,
)
from mercato.protocols.datamarket.views import Finalised
from mercato.protocols.results import Result, measure
from mercato.storage.base import hash_hex
from mercato.units import format_ether

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.ml.trainers.weights import Weights
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace

FINAL_MODEL = "final.skops"
"""The file the model owner's agent writes in ``<state folder>/task-<id>/``."""


def as_model(spec: TaskSpec, public: Weights, private: Weights) -> Any:
    """Body of ``public`` and head ``private`` as a scikit-learn classifier (see module)."""
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import LabelBinarizer

    model = spec.build_model()
    layers = _layers(spec, public, private)
    binary = model.n_classes == 2
    if binary:  # scikit-learn's binary MLP has one logistic output: z = logit 1 - logit 0
        weight, bias = layers[-1]
        layers[-1] = (weight[1:] - weight[:1], bias[1:] - bias[:1])
    mlp = MLPClassifier(hidden_layer_sizes=model.hidden, activation="relu")
    mlp.coefs_ = [np.ascontiguousarray(weight.T) for weight, _ in layers]
    mlp.intercepts_ = [bias.copy() for _, bias in layers]
    mlp.n_layers_ = len(layers) + 1
    mlp.n_outputs_ = 1 if binary else model.n_classes
    mlp.out_activation_ = "logistic" if binary else "softmax"
    mlp.n_features_in_ = model.n_features
    mlp._label_binarizer = LabelBinarizer().fit(np.arange(model.n_classes))
    mlp.classes_ = mlp._label_binarizer.classes_
    inputs = spec.inputs
    if inputs is None or not inputs.scales:
        return mlp
    return Pipeline([("scale", _scaler(inputs.mean, inputs.scale)), ("mlp", mlp)])


def as_weights(spec: TaskSpec, public: Weights, private: Weights) -> Any:
    """The model as a ``torch-mlp`` WeightsModel (with the task's inputs, so it takes rows as
    the file holds them); InputError unless it has one hidden layer."""
    from mercato.ml.model_files import WeightsModel
    from mercato.ml.trainers import TorchMLP

    model = spec.build_model()
    if len(model.hidden) != 1:
        raise InputError(
            f"this task's final model has {len(model.hidden)} hidden layers: no .safetensors "
            "trainer holds it; write it as .skops (a scikit-learn MLP)"
        )
    trainer = TorchMLP(model.n_features, model.n_classes, hidden=model.hidden[0])
    flat = np.concatenate(
        [np.concatenate([w.ravel(), b]) for w, b in _layers(spec, public, private)]
    )
    return WeightsModel(trainer, flat.astype(np.float32), spec.inputs)


def _layers(spec: TaskSpec, public: Weights, private: Weights) -> list[tuple[Any, Any]]:
    """(weight ``out x in``, bias) of every layer: the body of ``public``, then ``private``."""
    model = spec.build_model()
    flat = np.concatenate([np.asarray(public)[: model.n_public - model.n_private], private])
    widths = [model.n_features, *model.hidden, model.n_classes]
    layers, offset = [], 0
    for fan_in, fan_out in itertools.pairwise(widths):
        weight = flat[offset : offset + fan_in * fan_out].reshape(fan_out, fan_in)
        offset += fan_in * fan_out
        layers.append(
            (weight.astype(np.float32), flat[offset : offset + fan_out].astype(np.float32))
        )
        offset += fan_out
    return layers


def _scaler(mean: tuple[float, ...], scale: tuple[float, ...]) -> Any:
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler()
    scaler.mean_ = np.asarray(mean, dtype=np.float64)
    scaler.scale_ = np.asarray(scale, dtype=np.float64)
    scaler.var_ = scaler.scale_**2
    scaler.n_features_in_ = len(mean)
    scaler.n_samples_seen_ = 0
    return scaler


def rounds_report(
    market: Marketplace, task_id: int, spec: TaskSpec, data: Dataset | None
) -> list[dict[str, Any]]:
    """Each finalised round: its public model's accuracy on ``data`` (with the public
    training head), the data owners used and excluded (by address), their scores, the pay."""
    from mercato.protocols.datamarket.data_owner import load_model

    dm = market.data_market
    members = dm.members(task_id)
    rounds = []
    for number, event in sorted(history.finalised(dm, task_id).items()):
        done = Finalised.of(event)
        entry: dict[str, Any] = {
            "round": number,
            "used": [members[i] for i in done.used],
            "excluded": [members[i] for i in done.excluded],
            "scores": {members[i]: score for i, score in done.scores.items()},
            "paid_each_wei": done.paid_each,
            "paid_each": format_ether(done.paid_each),
            "model_hash": hash_hex(done.model_hash),
        }
        if data is not None:
            entry["accuracy"] = public_accuracy(spec, load_model(market, done.model_hash), data)
        rounds.append(entry)
    return rounds


def final_result(
    market: Marketplace,
    task_id: int,
    spec: TaskSpec,
    model: OwnerModel,
    evaluation: Dataset | None,
    *,
    weights: bool = False,
    reported: Mapping[str, Any] | None = None,
) -> Result:
    """The final model (``weights``: as a WeightsModel) with what the task recorded, and
    every metric measured on ``evaluation`` (aligned to the task's columns and classes)."""
    problem = None if evaluation is None else fit_problem(task_id, spec, evaluation)
    if problem is not None:
        raise InputError(f"cannot measure the final model: {problem}")
    dm = market.data_market
    public_hash = history.model_before(dm, task_id, MAX_ROUNDS + 1)
    build = as_weights if weights else as_model
    task = dm.task(task_id)
    result = Result(
        protocol="datamarket",
        entry=task_id,
        model=build(spec, model.public, model.private),
        model_hash=hash_hex(public_hash),
        reported={
            "status": task.status.label,
            "mode": task.mode.label,
            "rule": spec.rule,
            "classes": list(spec.class_names),
            "features": None if spec.inputs is None else list(spec.inputs.features),
            **(reported or {}),
            "rounds": rounds_report(market, task_id, spec, evaluation),
        },
    )
    return result if evaluation is None else measure(result, aligned(spec, evaluation))


def take_model(
    market: Marketplace,
    me: Identity,
    task_id: int,
    folder: Path,
    evaluation: Dataset | None = None,
    *,
    weights: bool = False,
) -> Result:
    """``datamarket model``: the MO's final model of a finished or expired task (see module).

    With a private head recorded in ``folder``, the head (fine-tuned and recorded now if it
    was not) and, unless ``evaluation`` is given, measured on the MO's held-out rows: what
    ``finish`` measured. Without one, the public part with its training head.
    """
    from mercato.ml.trainers.weights import weights_from_bytes
    from mercato.protocols.datamarket.model_owner import final_public

    dm = market.data_market
    task = dm.task(task_id)
    problem = take_problem(task, me.address)
    if problem is not None:
        raise InputError(problem)
    spec = load_spec(market, task_id)
    public = final_public(market, task_id)  # the store checks the bytes against the chain's hash
    head = read_heads(folder, me.address).get(task_key(market, task_id))
    if head is None:
        n_private = spec.build_model().n_private
        said = f"public (no private head in {heads_file(folder, me.address)})"
        return final_result(
            market, task_id, spec, OwnerModel(public, public[-n_private:]), evaluation,
            weights=weights, reported={"head": said},
        )  # fmt: skip
    posted = hash_hex(history.posted(dm, task_id)["model_hash"])
    problem = head_problem(task_id, head, heads_file(folder, me.address), posted)
    if problem is not None:
        raise InputError(problem)
    if head.tuned is None:
        head = tune_head(market, task, spec, head).head
        record_head(folder, me.address, task_key(market, task_id), head)
    assert head.tuned is not None
    private = weights_from_bytes(bytes.fromhex(head.tuned))
    measured = evaluation if evaluation is not None else of_head(head, task_id).test
    return final_result(
        market, task_id, spec, OwnerModel(public, private), measured, weights=weights,
        reported={"head": "private", "trained_on": head.source,
                  "accuracy_before": head.accuracy_before, "accuracy_after": head.accuracy_after},
    )  # fmt: skip


def final_path(folder: Path, task_id: int) -> Path:
    """Where the MO's agent writes the final model of task ``task_id``."""
    return folder / f"task-{task_id}" / FINAL_MODEL
