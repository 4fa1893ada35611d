"""The model owner's trained model of a P2 training, with what each round did (``training
export``).

The chain holds, per round, the hash of the round model the MO published (sealed to itself
and the COs) and, per job, ``keccak(model || nonce)`` of the model each CO trained. The
model after a round is the FedAvg of the models its replicas agreed on, exactly as the MO's
agent computes it: :func:`replay` opens each round model with the MO's key
(:func:`~mercato.protocols.training.compute.open_round_model`), re-runs the review of each
trained round (:func:`~mercato.protocols.training.model_owner.review_round`, which opens
every job and checks it against its hash on chain) and aggregates. Nothing the agent kept
is needed: the chain, the blobs and the MO's key give the model.

:func:`take_model` is that model as a :class:`~mercato.ml.model_files.WeightsModel` (written
as ``.safetensors``), with per round the subsets agreed, the frauds found and, given the
MO's rows, the accuracy; every metric measured on those rows, matched to the dataset's
columns and classes by name (:mod:`mercato.ml.columns`). CKKS trainings are not exported:
their weights open only with the MO's secret context, which no command holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from mercato.errors import InputError
from mercato.ml import columns
from mercato.ml.trainers import Weights, weights_from_bytes, weights_to_bytes
from mercato.protocols.results import Result, measure
from mercato.protocols.training import history
from mercato.protocols.training.compute import load_manifest, load_method, open_round_model
from mercato.protocols.training.model_owner import RoundReview, aggregate, review_round
from mercato.protocols.training.rules import take_problem

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.training.documents import Manifest

FINAL_MODEL = "final.safetensors"
"""The file the model owner's agent writes in ``<state folder>/<agent>/training-<id>/``."""


@dataclass(frozen=True)
class RoundOutcome:
    """One round as replayed: its review (None if it was never drawn) and the model after it."""

    round: int
    review: RoundReview | None
    after: Weights

    def record(self) -> dict[str, Any]:
        review = self.review
        return {
            "round": self.round,
            "trained": review is not None,
            "jobs": 0 if review is None else len(review.checks),
            "agreed_subsets": [] if review is None else sorted(review.consensus),
            "ties": [] if review is None else list(review.ties),
            "frauds": []
            if review is None
            else [
                {"instance": e.instance_id, "co": e.co, "reason": e.reason} for e in review.frauds
            ],
        }


def replay(market: Marketplace, me: Identity, training_id: int) -> list[RoundOutcome]:
    """Every round of the training so far, rebuilt with the MO's key (see the module)."""
    tm = market.training_market
    training = tm.training(training_id)
    outcomes = []
    for number in range(1, training.round + 1):
        _, model = open_round_model(market, me, training_id, number)
        start = weights_from_bytes(model.payload)
        if history.round_started(market, training_id, number) is None:
            outcomes.append(RoundOutcome(number, None, start))
            continue
        review = review_round(market, me, training_id, number)
        after = aggregate(market, review, training.dataset_id, start)
        outcomes.append(RoundOutcome(number, review, after))
    return outcomes


def evaluation_rows(training_id: int, manifest: Manifest, data: Dataset | None) -> Dataset | None:
    """``data`` in the dataset's column order and labels (InputError if it does not fit)."""
    if data is None:
        return None
    model = f"training {training_id}'s model"
    problem = columns.fit_problem(
        model, manifest.n_features, manifest.features, manifest.class_names, data
    )
    if problem is not None:
        raise InputError(f"cannot measure {model}: {problem}")
    return columns.aligned(data, manifest.features, manifest.class_names)


def take_model(
    market: Marketplace, me: Identity, training_id: int, evaluation: Dataset | None = None
) -> Result:
    """``training export``: the MO's model after the training's last round (see the module),
    measured on ``evaluation`` if given."""
    from mercato.crypto.commit import keccak
    from mercato.ml.model_files import WeightsModel
    from mercato.protocols.training.model_owner import accuracy

    tm = market.training_market
    training = tm.training(training_id)
    problem = take_problem(training, me.address)
    if problem is not None:
        raise InputError(problem)
    _, method = load_method(market, training.model_id)
    if method.ckks:
        raise InputError(
            f"training {training_id} trains encrypted (CKKS): its weights open only with the "
            "model owner's secret context; export takes plaintext trainings"
        )
    manifest = load_manifest(market, training.dataset_id)
    rows = evaluation_rows(training_id, manifest, evaluation)
    rounds = []
    outcomes = replay(market, me, training_id)
    for outcome in outcomes:
        entry = outcome.record()
        if rows is not None:
            entry["accuracy"] = accuracy(method, outcome.after, rows)
        rounds.append(entry)
    final = np.asarray(outcomes[-1].after)
    trainer = method.build_trainer()
    result = Result(
        protocol="training",
        entry=training_id,
        model=WeightsModel(trainer, final, method.inputs),
        model_hash="0x" + keccak(weights_to_bytes(final)).hex(),
        reported={
            "status": training.status.label,
            "model_id": training.model_id,
            "dataset_id": training.dataset_id,
            "dataset": manifest.name,
            "trainer": dict(method.trainer),
            "scaling": None
            if method.inputs is None
            else {"mean": list(method.inputs.mean), "scale": list(method.inputs.scale)},
            "features": list(manifest.features) or None,
            "classes": list(manifest.class_names),
            "rounds": rounds,
        },
    )
    return result if rows is None else measure(result, rows)


def final_path(folder: Path, training_id: int) -> Path:
    """Where the MO's agent writes the model of training ``training_id``."""
    return folder / f"training-{training_id}" / FINAL_MODEL
