"""Poisoning data owners for P3's tests and benchmarks: what a dishonest update looks like.

Three attacks, each a function of the honest training a data owner would have run:

- ``label_flip``: train honestly on the data with every label ``y`` replaced by
  ``n_classes - 1 - y`` (a data poisoner: its update is a real training run on wrong labels,
  the hardest of the three to tell from an honest non-IID update, and the mildest);
- ``scale``: the honest delta multiplied by ``factor`` (default ``-10``: a negative factor
  pushes the model back the way it came, a sign-flip / model-replacement attack);
- ``noise``: the honest delta plus Gaussian noise whose sigma is ``factor`` (default ``50``)
  times the standard deviation of the honest delta's values, so the attack keeps its strength
  for any model size and learning rate; the noise is drawn from the update's seed.

A poisoner still has to get its update through secure aggregation, whose fixed-point range
is bounded (:func:`mercato.crypto.secagg.max_abs`, ~3,276 for 10 parties), so every poisoned
delta is clipped into ``+-MAX_POISON_ABS``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mercato.errors import InputError
from mercato.ml.datasets import Dataset
from mercato.ml.model_parts import PartedMLP
from mercato.ml.seed import check_seed
from mercato.ml.trainers.weights import Weights

POISONS: tuple[str, ...] = ("label_flip", "scale", "noise")
DEFAULT_FACTORS: dict[str, float] = {"label_flip": 1.0, "scale": -10.0, "noise": 50.0}
MAX_POISON_ABS = 1_000.0
"""Every poisoned value is clipped into ``+-MAX_POISON_ABS``, inside secure aggregation's range
for up to 32 parties (``max_abs(32)`` is ~1,024)."""
_NOISE_STREAM = 0x6E6F697365  # separates the noise generator from the training seed


@dataclass(frozen=True)
class Poisoner:
    """A dishonest data owner's attack; ``factor`` is read by ``scale`` and ``noise`` only.

    ``factor=None`` takes the kind's default from :data:`DEFAULT_FACTORS` (``-10`` for
    ``scale``, ``50`` times the honest delta's std for ``noise``); after construction
    ``factor`` is always a float.
    """

    kind: str
    factor: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in POISONS:
            raise InputError(f"no poison named {self.kind!r}; known: {', '.join(POISONS)}")
        factor = DEFAULT_FACTORS[self.kind] if self.factor is None else self.factor
        if isinstance(factor, bool) or not isinstance(factor, int | float):
            raise InputError(f"poison factor must be a number, got {factor!r}")
        if not np.isfinite(factor):
            raise InputError(f"poison factor must be finite, got {factor!r}")
        if self.kind == "noise" and factor <= 0:
            raise InputError(
                f"noise: factor is the noise's std in units of the honest delta's, need > 0, "
                f"got {factor}"
            )
        object.__setattr__(self, "factor", float(factor))

    @property
    def _factor(self) -> float:
        return DEFAULT_FACTORS[self.kind] if self.factor is None else float(self.factor)

    def update(
        self, model: PartedMLP, public: Weights, data: Dataset, epochs: int, seed: int
    ) -> Weights:
        """The poisoned delta this data owner submits instead of its honest one (float32)."""
        if self.kind == "label_flip":
            delta = model.local_update(public, flip_labels(data, model.n_classes), epochs, seed)
        else:
            honest = model.local_update(public, data, epochs, seed)
            if self.kind == "scale":
                delta = honest.astype(np.float64) * self._factor
            else:
                sigma = self._factor * float(np.std(honest.astype(np.float64)))
                rng = np.random.default_rng([_NOISE_STREAM, check_seed(seed)])
                delta = honest.astype(np.float64) + rng.normal(0.0, sigma, size=honest.shape)
        clipped: Weights = np.clip(delta, -MAX_POISON_ABS, MAX_POISON_ABS).astype(np.float32)
        return clipped


def flip_labels(data: Dataset, n_classes: int) -> Dataset:
    """``data`` with every label ``y`` replaced by ``n_classes - 1 - y``."""
    if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 2:
        raise InputError(f"n_classes must be an integer of at least 2, got {n_classes!r}")
    if data.y.min() < 0 or data.y.max() >= n_classes:
        raise InputError(f"dataset {data.name!r} has labels outside 0..{n_classes - 1}")
    return Dataset(
        name=f"{data.name}/flipped",
        ontology_class=data.ontology_class,
        X=data.X,
        y=n_classes - 1 - data.y,
    )
