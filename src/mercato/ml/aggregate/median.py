"""Coordinate-wise median (Yin et al. 2018): each coordinate is the median of the updates'.

With an even number of updates a coordinate is the mean of its two middle values. Example
counts are ignored: they are self-reported, and a median weighted by them would let one
update claim the majority. The maths is :func:`coordinate_median`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from mercato.ml.aggregate.base import Rule, Update
from mercato.ml.trainers.weights import Weights

NAME = "median"


def coordinate_median(vectors: ArrayLike) -> Weights:
    """The per-column median of the ``n x d`` rows, computed in float64, in their dtype."""
    stacked = np.asarray(vectors)
    result: Weights = np.median(stacked.astype(np.float64), axis=0).astype(stacked.dtype)
    return result


class CoordinateMedian(Rule):
    """The coordinate-wise median of the updates; robust while fewer than half are poisoned."""

    name = NAME

    def merge(self, updates: Sequence[Update]) -> Weights:
        """The per-coordinate median of the updates' weights."""
        return coordinate_median(np.stack([np.asarray(u.weights) for u in updates]))
