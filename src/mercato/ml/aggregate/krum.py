"""Krum and Multi-Krum (Blanchard et al. 2017): keep the updates that sit closest to the others.

Each update is scored by the sum of squared L2 distances to its ``n - f - 2`` nearest other
updates; the ``m`` lowest-scored are kept and averaged. With at most ``f`` poisoned updates
among ``n >= 2f + 3``, an honest update's score only counts distances to updates inside the
honest cluster, while a far-away update pays its distance to every neighbour it counts.

The average of the kept updates is the plain mean, not FedAvg's example-weighted one: example
counts are self-reported and cannot be checked in the data market, so a poisoner that slipped
through the distance filter could claim a huge count and dominate the mean. The maths is
:func:`krum_scores` and :func:`krum_select`; :class:`MultiKrum` is the :class:`Aggregator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from mercato.errors import InputError
from mercato.ml.aggregate.base import Rule, Update, check_updates
from mercato.ml.aggregate.fedavg import weighted_average
from mercato.ml.trainers.weights import Weights

NAME = "multikrum"


def krum_scores(vectors: ArrayLike, f: int) -> NDArray[np.float64]:
    """Each row's sum of squared distances to its ``n - f - 2`` nearest other rows.

    ``vectors`` is ``n x d`` with ``n >= 2f + 3``; distances are computed in float64 as sums
    of squared differences, never through the dot-product identity, which cancels badly.
    """
    stacked = np.asarray(vectors, dtype=np.float64)
    n = stacked.shape[0]
    neighbours = n - f - 2
    distances = np.empty((n, n), dtype=np.float64)
    for i in range(n):
        diff = stacked - stacked[i]
        distances[i] = np.einsum("ij,ij->i", diff, diff)
    scores = np.empty(n, dtype=np.float64)
    for i in range(n):
        # Which of several equally near neighbours is counted cannot change the sum.
        scores[i] = np.sort(np.delete(distances[i], i))[:neighbours].sum()
    return scores


def krum_select(scores: ArrayLike, m: int) -> list[int]:
    """Indices of the ``m`` lowest scores, ascending; of equal scores the lower index wins."""
    order = np.argsort(np.asarray(scores, dtype=np.float64), kind="stable")
    return sorted(int(i) for i in order[:m])


@dataclass(frozen=True, eq=False)
class KrumResult:
    """The merged weights and the evidence behind them, as the chain records it."""

    weights: Weights
    scores: tuple[float, ...]
    selected: tuple[int, ...]
    excluded: tuple[int, ...]


class MultiKrum(Rule):
    """Multi-Krum against up to ``f`` poisoned updates; keeps ``m`` (None: ``n - f``) of them.

    ``MultiKrum(f, m=1)`` is Krum itself.
    """

    name = NAME

    def __init__(self, f: int, m: int | None = None) -> None:
        if isinstance(f, bool) or not isinstance(f, int) or f < 0:
            raise InputError(f"{NAME}: f must be a non-negative integer, got {f!r}")
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise InputError(f"{NAME}: m must be a positive integer or None, got {m!r}")
        self.f = f
        self.m = m

    def select(self, updates: Sequence[Update]) -> KrumResult:
        """Scores of all updates, which were kept and which excluded, and their plain mean."""
        check_updates(updates)
        return self._select(updates)

    def merge(self, updates: Sequence[Update]) -> Weights:
        """The plain mean of the kept updates."""
        return self._select(updates).weights

    def _select(self, updates: Sequence[Update]) -> KrumResult:
        n = len(updates)
        if n < 2 * self.f + 3:
            raise InputError(
                f"{NAME}: f={self.f} needs at least {2 * self.f + 3} updates (n >= 2f + 3), "
                f"got {n}; lower f or collect more updates"
            )
        m = n - self.f if self.m is None else self.m
        if m > n - self.f:
            raise InputError(
                f"{NAME}: m={m} exceeds n - f = {n - self.f}, so a poisoned update would "
                f"always be kept; lower m"
            )
        vectors = [np.asarray(u.weights) for u in updates]
        scores = krum_scores(np.stack(vectors), self.f)
        selected = krum_select(scores, m)
        chosen = set(selected)
        return KrumResult(
            weights=weighted_average([vectors[i] for i in selected], [1] * len(selected)),
            scores=tuple(float(s) for s in scores),
            selected=tuple(selected),
            excluded=tuple(i for i in range(n) if i not in chosen),
        )
