"""A small P2 market with its off-chain cast: a DO, an MO and four COs, each with an agent.

The data: 360 digits of the DO's part, cut into 2 skewed subsets x 3 replicas; replica r of
subset s goes to CO ``(3 s + r) % 4``, so CO 0 and CO 1 hold a replica of both subsets.
Training: softmax regression, one local epoch a round; the MO evaluates on its own digits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mercato.agents.agent import Agent
from mercato.agents.runner import Runner
from mercato.agents.store import AgentStore
from mercato.audit.report import AuditReport
from mercato.audit.training import CHECKS, audit_training
from mercato.chain.base import Chain
from mercato.crypto.ckks import CkksContext
from mercato.ml.datasets import Dataset, seller_and_buyer_parts
from mercato.ml.trainers import NumpyLogReg
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.protocols.training import agents, data_owner, model_owner
from mercato.protocols.training.compute import Worker, honest_worker
from mercato.protocols.training.data_owner import Listing, SplitPlan
from mercato.protocols.training.documents import MODE_PLAINTEXT, Method
from mercato.protocols.training.market import TrainingMarket

from ..world import ETHER, open_marketplace

DATA_PRICE = ETHER // 10
JOB_PRICE = ETHER // 100
CO_STAKE = ETHER // 20
EXAMPLES = 360
CHECK = {spec.key: number for number, spec in enumerate(CHECKS, 1)}
"""The auditor's check numbers (mercato.audit.training) by key (``"co-holds-data"`` -> 1)."""


def small_digits() -> tuple[Dataset, Dataset]:
    data, evaluation = seller_and_buyer_parts("digits")
    return Dataset(data.name, data.ontology_class, data.X[:EXAMPLES], data.y[:EXAMPLES]), evaluation


def digits_method(epochs: int = 1, seed: int = 3) -> Method:
    trainer = NumpyLogReg(64, 10, learning_rate=0.005, batch_size=32)
    return Method(MODE_PLAINTEXT, dict(trainer.spec()), epochs, seed)


@dataclass
class P2World:
    """A deployed market, the cast registered, and helpers to list, request and run."""

    chain: Chain
    market: Marketplace
    do: Identity
    mo: Identity
    cos: list[Identity]
    data: Dataset
    evaluation: Dataset
    work: Path
    plan: SplitPlan = field(default_factory=lambda: SplitPlan(2, 3, seed=1))
    listing: Listing | None = None
    stores: dict[str, AgentStore] = field(default_factory=dict)

    @property
    def tm(self) -> TrainingMarket:
        return self.market.training_market

    def list_dataset(self, cos: Sequence[Identity] | None = None) -> Listing:
        self.listing = data_owner.list_dataset(
            self.market,
            self.do,
            self.data,
            self.plan,
            [co.address for co in (cos or self.cos)],
            data_price=DATA_PRICE,
            job_price=JOB_PRICE,
        )
        return self.listing

    def request(self, method: Method | None = None, *, per_round: int = 1, rounds: int = 2) -> int:
        assert self.listing is not None
        model_id = model_owner.create_model(self.market, self.mo, method or digits_method())
        training_id, _ = self.tm.request_training(
            self.mo.account,
            model_id,
            self.listing.dataset_id,
            subsets_per_round=per_round,
            max_rounds=rounds,
        )
        return training_id

    def agent(self, name: str) -> Agent:
        if name not in self.stores:
            self.stores[name] = AgentStore(self.work / f"{name}.sqlite")
        return Agent(
            name,
            self.chain,
            [self.tm.contract],
            self.stores[name],
            start_block=self.market.deployment.block,
        )

    def runner(
        self,
        workers: Mapping[int, Worker] | None = None,
        *,
        silent: Sequence[str] = (),
        context: CkksContext | None = None,
        mo_folder: Path | None = None,
    ) -> Runner:
        """One agent per participant not in ``silent`` ("do", "mo", "co0".."co3"); the MO's
        keeps its state (starting models, exported models) in ``mo_folder`` if given."""
        workers = workers or {}
        built = []
        if "do" not in silent:
            agent = self.agent("do")
            listings = {self.listing.dataset_id: self.listing} if self.listing else {}
            agents.attach_data_owner(agent, self.market, self.do, listings)
            built.append(agent)
        if "mo" not in silent:
            agent = self.agent("mo")
            agents.attach_model_owner(
                agent, self.market, self.mo, self.evaluation, context, folder=mo_folder
            )
            built.append(agent)
        for i, co in enumerate(self.cos):
            if f"co{i}" not in silent:
                agent = self.agent(f"co{i}")
                agents.attach_compute(agent, self.market, co, workers.get(i, honest_worker))
                built.append(agent)
        return Runner(built)

    def events(self, name: str) -> list[dict[str, object]]:
        return [
            dict(e.args)
            for e in self.tm.events(from_block=self.market.deployment.block)
            if e.name == name
        ]

    def stake(self, identity: Identity) -> int:
        return int(self.market.registry.contract.call("stake", identity.address))

    def audit(self, training_id: int, viewer: Identity | None = None) -> AuditReport:
        """The audit of training ``training_id``, public or with ``viewer``'s keys."""
        return audit_training(self.market, training_id, viewer)

    def blame(self, party: Identity, *keys: str) -> dict[str, list[int]]:
        """What :attr:`AuditReport.cheaters` holds when it names only ``party``, on the
        checks ``keys`` (in check order)."""
        if party is self.do:
            role = "data owner"
        elif party is self.mo:
            role = "model owner"
        else:
            role = "compute provider"
        return {f"{role} {party.address}": sorted(CHECK[key] for key in keys)}

    def close(self) -> None:
        for store in self.stores.values():
            store.close()


def build_world(chain: Chain, work: Path, data: tuple[Dataset, Dataset] | None = None) -> P2World:
    cast = [(Role.DATA_OWNER, 0), (Role.MODEL_OWNER, 0)] + [(Role.COMPUTE_PROVIDER, CO_STAKE)] * 4
    market, (do, mo, *cos) = open_marketplace(chain, work, cast)
    train, evaluation = data or small_digits()
    return P2World(chain, market, do, mo, cos, train, evaluation, work)
