"""The whole P2 flow with one agent per participant: what ``mercato demo`` runs second.

A data owner holds scikit-learn's handwritten digits. It cuts them into 4 skewed subsets,
hands each subset sealed to 3 of 6 compute providers, and verifies their joins. A model owner
asks for a federated training of a softmax regression, 3 subsets a round for 6 rounds, with
the price in escrow. The contract draws each round's subsets from a block hash; every drawn
replica trains and posts ``keccak(model || nonce)``. One compute provider is lazy: it returns
the model it was sent, untrained. The model owner's replica consensus outvotes it, reports it
on chain (it forfeits its pay and stake to the honest replicas of its subset), aggregates the
agreed models and measures accuracy on its own held-out digits after every round. At the end
everyone withdraws what it earned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mercato.agents.agent import Agent
from mercato.agents.runner import Runner
from mercato.agents.store import AgentStore
from mercato.chain.base import Chain
from mercato.chain.recording import RecordingChain
from mercato.errors import ProtocolError
from mercato.ml.datasets import Dataset, seller_and_buyer_parts
from mercato.ml.trainers import NumpyLogReg
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.protocols.training import agents, compute, data_owner, model_owner
from mercato.protocols.training.compute import JobInput, Worker
from mercato.protocols.training.data_owner import SplitPlan
from mercato.protocols.training.documents import MODE_PLAINTEXT, Method
from mercato.protocols.training.market import TrainingStatus
from mercato.storage.base import BlobStore

ETHER = 10**18
DATA_PRICE = ETHER // 10
JOB_PRICE = ETHER // 100
CO_STAKE = ETHER // 20
SUBSETS = 4
REPLICAS = 3
SUBSETS_PER_ROUND = 3
ROUNDS = 6
LOCAL_EPOCHS = 3
LEARNING_RATE = 0.005
BATCH_SIZE = 32
SEED = 7
COMPUTE_PROVIDERS = (
    "north-cloud",
    "east-gpu",
    "south-hpc",
    "lazy-cloud",
    "west-compute",
    "bay-cpu",
)
LAZY = "lazy-cloud"
MAX_AGENT_ROUNDS = 500


def lazy_worker(job: JobInput) -> bytes:
    """A lazy CO's job: hand back the model it was sent, untrained (saves all the compute)."""
    return job.payload


@dataclass(frozen=True)
class RoundSummary:
    """One round as the model owner's agent recorded it."""

    round: int
    subsets: list[int]
    jobs: int
    outvoted: list[int]
    """Instances whose job failed the model owner's checks this round."""
    accuracy: float


@dataclass(frozen=True)
class FraudSummary:
    """One FraudReported event."""

    round: int
    instance: int
    co: str
    forfeited: int
    """The job pay the instance lost."""
    slashed: int
    """The registry stake it lost."""
    to: str


@dataclass
class TrainingReport:
    """What the P2 demo did, for printing."""

    backend: str
    training_id: int = 0
    status: str = ""
    rounds: list[RoundSummary] = field(default_factory=list)
    frauds: list[FraudSummary] = field(default_factory=list)
    centralised_accuracy: float = 0.0
    withdrawn: dict[str, int] = field(default_factory=dict)
    stakes: dict[str, int] = field(default_factory=dict)
    transactions: int = 0
    seconds: float = 0.0


@dataclass
class TrainingDemo:
    """A deployed market with the P2 cast registered and one agent each, ready to run."""

    market: Marketplace
    recording: RecordingChain
    people: dict[str, Identity]
    stores: dict[str, AgentStore]
    data: Dataset
    evaluation: Dataset
    method: Method
    agents: dict[str, Agent] = field(default_factory=dict)
    listing: data_owner.Listing | None = None

    @property
    def runner(self) -> Runner:
        return Runner(list(self.agents.values()))

    def make_agent(self, name: str, worker: Worker = compute.honest_worker) -> Agent:
        """(Re)create the agent of participant ``name`` over its persisted store."""
        market, me = self.market, self.people[name]
        agent = Agent(
            name,
            self.recording,
            [market.training_market.contract],
            self.stores[name],
            start_block=market.deployment.block,
        )
        if name == "data-owner":
            assert self.listing is not None
            agents.attach_data_owner(agent, market, me, {self.listing.dataset_id: self.listing})
        elif name == "model-owner":
            agents.attach_model_owner(agent, market, me, self.evaluation)
        else:
            agents.attach_compute(agent, market, me, worker)
        self.agents[name] = agent
        return agent

    def close(self) -> None:
        for agent_store in self.stores.values():
            agent_store.close()


