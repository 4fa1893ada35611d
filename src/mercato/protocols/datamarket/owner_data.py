"""The model owner's own rows for a task: what it trains on and what it measures on.

From a sample set: its slice of the task's cut and the cut's test split
(:mod:`~mercato.protocols.datamarket.cut`). From its own file: the file's rows split with
the task's seed into three quarters it trains on and a held-out quarter it measures on
(stratified, :func:`~mercato.ml.datasets.holdout_split`), so the accuracy before and after
the market is measured on rows the model never trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mercato.protocols.datamarket.cut import MarketCut, market_cut
from mercato.protocols.datamarket.limits import MIN_DATA_OWNERS

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.protocols.datamarket.state_files import OwnerHead

TEST_FRACTION = 0.25
"""The share of the MO's own file held out to measure on."""


@dataclass(frozen=True)
class OwnerData:
    """The rows the MO pretrains and fine-tunes on, and the rows it measures on."""

    train: Dataset
    test: Dataset


def of_cut(dataset: str, seed: int) -> OwnerData:
    """The MO's slice of the cut of ``dataset`` with ``seed``, and the cut's test split
    (neither depends on how many parts the data owners' share is cut into)."""
    data = market_cut(*MarketCut(dataset, MIN_DATA_OWNERS, seed))
    return OwnerData(data.mo, data.test)


def of_file(data: Dataset, seed: int) -> OwnerData:
    """The MO's own file cut into training rows and held-out test rows, by ``seed``."""
    from mercato.ml.datasets import holdout_split

    split = holdout_split(data, seed, TEST_FRACTION)
    return OwnerData(
        data.renamed(f"{data.name}/train", split.X_train, split.y_train),
        data.renamed(f"{data.name}/test", split.X_test, split.y_test),
    )


def of_head(head: OwnerHead, task_id: int) -> OwnerData:
    """The rows the head of task ``task_id`` was trained on, read again (a changed file is
    refused)."""
    if head.data is not None:
        return of_file(head.data.load(f"posted task {task_id}"), head.seed)
    assert head.dataset is not None
    return of_cut(head.dataset, head.seed)
