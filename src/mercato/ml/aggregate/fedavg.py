"""Federated averaging (McMahan et al. 2017): the mean of the updates weighted by example count.

The maths is :func:`weighted_average`; :class:`FedAvg` is the :class:`Aggregator` over it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mercato.ml.aggregate.base import Rule, Update
from mercato.ml.trainers.weights import Weights

NAME = "fedavg"


def weighted_average(vectors: Sequence[Weights], counts: Sequence[int]) -> Weights:
    """``sum(count_i * vector_i) / sum(count_i)``, accumulated in float64 in the given order.

    The result has the dtype of the inputs; a fixed order keeps it bit-for-bit reproducible.
    """
    total = np.zeros(np.shape(vectors[0]), dtype=np.float64)
    for vector, count in zip(vectors, counts, strict=True):
        total += float(count) * np.asarray(vector, dtype=np.float64)
    mean = total / float(sum(counts))
    result: Weights = mean.astype(np.asarray(vectors[0]).dtype)
    return result


class FedAvg(Rule):
    """Federated averaging weighted by the number of examples behind each update."""

    name = NAME

    def merge(self, updates: Sequence[Update]) -> Weights:
        """The example-weighted mean of the updates' weights."""
        return weighted_average([u.weights for u in updates], [u.n_examples for u in updates])
