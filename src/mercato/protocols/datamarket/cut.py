"""The simulated data of P3: how a sample dataset is cut for one task.

:func:`~mercato.ml.federated_sim.market_data` cuts a sample dataset into a test split, the
model owner's small slice and one non-IID part per data owner. A task's seed chooses the
cut, and data owners take their part of the cut of the task they join, so the model owner's
slice, its test split and the data owners' parts never overlap. Light: the data sets load
when a cut is made.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from mercato.errors import InputError

if TYPE_CHECKING:
    from mercato.ml.federated_sim import MarketData

DEFAULT_SEED = 0
"""The seed a task is posted with, and an agent serves, unless told otherwise."""


class MarketCut(NamedTuple):
    """The cut of a sample dataset a P3 agent serves (see :func:`market_cut`)."""

    dataset: str
    data_owners: int
    seed: int


@cache
def market_cut(dataset: str, data_owners: int, seed: int) -> MarketData:
    """The sample dataset cut for a task of ``data_owners`` DOs: MO slice, DO parts, test.

    The MO's slice and the test split depend on ``dataset`` and ``seed`` only, so a DO that
    uses the seed the task was posted with never holds the MO's examples.
    """
    from mercato.ml.datasets import load_dataset
    from mercato.ml.federated_sim import market_data
    from mercato.ml.seed import check_seed

    load_dataset(dataset)  # an unknown name or seed is said as such, not as a failed cut
    check_seed(seed)
    try:
        return market_data(dataset, data_owners, seed=seed)
    except InputError as exc:
        raise InputError(
            f"{dataset} cannot be cut into parts for {data_owners} data owners with seed "
            f"{seed}; try another number of data owners or seed ({exc})"
        ) from None