def build_training_demo(chain: Chain, store: BlobStore, work_dir: Path) -> TrainingDemo:
    """Deploy, register the cast, list the dataset and create every agent."""
    recording = RecordingChain(chain)
    deployer = chain.dev_accounts(1)[0]
    market = Marketplace(recording, deploy(recording, deployer), store)
    accounts = chain.dev_accounts(2 + len(COMPUTE_PROVIDERS) + 1)[1:]
    people = {"data-owner": Identity(accounts[0]), "model-owner": Identity(accounts[1])}
    for i, name in enumerate(COMPUTE_PROVIDERS):
        people[name] = Identity(accounts[2 + i])
    market.registry.register(people["data-owner"], Role.DATA_OWNER)
    market.registry.register(people["model-owner"], Role.MODEL_OWNER)
    for name in COMPUTE_PROVIDERS:
        market.registry.register(people[name], Role.COMPUTE_PROVIDER, stake=CO_STAKE)
    data, evaluation = seller_and_buyer_parts("digits")
    method = Method(
        mode=MODE_PLAINTEXT,
        trainer=dict(
            NumpyLogReg(
                int(data.X.shape[1]),
                len(data.classes),
                learning_rate=LEARNING_RATE,
                batch_size=BATCH_SIZE,
            ).spec()
        ),
        local_epochs=LOCAL_EPOCHS,
        seed=SEED,
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    stores = {name: AgentStore(work_dir / f"{name}.sqlite") for name in people}
    demo = TrainingDemo(market, recording, people, stores, data, evaluation, method)
    demo.listing = data_owner.list_dataset(
        market,
        people["data-owner"],
        data,
        SplitPlan(SUBSETS, REPLICAS, seed=SEED),
        [people[name].address for name in COMPUTE_PROVIDERS],
        data_price=DATA_PRICE,
        job_price=JOB_PRICE,
    )
    for name in people:
        demo.make_agent(name, lazy_worker if name == LAZY else compute.honest_worker)
    return demo


def run_training_demo(chain: Chain, store: BlobStore, work_dir: Path) -> TrainingReport:
    """Run the P2 flow on ``chain`` and return what happened."""
    started = time.perf_counter()
    demo = build_training_demo(chain, store, work_dir)
    market, mo = demo.market, demo.people["model-owner"]
    try:
        demo.runner.run_until_idle(MAX_AGENT_ROUNDS)  # COs open, check and join; DO verifies
        assert demo.listing is not None
        model_id = model_owner.create_model(market, mo, demo.method)
        training_id, _ = market.training_market.request_training(
            mo.account,
            model_id,
            demo.listing.dataset_id,
            subsets_per_round=SUBSETS_PER_ROUND,
            max_rounds=ROUNDS,
        )
        demo.runner.run_until_idle(MAX_AGENT_ROUNDS)  # approve, rounds, reviews, payments
        mo_state = demo.stores["model-owner"]
        rounds = [
            _round_summary(r, mo_state.get("model-owner", f"round:{training_id}:{r}") or {})
            for r in range(1, ROUNDS + 1)
        ]
    finally:
        demo.close()
    training = market.training_market.training(training_id)
    if training.status is not TrainingStatus.COMPLETED:
        raise ProtocolError(f"the demo training ended {training.status.label}, not completed")
    report = TrainingReport(demo.recording.backend, training_id, training.status.label, rounds)
    _fill_report(report, demo)
    report.seconds = time.perf_counter() - started
    return report


def centralised_accuracy(demo: TrainingDemo) -> float:
    """The same trainer on all the DO's data for the epochs one subset sees in the training."""
    trainer = demo.method.build_trainer()
    epochs = ROUNDS * SUBSETS_PER_ROUND * LOCAL_EPOCHS // SUBSETS
    weights = trainer.train(None, demo.data, epochs, demo.method.seed)
    return float(trainer.accuracy(weights, demo.evaluation))


def _fill_report(report: TrainingReport, demo: TrainingDemo) -> None:
    market = demo.market
    names = {person.address: name for name, person in demo.people.items()}
    for event in market.training_market.events(from_block=market.deployment.block):
        if event.name == "FraudReported":
            report.frauds.append(
                FraudSummary(
                    round=int(event["round"]),
                    instance=int(event["instance_id"]),
                    co=names[event["co"]],
                    forfeited=int(event["forfeited"]),
                    slashed=int(event["slashed"]),
                    to="honest replicas" if event["honest"] else "data owner",
                )
            )
        elif event.name == "Withdrawn":
            who = names.get(event["account"], event["account"])
            report.withdrawn[who] = report.withdrawn.get(who, 0) + int(event["amount"])
    report.stakes = {
        name: market.registry.stake_of(demo.people[name].address) for name in COMPUTE_PROVIDERS
    }
    report.centralised_accuracy = centralised_accuracy(demo)
    report.transactions = len(demo.recording.records)


def _round_summary(number: int, found: dict[str, Any]) -> RoundSummary:
    return RoundSummary(
        round=number,
        subsets=[int(s) for s in found.get("subsets", [])],
        jobs=int(found.get("jobs", 0)),
        outvoted=[int(f["instance"]) for f in found.get("frauds", [])],
        accuracy=float(found.get("accuracy", 0.0)),
    )
