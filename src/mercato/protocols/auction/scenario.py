"""The whole P1 flow with one agent per participant: what ``mercato demo`` runs.

A client buys a handwritten-digit classifier: two data owners, two algorithm owners and two
compute providers compete; agents bid down to their floors; the winners hand their sealed
assets to the compute winner, which trains a real scikit-learn model and delivers it sealed
to the client with a signed execution report; the client checks everything, measures the
model on its own held-out digits and confirms; everyone withdraws what it is owed.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from mercato.agents.agent import Agent
from mercato.agents.runner import Runner
from mercato.agents.store import AgentStore
from mercato.chain.base import Chain
from mercato.chain.compile import compile_contract
from mercato.chain.contract import ABI
from mercato.chain.recording import RecordingChain
from mercato.errors import ProtocolError
from mercato.ml.algorithms import AlgorithmSpec
from mercato.ml.datasets import Dataset, seller_and_buyer_parts
from mercato.ontology.category import Category
from mercato.ontology.requirements import Requirements
from mercato.protocols.auction.agents import attach_arbiter, attach_client, attach_provider
from mercato.protocols.auction.client import open_auction
from mercato.protocols.auction.house import Status
from mercato.protocols.auction.provider import Offer
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.storage.base import BlobStore

ETHER = 10**18
AUCTION_DURATION = 3600
MAX_PRICES = (ETHER, ETHER, ETHER)
MAX_AGENT_ROUNDS = 500


@dataclass(frozen=True)
class Participant:
    """A named demo participant."""

    name: str
    identity: Identity
    roles: Role
    offer: Offer | None = None


@dataclass
class AuctionReport:
    """What the demo did, for printing."""

    backend: str
    requirements: Requirements
    auction_id: int
    bids: list[tuple[str, str, int]] = field(default_factory=list)
    winners: dict[str, tuple[str, int]] = field(default_factory=dict)
    max_prices: tuple[int, ...] = MAX_PRICES
    refund: int = 0
    status: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    withdrawn: dict[str, int] = field(default_factory=dict)
    gas: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    transactions: int = 0
    seconds: float = 0.0


def _participants(chain: Chain, data: Dataset) -> dict[str, Participant]:
    accounts = chain.dev_accounts(10)
    algorithms = {
        "logistic-regression": AlgorithmSpec("logistic_regression", hyperparameters={"C": 1.0}),
        "random-forest": AlgorithmSpec("random_forest", hyperparameters={"n_estimators": 50}),
    }
    half = len(data.y) // 2
    second_data = Dataset(data.name, data.ontology_class, data.X[:half], data.y[:half])

    def make(i: int, name: str, roles: Role, offer: Offer | None = None) -> Participant:
        return Participant(name, Identity(accounts[i]), roles, offer)

    return {
        p.name: p
        for p in (
            make(1, "client", Role.CLIENT),
            make(2, "arbiter", Role.ARBITER),
            make(3, "digits-lab", Role.DATA_OWNER,
                 Offer(Category.DATA, data.ontology_class, 30 * ETHER // 100, data.to_bytes())),
            make(4, "scan-archive", Role.DATA_OWNER,
                 Offer(Category.DATA, data.ontology_class, 40 * ETHER // 100,
                       second_data.to_bytes())),
            make(5, "linear-labs", Role.MODEL_OWNER,
                 Offer(Category.ALGORITHM, "mc:LogisticRegression", 20 * ETHER // 100,
                       algorithms["logistic-regression"].to_json_bytes())),
            make(6, "forest-works", Role.MODEL_OWNER,
                 Offer(Category.ALGORITHM, "mc:RandomForest", 25 * ETHER // 100,
                       algorithms["random-forest"].to_json_bytes())),
            make(7, "enclave-cloud", Role.COMPUTE_PROVIDER,
                 Offer(Category.INFRASTRUCTURE, "mc:SoftwareAttestedCompute", 35 * ETHER // 100)),
            make(8, "attested-hpc", Role.COMPUTE_PROVIDER,
                 Offer(Category.INFRASTRUCTURE, "mc:SoftwareAttestedCompute", 45 * ETHER // 100)),
            make(9, "cheap-cpu", Role.COMPUTE_PROVIDER,
                 Offer(Category.INFRASTRUCTURE, "mc:CPUCompute", 10 * ETHER // 100)),
        )
    }  # fmt: skip


@dataclass
class AuctionDemo:
    """A deployed market with registered participants and one agent each, ready to run."""

    market: Marketplace
    recording: RecordingChain
    people: dict[str, Participant]
    agents: dict[str, Agent]
    stores: dict[str, AgentStore]
    requirements: Requirements
    evaluation: Dataset

    @property
    def runner(self) -> Runner:
        return Runner(list(self.agents.values()))

    def make_agent(self, name: str) -> Agent:
        """(Re)create the agent of participant ``name`` over its persisted store."""
        person = self.people[name]
        market = self.market
        agent = Agent(
            name, self.recording, [market.auction_house.contract], self.stores[name],
            start_block=market.deployment.block,
        )  # fmt: skip
        if person.roles & Role.CLIENT:
            attach_client(agent, market, person.identity, self.evaluation)
        elif person.roles & Role.ARBITER:
            attach_arbiter(agent, market, person.identity)
        else:
            assert person.offer is not None
            attach_provider(agent, market, person.identity, person.offer)
        self.agents[name] = agent
        return agent

    def open_auction(self, duration: int = AUCTION_DURATION) -> int:
        """The client opens the demo auction."""
        return open_auction(
            self.market, self.people["client"].identity, self.requirements,
            max_prices=MAX_PRICES, duration=duration,
            arbiter=self.people["arbiter"].identity.address,
        )  # fmt: skip

    def close(self) -> None:
        for agent_store in self.stores.values():
            agent_store.close()


def build_auction_demo(chain: Chain, store: BlobStore, work_dir: Path) -> AuctionDemo:
    """Deploy, register every participant and create their agents (persisted in ``work_dir``)."""
    recording = RecordingChain(chain)
    deployer = chain.dev_accounts(1)[0]
    deployment = deploy(recording, deployer)
    market = Marketplace(recording, deployment, store)

    provider_data, evaluation = seller_and_buyer_parts("digits")
    people = _participants(chain, provider_data)
    for person in people.values():
        market.registry.register(person.identity, person.roles)
    requirements = Requirements(
        data="mc:LabelledImages",
        algorithm="mc:ClassificationAlgorithm",
        infrastructure="mc:AttestedCompute",  # cheap-cpu does not match: no attestation
        task="classify 8x8 handwritten digits",
        metric="accuracy",
        minimum=0.9,
    )
    work_dir.mkdir(parents=True, exist_ok=True)
    stores = {name: AgentStore(work_dir / f"{name}.sqlite") for name in people}
    demo = AuctionDemo(market, recording, people, {}, stores, requirements, evaluation)
    for name in people:
        demo.make_agent(name)
    return demo


def run_auction_demo(chain: Chain, store: BlobStore, work_dir: Path) -> AuctionReport:
    """Run the P1 flow on ``chain`` and return what happened."""
    started = time.perf_counter()
    demo = build_auction_demo(chain, store, work_dir)
    try:
        auction_id = demo.open_auction()
        demo.runner.run_until_idle(MAX_AGENT_ROUNDS)  # the bidding war, down to the floors
        chain.time_travel(AUCTION_DURATION)
        demo.runner.run_until_idle(
            MAX_AGENT_ROUNDS
        )  # adjudicate, hand over, train, deliver, review
        review = demo.stores["client"].get("client", f"review:{auction_id}") or {}
    finally:
        demo.close()
    auction = demo.market.auction_house.auction(auction_id)
    if auction.status is not Status.CONFIRMED:
        raise ProtocolError(f"the demo auction ended {auction.status.label}, not confirmed")
    report = _report(demo.recording, demo.market, demo.people, demo.requirements, auction_id)
    report.metrics = dict(review.get("metrics", {}))
    report.seconds = time.perf_counter() - started
    return report


def _report(
    recording: RecordingChain,
    market: Marketplace,
    people: dict[str, Participant],
    requirements: Requirements,
    auction_id: int,
) -> AuctionReport:
    names = {p.identity.address: p.name for p in people.values()}
    house = market.auction_house
    report = AuctionReport(recording.backend, requirements, auction_id)
    for event in house.events(from_block=market.deployment.block):
        if event.name == "BidPlaced":
            label = Category(event["category"]).label
            report.bids.append((names[event["bidder"]], label, int(event["amount"])))
        elif event.name == "Adjudicated":
            report.refund = int(event["refund"])
            for category, winner, price in zip(
                Category, event["winners"], event["prices"], strict=True
            ):
                report.winners[category.label] = (names[winner], int(price))
        elif event.name == "Withdrawn":
            who = names[event["account"]]
            report.withdrawn[who] = report.withdrawn.get(who, 0) + int(event["amount"])
    report.status = house.auction(auction_id).status.label
    functions = {
        fn.selector: fn.name
        for name in ("AuctionHouse", "Registry")
        for fn in ABI(compile_contract(name).abi).functions.values()
    }
    for record in recording.records:
        label = functions.get(record.selector, "deploy")
        report.gas[label].append(record.gas_used)
    report.transactions = len(recording.records)
    return report
