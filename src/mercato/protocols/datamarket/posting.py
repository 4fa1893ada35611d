"""What a model owner posts a task with: the spec, its own rows and its starting model.

Its own rows are its slice of a sample set's cut (``--dataset``) or its own file (``--data``,
split into training and held-out rows, :mod:`.owner_data`); a task over a file publishes the
file's features, classes and scaling (:mod:`.inputs`). The model it publishes is pretrained
on its rows, or is a model it brings (``--model``, :mod:`.starting`): the task's hidden
layers are then the model's, and a scaler brought with it is the task's scaling.
:func:`prepare` checks everything cheaply, :func:`starting_point` trains.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mercato.errors import InputError
from mercato.protocols.datamarket.cut import market_cut
from mercato.protocols.datamarket.model_owner import (
    OwnerModel,
    pretrain,
    spec_for,
    spec_for_file,
    start_from,
)
from mercato.protocols.datamarket.owner_data import OwnerData, of_file
from mercato.protocols.datamarket.starting import StartingModel, starting_model

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset
    from mercato.protocols.datamarket.documents import TaskSpec
    from mercato.user_files import DataFile


@dataclass(frozen=True)
class Prepared:
    """A task ready to post: its spec, the MO's rows, where they come from, its own model."""

    spec: TaskSpec
    data: OwnerData
    source: str | DataFile
    """The sample set's name, or the MO's own file."""
    start: StartingModel | None = None

    @property
    def name(self) -> str:
        """The MO's data, for messages."""
        return self.source if isinstance(self.source, str) else self.source.name


def prepare(
    *,
    dataset: str | None,
    own: tuple[DataFile, Dataset] | None,
    model_file: Path | None,
    data_owners: int,
    local_epochs: int,
    seed: int,
    rule: str,
    wants: str | None = None,
) -> Prepared:
    """The task over the cut of ``dataset`` for ``data_owners``, or over the MO's own file
    ``own``; started from ``model_file`` if given. InputError in one line otherwise."""
    cut = None
    if own is not None:
        source: str | DataFile = own[0]
        data = of_file(own[1], seed)
    elif dataset is not None:
        source, cut = dataset, market_cut(dataset, data_owners, seed)  # unknown name, bad seed
        data = OwnerData(cut.mo, cut.test)
    else:
        raise InputError("no data: pass your own file (--data) or --dataset")

    def spec(start: StartingModel | None = None) -> TaskSpec:
        hidden = None if start is None else start.hidden
        if cut is not None:
            return spec_for(
                cut, local_epochs=local_epochs, seed=seed, rule=rule, wants=wants, hidden=hidden
            )
        n_features = int(data.train.X.shape[1])
        # a model brought without a scaler takes the rows as they are
        identity = ((0.0,) * n_features, (1.0,) * n_features)
        scaling = None if start is None else start.scaling or identity
        return spec_for_file(
            data.train, local_epochs=local_epochs, seed=seed, rule=rule, wants=wants,
            hidden=hidden, scaling=scaling,
        )  # fmt: skip

    if model_file is None:
        return Prepared(spec(), data, source)
    first = spec()
    start = starting_model(model_file, first.build_model().n_features, first.class_names)
    if cut is not None and start.scaling is not None:
        raise InputError(
            f"{model_file}: its StandardScaler would scale the cut of {dataset}, which is "
            "standardised already; bring the MLP alone, or post your own file (--data)"
        )
    return Prepared(spec(start), data, source, start)


def starting_point(prepared: Prepared) -> OwnerModel:
    """The MO's model the task starts from: the one it brought, or one pretrained on its rows."""
    if prepared.start is not None:
        return start_from(prepared.spec, prepared.start.public)
    return pretrain(prepared.spec, prepared.data.train)
