"""The Aggregator interface: many updated weight vectors in, one global vector out.

An update is what one subset contributed to a round: the weights its (consensus) replica
trained, and how many examples it trained on. The model owner passes updates in a fixed order
(by subset id), so aggregation is deterministic too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from mercato.errors import InputError
from mercato.ml.trainers.weights import Weights


@dataclass(frozen=True, eq=False)
class Update:
    """One subset's trained weights and the number of examples behind them."""

    weights: Weights
    n_examples: int


@runtime_checkable
class Aggregator(Protocol):
    """A rule that merges the updates of one round into the next global weights."""

    @property
    def name(self) -> str:
        """Short name of the rule, such as ``"fedavg"``."""

    def aggregate(self, updates: Sequence[Update]) -> Weights:
        """The merged weights, of the updates' shape and dtype."""


def check_updates(updates: Sequence[Update]) -> None:
    """InputError unless the updates are many, alike, finite and each counts its examples."""
    if not updates:
        raise InputError("aggregation needs at least one update")
    first = np.asarray(updates[0].weights)
    for index, update in enumerate(updates):
        weights = np.asarray(update.weights)
        if weights.ndim != 1 or weights.dtype.kind != "f":
            raise InputError(f"update {index}: weights must be a 1-D float vector")
        if weights.shape != first.shape or weights.dtype != first.dtype:
            raise InputError(
                f"update {index}: weights are {weights.dtype} {weights.shape}, "
                f"update 0 has {first.dtype} {first.shape}"
            )
        if not np.isfinite(weights).all():
            raise InputError(f"update {index}: weights hold NaN or infinite values")
        count = update.n_examples
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise InputError(
                f"update {index}: n_examples must be a positive integer, got {count!r}"
            )


class Rule:
    """Base of the rules here: a name, and ``aggregate`` as :func:`check_updates`, then ``merge``.

    A rule sets ``name`` and implements ``merge`` over updates that are already checked.
    """

    name: ClassVar[str]

    def aggregate(self, updates: Sequence[Update]) -> Weights:
        """The merged weights, of the updates' shape and dtype."""
        check_updates(updates)
        return self.merge(updates)

    def merge(self, updates: Sequence[Update]) -> Weights:
        """The merged weights of checked updates."""
        raise NotImplementedError
