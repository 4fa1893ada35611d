"""Coordinate-wise trimmed mean (Yin et al. 2018): drop the k largest and k smallest, average.

``k`` comes from ``beta``: an ``int`` is ``k`` itself; a ``float`` in ``[0, 0.5)`` is the
fraction trimmed from each end, ``k = floor(beta * n)`` (with ``beta * n`` rounded to 9
decimals first, so that ``0.29 * 100`` trims 29, not 28). ``2k >= n`` is refused, since
nothing would be left. Which of several equal values is dropped cannot change the result.
Example counts are ignored, as in the median. The maths is :func:`trimmed_mean`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from mercato.errors import InputError
from mercato.ml.aggregate.base import Rule, Update
from mercato.ml.trainers.weights import Weights

NAME = "trimmed_mean"


def trimmed_mean(vectors: ArrayLike, k: int) -> Weights:
    """Per column of the ``n x d`` rows, the float64 mean of all but the k lowest and k highest.

    Needs ``0 <= 2k < n``; the result has the dtype of the rows.
    """
    stacked = np.asarray(vectors)
    ordered = np.sort(stacked.astype(np.float64), axis=0)
    kept = ordered[k : stacked.shape[0] - k]
    result: Weights = kept.mean(axis=0).astype(stacked.dtype)
    return result


def trim_count(beta: float | int, n: int) -> int:
    """Values to drop from each end of ``n``: ``beta`` if an int, else ``floor(beta * n)``."""
    if isinstance(beta, int):
        return beta
    return math.floor(round(beta * n, 9))


class TrimmedMean(Rule):
    """The coordinate-wise mean after trimming ``k`` values at each end (see the module)."""

    name = NAME

    def __init__(self, beta: float | int) -> None:
        if isinstance(beta, bool) or not isinstance(beta, int | float):
            raise InputError(f"{NAME}: beta must be an int or a float, got {beta!r}")
        if isinstance(beta, int) and beta < 0:
            raise InputError(f"{NAME}: an int beta counts values to drop; got {beta}, need >= 0")
        if isinstance(beta, float) and not 0.0 <= beta < 0.5:
            raise InputError(
                f"{NAME}: a float beta is the fraction trimmed from each end; "
                f"got {beta}, need 0 <= beta < 0.5"
            )
        self.beta = beta

    def merge(self, updates: Sequence[Update]) -> Weights:
        """The per-coordinate trimmed mean of the updates' weights."""
        n = len(updates)
        k = trim_count(self.beta, n)
        if 2 * k >= n:
            raise InputError(
                f"{NAME}: trimming k={k} from each end of {n} updates leaves none "
                f"(need 2k < n); lower beta or collect more updates"
            )
        return trimmed_mean(np.stack([np.asarray(u.weights) for u in updates]), k)
