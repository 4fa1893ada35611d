"""Krum and Multi-Krum (Blanchard et al. 2017): keep the updates that sit closest to the others.

Each update is scored by the sum of squared L2 distances to its ``n - f - 2`` nearest other
updates; the ``m`` lowest-scored are kept and averaged. With at most ``f`` poisoned updates
among ``n >= 2f + 3``, an honest update's score only counts distances to updates inside the
honest cluster, while a far-away update pays its distance to every neighbour it counts.

The average of the kept updates is the plain mean, not FedAvg's example-weighted one: example
counts are self-reported and cannot be checked in the data market, so a poisoner that slipped
through the distance filter could claim a huge count and dominate the mean. The maths is
:func:`krum_scores` and :func:`krum_select`; :class:`MultiKrum` is the :class:`Aggregator`.

Textbook Multi-Krum always drops ``f`` updates, so with nobody poisoning it drops ``f`` honest
ones. The data market pays only the kept, so there it excludes only outliers
(:func:`krum_outliers`): the highest-scored update while its score is above ``multiple`` times
the median of the scores below it, at most ``f`` of them. The rule works on the integer
scores the chain records (:func:`chain_scores`), so DataMarket.vy enforces it bit for bit.

No other score of the opened updates catches ``label_flip`` without excluding honest DOs;
measured on the benchmark's market (digits, 10 and 16 non-IID DOs, 6 rounds, f = 2; ratio = a
score over the median of those below it). Scores on L2-normalised updates, on sign patterns,
or cosine distance to the coordinate-wise median squeeze every ratio into 1-1.5 x and lose
``scale`` and ``noise`` too. Per-coordinate scaling (std, RMS, clipped MAD) leaves 10-DO
honest ratios at 3-4 x against ``label_flip``'s 1.8 x (p10). Textbook scores on the public
head's 330 values alone nearly separated them on seeds 0-7 (at 2.6 x: no honest DO, both
flippers in 92 of 96 rounds, ``scale`` and ``noise`` at 19 x and 86 x or more), but on seeds
8-23 with 10 DOs an honest DO reaches 10 x. The honest outliers are honest training runs whose
update is 3-5 x the median norm, and a label flipper's update looks like one. Telling them
apart needs data, and the auditor has only the updates. On seeds 8-23 textbook scores put an
honest DO at up to 13.9 x with 10 DOs (3.2 x with 16), close below the default 15 x.

Two more kinds of evidence fail on the same 10-DO market (seeds 0-23). The model owner's own
class-balanced slice (36 images) as validation data: applying one update raises the slice's
loss by up to 5.1 for an honest DO (a non-IID update forgets the classes it lacks) and by
1.0-2.7 (p50) for a flipper. Persistence across rounds (a DO's smallest ratio over k rounds
in a row): with k = 4 the honest maximum is 1.58 x and the flippers' minimum 1.61 x, a margin
no multiple can be set in; with 16 DOs k = 2 separates them (1.9 x against 2.35 x).
Textbook Multi-Krum does rank both flippers in its dropped ``f`` in every round of seeds 0-3,
at the cost of dropping ``f`` honest DOs in every round of every honest market.
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
SCORE_SCALE = 10**6
"""Scores go on chain as ``round(score * SCORE_SCALE)`` (squared distances in millionths)."""
MAX_SCORE = 2**128 - 1
"""The largest score the chain takes; a larger one is recorded as this (still an outlier)."""
UNOPENED_SCORE = 2**256 - 1
"""The score of an update the model owner could not open: always excluded, before any other."""
MULTIPLE_SCALE = 100
"""Outlier multiples are integers in hundredths: 250 is 2.5 x the median."""
MIN_MULTIPLE = MULTIPLE_SCALE
"""Below 1 x the median, the highest score would always be an outlier."""
MAX_MULTIPLE = 2**16 - 1
"""The chain keeps a task's multiple in 16 bits (655.35 x)."""
DEFAULT_MULTIPLE = 1500
"""15 x. Measured with the benchmark's market (digits, 10 and 16 non-IID DOs, 6 rounds, f = 2,
seeds 0-7, textbook scores): an honest DO's score reaches 11 x the median of the rest, a
``scale`` poisoner's never falls below 35 x (``noise``: 1,100 x). At 15 x no honest DO is
excluded and every such poisoner is; ``label_flip`` (2-13 x) overlaps the honest spread and is
mostly kept, which costs the mean at most 2 points."""


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


