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
from mercato.chain.base import Chain
from mercato.ml.datasets import seller_and_buyer_parts
from mercato.ml.trainers import NumpyLogReg
from mercato.protocols.demo import Demo, DemoPart, Member
from mercato.protocols.roles import Role
from mercato.protocols.training import agents, compute, data_owner, model_owner
from mercato.protocols.training.compute import JobInput, Worker
from mercato.protocols.training.data_owner import SplitPlan
from mercato.protocols.training.documents import MODE_PLAINTEXT, Method
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
CAST = (
    Member("data-owner", Role.DATA_OWNER),
    Member("model-owner", Role.MODEL_OWNER),
    *(Member(name, Role.COMPUTE_PROVIDER, stake=CO_STAKE) for name in COMPUTE_PROVIDERS),
)


def lazy_worker(job: JobInput) -> bytes:
    """A lazy CO's job: hand back the model it was sent, untrained (saves all the compute)."""
    return job.payload


WORKERS: dict[str, Worker] = {LAZY: lazy_worker}
"""The compute providers that do not train honestly (the others run the honest worker)."""


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


class TrainingDemo(Demo):
    """The P2 cast on a fresh market, the dataset listed, one agent each."""

    protocol = "training"

    def __init__(self, chain: Chain, store: BlobStore, work_dir: Path) -> None:
        """Deploy, register the cast, list the dataset and create every agent."""
        super().__init__(chain, store, work_dir, CAST)
        self.data, self.evaluation = seller_and_buyer_parts("digits")
        trainer = NumpyLogReg(
            int(self.data.X.shape[1]),
            len(self.data.classes),
            learning_rate=LEARNING_RATE,
            batch_size=BATCH_SIZE,
        )
        self.method = Method(
            mode=MODE_PLAINTEXT, trainer=dict(trainer.spec()), local_epochs=LOCAL_EPOCHS, seed=SEED
        )
        self.listing = data_owner.list_dataset(
            self.market,
            self.identities["data-owner"],
            self.data,
            SplitPlan(SUBSETS, REPLICAS, seed=SEED),
            [self.identities[name].address for name in COMPUTE_PROVIDERS],
            data_price=DATA_PRICE,
            job_price=JOB_PRICE,
        )
        self.start_agents()

    def attach(self, agent: Agent, name: str) -> None:
        market, me = self.market, self.identities[name]
        if name == "data-owner":
            agents.attach_data_owner(agent, market, me, {self.listing.dataset_id: self.listing})
        elif name == "model-owner":
            agents.attach_model_owner(agent, market, me, self.evaluation)
        else:
            agents.attach_compute(agent, market, me, WORKERS.get(name, compute.honest_worker))


def run_training_demo(chain: Chain, store: BlobStore, work_dir: Path) -> TrainingReport:
    """Run the P2 flow on ``chain`` and return what happened."""
    started = time.perf_counter()
    with TrainingDemo(chain, store, work_dir) as demo:
        demo.run_agents()  # COs open, check and join; DO verifies
        mo = demo.identities["model-owner"]
        model_id = model_owner.create_model(demo.market, mo, demo.method)
        training_id, _ = demo.market.training_market.request_training(
            mo.account,
            model_id,
            demo.listing.dataset_id,
            subsets_per_round=SUBSETS_PER_ROUND,
            max_rounds=ROUNDS,
        )
        demo.run_agents()  # approve, rounds, reviews, payments
        mo_state = demo.stores["model-owner"]
        rounds = [
            _round_summary(r, mo_state.get("model-owner", f"round:{training_id}:{r}") or {})
            for r in range(1, ROUNDS + 1)
        ]
    demo.expect(training_id, "completed")
    report = TrainingReport(demo.recording.backend, training_id, "completed", rounds)
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
    market, names = demo.market, demo.names
    for event in market.training_market.events("FraudReported", from_block=market.deployment.block):
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
    report.withdrawn = demo.withdrawn()
    report.stakes = {
        name: market.registry.stake_of(demo.identities[name].address) for name in COMPUTE_PROVIDERS
    }
    report.centralised_accuracy = centralised_accuracy(demo)
    report.transactions = demo.transactions


def _round_summary(number: int, found: dict[str, Any]) -> RoundSummary:
    return RoundSummary(
        round=number,
        subsets=[int(s) for s in found.get("subsets", [])],
        jobs=int(found.get("jobs", 0)),
        outvoted=[int(f["instance"]) for f in found.get("frauds", [])],
        accuracy=float(found.get("accuracy", 0.0)),
    )


DEMO = DemoPart(
    key="training",
    running="the collaborative training",
    run=run_training_demo,
    text="mercato.cli.demo_training:print_report",
)
