"""A small P3 market with its off-chain cast, driven step by step (no agents).

An MO and ``n`` DOs on a fresh embedded chain, digits cut by ``market_data``; a small
PartedMLP and one local epoch a round, so a round takes well under a second of training.
``run_phase`` lets every DO (but the ones told to stay silent) post what the phase asks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from mercato.chain.embedded import EmbeddedChain
from mercato.ml.federated_sim import MarketData, market_data
from mercato.ml.model_parts import PartedMLP
from mercato.ml.poison import Poisoner
from mercato.protocols.datamarket import data_owner, model_owner
from mercato.protocols.datamarket.data_owner import Contribution
from mercato.protocols.datamarket.documents import TaskSpec
from mercato.protocols.datamarket.market import DataMarket, Mode, Phase, Task
from mercato.protocols.datamarket.model_owner import OwnerModel, TaskTerms
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role

from ..world import ETHER, open_marketplace

PER_UPDATE = ETHER // 1000
PHASE_PERIOD = 600
AGGREGATE_PERIOD = 900


@dataclass
class P3World:
    """A deployed market, the cast registered, the data cut, a model pretrained."""

    chain: EmbeddedChain
    market: Marketplace
    mo: Identity
    dos: list[Identity]
    data: MarketData
    spec: TaskSpec
    owner_model: OwnerModel

    @property
    def dm(self) -> DataMarket:
        return self.market.data_market

    @property
    def model(self) -> PartedMLP:
        return self.spec.build_model()

    def post(self, mode: Mode, bound: int, rounds: int = 1) -> int:
        """Post a task for every DO of the world, in ``mode``, and let them all join."""
        spec = self.spec if mode is Mode.ROBUST else _with_rule(self.spec, "mean")
        n = len(self.dos)
        task_id = model_owner.post_task(
            self.market,
            self.mo,
            spec,
            self.owner_model,
            TaskTerms(
                data_owners=n,
                rounds=rounds,
                mode=mode,
                bound=bound,
                reward=PER_UPDATE * n * rounds,
                phase_period=PHASE_PERIOD,
                aggregate_period=AGGREGATE_PERIOD,
            ),
        )
        for do, part in zip(self.dos, self.data.parts, strict=True):
            data_owner.join(self.market, do, task_id, part)
        return task_id

    def contribution(self, index: int, poisoners: Mapping[int, Poisoner]) -> Contribution:
        return Contribution(self.data.parts[index], poisoners.get(index))

    def run_phase(
        self,
        task_id: int,
        silent: Iterable[int] = (),
        poisoners: Mapping[int, Poisoner] | None = None,
    ) -> Task:
        """Every DO not ``silent`` posts what the phase asks; the task afterwards."""
        quiet = set(silent)
        for i, do in enumerate(self.dos):
            if i not in quiet:
                data_owner.act(self.market, do, task_id, self.contribution(i, poisoners or {}))
        return self.dm.task(task_id)

    def run_round(self, task_id: int, poisoners: Mapping[int, Poisoner] | None = None) -> Task:
        """Every DO posts in every phase until the round waits for the MO."""
        task = self.dm.task(task_id)
        while task.phase is not Phase.AGGREGATE:
            task = self.run_phase(task_id, poisoners=poisoners)
        return task

    def expire_phase(self, task_id: int) -> Task:
        """Travel past the phase's deadline and let a DO advance it."""
        task = self.dm.task(task_id)
        self.chain.time_travel(task.deadline - self.chain.timestamp() + 1)
        self.dm.advance(self.dos[0].account, task_id)
        return self.dm.task(task_id)


def _with_rule(spec: TaskSpec, rule: str) -> TaskSpec:
    return TaskSpec(spec.data_classes, spec.model, spec.local_epochs, spec.seed, rule)


@cache
def _cut_and_pretrain(data_owners: int, seed: int) -> tuple[MarketData, TaskSpec, OwnerModel]:
    """The data and the MO's pretrained model, once per session (they never change)."""
    data = market_data("digits", data_owners, seed=seed)
    model = PartedMLP(64, 10, hidden=(16,))
    spec = TaskSpec((data.mo.ontology_class,), model.spec(), 1, seed, "multikrum")
    return data, spec, model_owner.pretrain(spec, data.mo, 5)


def build_world(
    tmp_path: Path, data_owners: int = 5, seed: int = 3, chain: EmbeddedChain | None = None
) -> P3World:
    chain = chain or EmbeddedChain()
    cast = [(Role.MODEL_OWNER, 0)] + [(Role.DATA_OWNER, 0)] * data_owners
    market, (mo, *dos) = open_marketplace(chain, tmp_path, cast)
    data, spec, owner_model = _cut_and_pretrain(data_owners, seed)
    return P3World(chain, market, mo, dos, data, spec, owner_model)