def chain_scores(scores: ArrayLike) -> tuple[int, ...]:
    """Float Multi-Krum scores as the chain records them: millionths, capped at MAX_SCORE."""
    return tuple(
        min(MAX_SCORE, round(float(s) * SCORE_SCALE)) for s in np.asarray(scores, dtype=np.float64)
    )


def krum_outliers(scores: Sequence[int], multiple: int, max_excluded: int) -> tuple[int, ...]:
    """Positions (ascending) of the scores that are outliers; the rule DataMarket.vy enforces.

    ``scores`` are the chain's integers (:func:`chain_scores`, or :data:`UNOPENED_SCORE`),
    ``multiple`` is in hundredths (:data:`MULTIPLE_SCALE`). Walk the scores from the
    highest (of equal scores the later position first) and exclude each one while fewer
    than ``max_excluded`` are excluded and it is unopened or its score is above
    ``multiple / 100`` times the median of the scores after it in that order (the mean of
    the two middle ones when they are even in number); stop at the first that is not.
    """
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < MIN_MULTIPLE:
        raise InputError(
            f"the outlier multiple must be an integer of at least {MIN_MULTIPLE} "
            f"(hundredths), got {multiple!r}"
        )
    values = [int(s) for s in scores]
    order = sorted(range(len(values)), key=lambda i: (values[i], i), reverse=True)
    excluded: list[int] = []
    for t, top in enumerate(order[: max(0, max_excluded)]):
        below = [values[i] for i in order[t + 1 :]]
        if not below:
            break
        if values[top] != UNOPENED_SCORE:
            middle = below[(len(below) - 1) // 2] + below[len(below) // 2]
            # score > multiple / SCALE x middle / 2, in integers
            if 2 * values[top] * MULTIPLE_SCALE <= multiple * middle:
                break
        excluded.append(top)
    return tuple(sorted(excluded))


@dataclass(frozen=True, eq=False)
class KrumResult:
    """The merged weights and the evidence behind them, as the chain records it."""

    weights: Weights
    scores: tuple[float, ...]
    selected: tuple[int, ...]
    excluded: tuple[int, ...]


class MultiKrum(Rule):
    """Multi-Krum against up to ``f`` poisoned updates; keeps ``m`` (None: ``n - f``) of them,
    or, given an outlier ``multiple`` (hundredths), all but :func:`krum_outliers`.

    ``MultiKrum(f, m=1)`` is Krum itself.
    """

    name = NAME

    def __init__(self, f: int, m: int | None = None, multiple: int | None = None) -> None:
        if isinstance(f, bool) or not isinstance(f, int) or f < 0:
            raise InputError(f"{NAME}: f must be a non-negative integer, got {f!r}")
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 1):
            raise InputError(f"{NAME}: m must be a positive integer or None, got {m!r}")
        if multiple is not None and m is not None:
            raise InputError(f"{NAME}: give m or an outlier multiple, not both")
        if multiple is not None:
            krum_outliers((), multiple, f)  # checks the multiple
        self.f = f
        self.m = m
        self.multiple = multiple

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
        if self.multiple is None:
            selected = krum_select(scores, m)
        else:
            outliers = krum_outliers(chain_scores(scores), self.multiple, self.f)
            selected = [i for i in range(n) if i not in outliers]
        chosen = set(selected)
        return KrumResult(
            weights=weighted_average([vectors[i] for i in selected], [1] * len(selected)),
            scores=tuple(float(s) for s in scores),
            selected=tuple(selected),
            excluded=tuple(i for i in range(n) if i not in chosen),
        )
