"""Federated rounds in one process: P2's training arithmetic without chain, blobs or replicas.

Tests and benchmarks use it to compare federated with centralised training. The protocol's
own rounds take their subset selection from the chain; here a seeded schedule stands in,
which walks a fresh random order of the subsets so that every subset is used once every
``ceil(m / per_round)`` rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mercato.errors import InputError
from mercato.ml.aggregate.base import Aggregator, Update
from mercato.ml.seed import MAX_SEED, check_seed
from mercato.ml.trainers.weights import Weights

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.ml.trainers.base import Trainer


def round_seed(seed: int, round_index: int) -> int:
    """The training seed of one round, the same for every replica of every subset."""
    state = np.random.SeedSequence([check_seed(seed), round_index]).generate_state(1)
    return int(state[0]) & MAX_SEED


def schedule(subsets: int, per_round: int, rounds: int, seed: int) -> list[list[int]]:
    """Sorted subset indices per round: ``per_round`` each, every subset in turn."""
    if not 1 <= per_round <= subsets:
        raise InputError(f"per_round must lie between 1 and {subsets}, got {per_round}")
    rng = np.random.default_rng(check_seed(seed))
    queue: list[int] = []
    plan = []
    for _ in range(rounds):
        chosen: list[int] = []
        while len(chosen) < per_round:
            if all(i in chosen for i in queue):
                queue += [int(i) for i in rng.permutation(subsets)]
            pick = next(i for i in queue if i not in chosen)
            queue.remove(pick)
            chosen.append(pick)
        plan.append(sorted(chosen))
    return plan


def federated_training(
    trainer: Trainer,
    aggregator: Aggregator,
    subsets: Sequence[Dataset],
    rounds: int,
    local_epochs: int,
    seed: int,
    per_round: int | None = None,
) -> Weights:
    """Global weights after ``rounds`` rounds over ``per_round`` subsets each (None: all)."""
    weights = trainer.init_weights(seed)
    plan = schedule(len(subsets), per_round or len(subsets), rounds, seed)
    for index, chosen in enumerate(plan):
        local = round_seed(seed, index)
        updates = [
            Update(trainer.train(weights, subsets[s], local_epochs, local), len(subsets[s].y))
            for s in chosen
        ]
        weights = aggregator.aggregate(updates)
    return weights
