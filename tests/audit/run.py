"""A small P2 training run for the audit tests, built from the protocol's own steps.

The cast: a data owner, a model owner and four compute providers. The DO splits a slice of
the digits into 2 subsets x 3 replicas (round robin: no CO holds two replicas of a subset),
the COs open, check and join, the DO verifies, and the MO trains one subset a round (so two
rounds use both subsets). Any CO may be given another worker (``scenario.lazy_worker``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from mercato.chain.base import Chain
from mercato.ml.datasets import Dataset, seller_and_buyer_parts
from mercato.ml.trainers import NumpyLogReg, Weights
from mercato.protocols.deployment import Deployment, deploy
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.protocols.training import compute, data_owner, history, model_owner
from mercato.protocols.training.compute import Worker
from mercato.protocols.training.data_owner import Listing, SplitPlan
from mercato.protocols.training.documents import MODE_PLAINTEXT, Method
from mercato.protocols.training.model_owner import RoundReview
from mercato.storage.base import BlobStore

ETHER = 10**18
DATA_PRICE = ETHER // 10
JOB_PRICE = ETHER // 100
CO_STAKE = ETHER // 20
SUBSETS = 2
REPLICAS = 3
PER_ROUND = 1
ROUNDS = 2
EXAMPLES = 400
SEED = 7
CO_COUNT = 4
# development accounts: 0 deploys, 1 owns the data, 2 the model, 3.. provide compute
DEPLOYER, DO, MO, FIRST_CO = 0, 1, 2, 3


def small_digits() -> Dataset:
    """The first examples of the digits a DO sells: enough to split, quick to train."""
    data, _ = seller_and_buyer_parts("digits")
    return Dataset(data.name, data.ontology_class, data.X[:EXAMPLES], data.y[:EXAMPLES])


def method_for(data: Dataset) -> Method:
    trainer = NumpyLogReg(int(data.X.shape[1]), len(data.classes), learning_rate=0.01)
    return Method(mode=MODE_PLAINTEXT, trainer=dict(trainer.spec()), local_epochs=1, seed=SEED)


@dataclass
class Run:
    """A deployed market with the cast registered and the dataset listed."""

    market: Marketplace
    do: Identity
    mo: Identity
    cos: list[Identity]
    data: Dataset
    method: Method
    listing: Listing
    training_id: int = 0
    reviews: list[RoundReview] = field(default_factory=list)

    @property
    def dataset_id(self) -> int:
        return self.listing.dataset_id

    def co(self, address: str) -> Identity:
        return next(c for c in self.cos if c.address == address)

    def instances_of(self, co: Identity) -> list[int]:
        return [
            i
            for row in history.instances_of(self.market, self.dataset_id)
            for i in row
            if self.market.training_market.instance(i).co == co.address
        ]

    # steps ----------------------------------------------------------------------------------
    def join_all(self) -> None:
        """Every CO opens, checks and joins each replica handed to it."""
        for co in self.cos:
            for instance_id in self.instances_of(co):
                data = compute.receive_replica(self.market, co, instance_id)
                compute.join(self.market, co, instance_id, data)

    def request(self) -> int:
        model_id = model_owner.create_model(self.market, self.mo, self.method)
        self.training_id, _ = self.market.training_market.request_training(
            self.mo.account,
            model_id,
            self.dataset_id,
            subsets_per_round=PER_ROUND,
            max_rounds=ROUNDS,
        )
        return self.training_id

    def start(self, weights: Weights) -> int:
        """Publish the model, ask for the next round and draw it; the round number."""
        round_number = model_owner.start_round(self.market, self.mo, self.training_id, weights)
        assert model_owner.draw_if_due(self.market, self.mo, self.training_id)
        return round_number

    def train(self, workers: Mapping[str, Worker]) -> None:
        for co in self.cos:
            worker = workers.get(co.address, compute.honest_worker)
            compute.run_jobs(self.market, co, self.training_id, worker)

    def review(self, round_number: int, previous: Weights) -> Weights:
        found = model_owner.review_round(self.market, self.mo, self.training_id, round_number)
        model_owner.report_frauds(self.market, self.mo, found)
        self.reviews.append(found)
        return model_owner.aggregate(self.market, found, self.dataset_id, previous)

    def run_rounds(
        self,
        rounds: int = ROUNDS,
        workers: Mapping[str, Worker] | None = None,
        after_round: Callable[[Run, int], None] | None = None,
        finish: bool = True,
    ) -> None:
        weights = model_owner.initial_weights(self.method, int(self.data.X.shape[1]))
        for _ in range(rounds):
            round_number = self.start(weights)
            self.train(workers or {})
            if after_round is not None:
                after_round(self, round_number)
            weights = self.review(round_number, np.asarray(weights))
        if finish:
            model_owner.finish(self.market, self.mo, self.training_id)


def setup_run(chain: Chain, store: BlobStore, deployment: Deployment | None = None) -> Run:
    """Deploy (unless given a deployment), register the cast and list the dataset."""
    accounts = chain.dev_accounts(FIRST_CO + CO_COUNT)
    deployment = deployment or deploy(chain, accounts[DEPLOYER])
    market = Marketplace(chain, deployment, store)
    do, mo = Identity(accounts[DO]), Identity(accounts[MO])
    cos = [Identity(a) for a in accounts[FIRST_CO:]]
    market.registry.register(do, Role.DATA_OWNER)
    market.registry.register(mo, Role.MODEL_OWNER)
    for co in cos:
        market.registry.register(co, Role.COMPUTE_PROVIDER, stake=CO_STAKE)
    data = small_digits()
    listing = data_owner.list_dataset(
        market,
        do,
        data,
        SplitPlan(SUBSETS, REPLICAS, seed=SEED),
        [co.address for co in cos],
        data_price=DATA_PRICE,
        job_price=JOB_PRICE,
    )
    return Run(market, do, mo, cos, data, method_for(data), listing)


def approved_run(chain: Chain, store: BlobStore, deployment: Deployment | None = None) -> Run:
    """Listed, joined, verified, requested and approved: ready for its first round."""
    run = setup_run(chain, store, deployment)
    run.join_all()
    data_owner.verify_joins(run.market, run.do, run.listing)
    run.request()
    assert data_owner.approve_requests(run.market, run.do, run.dataset_id) == [run.training_id]
    return run
