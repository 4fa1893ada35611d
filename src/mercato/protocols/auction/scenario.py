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
from mercato.chain.base import Chain
from mercato.chain.compile import compile_contract
from mercato.chain.contract import ABI
from mercato.ml.algorithms import AlgorithmSpec
from mercato.ml.datasets import Dataset, seller_and_buyer_parts
from mercato.ontology.category import Category
from mercato.ontology.requirements import Requirements
from mercato.protocols.auction.agents import attach_arbiter, attach_client, attach_provider
from mercato.protocols.auction.client import open_auction
from mercato.protocols.auction.provider import Offer
from mercato.protocols.demo import Demo, DemoPart, Member
from mercato.protocols.identity import Identity
from mercato.protocols.roles import Role
from mercato.storage.base import BlobStore

ETHER = 10**18
AUCTION_DURATION = 3600
MAX_PRICES = (ETHER, ETHER, ETHER)
MAX_AGENT_ROUNDS = 500
REQUIREMENTS = Requirements(
    data="mc:LabelledImages",
    algorithm="mc:ClassificationAlgorithm",
    infrastructure="mc:AttestedCompute",  # cheap-cpu does not match: no attestation
    task="classify 8x8 handwritten digits",
    metric="accuracy",
    minimum=0.9,
)


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


def _cast(data: Dataset) -> list[tuple[Member, Offer | None]]:
    """The client, the arbiter and the providers with their offers, in registration order."""
    algorithms = {
        "logistic-regression": AlgorithmSpec("logistic_regression", hyperparameters={"C": 1.0}),
        "random-forest": AlgorithmSpec("random_forest", hyperparameters={"n_estimators": 50}),
    }
    half = len(data.y) // 2
    second_data = Dataset(data.name, data.ontology_class, data.X[:half], data.y[:half])
    return [
        (Member("client", Role.CLIENT), None),
        (Member("arbiter", Role.ARBITER), None),
        (Member("digits-lab", Role.DATA_OWNER),
         Offer(Category.DATA, data.ontology_class, 30 * ETHER // 100, data.to_bytes())),
        (Member("scan-archive", Role.DATA_OWNER),
         Offer(Category.DATA, data.ontology_class, 40 * ETHER // 100, second_data.to_bytes())),
        (Member("linear-labs", Role.MODEL_OWNER),
         Offer(Category.ALGORITHM, "mc:LogisticRegression", 20 * ETHER // 100,
               algorithms["logistic-regression"].to_json_bytes())),
        (Member("forest-works", Role.MODEL_OWNER),
         Offer(Category.ALGORITHM, "mc:RandomForest", 25 * ETHER // 100,
               algorithms["random-forest"].to_json_bytes())),
        (Member("enclave-cloud", Role.COMPUTE_PROVIDER),
         Offer(Category.INFRASTRUCTURE, "mc:SoftwareAttestedCompute", 35 * ETHER // 100)),
        (Member("attested-hpc", Role.COMPUTE_PROVIDER),
         Offer(Category.INFRASTRUCTURE, "mc:SoftwareAttestedCompute", 45 * ETHER // 100)),
        (Member("cheap-cpu", Role.COMPUTE_PROVIDER),
         Offer(Category.INFRASTRUCTURE, "mc:CPUCompute", 10 * ETHER // 100)),
    ]  # fmt: skip


class AuctionDemo(Demo):
    """A client, an arbiter and seven providers on a fresh market, one agent each."""

    protocol = "auction"
    max_rounds = MAX_AGENT_ROUNDS

    def __init__(self, chain: Chain, store: BlobStore, work_dir: Path) -> None:
        """Deploy, register every participant and create their agents (kept in ``work_dir``)."""
        provider_data, self.evaluation = seller_and_buyer_parts("digits")
        cast = _cast(provider_data)
        super().__init__(chain, store, work_dir, [member for member, _ in cast])
        self.people = {
            m.name: Participant(m.name, self.identities[m.name], m.roles, offer)
            for m, offer in cast
        }
        self.requirements = REQUIREMENTS
        self.start_agents()

    def attach(self, agent: Agent, name: str) -> None:
        person = self.people[name]
        if person.roles & Role.CLIENT:
            attach_client(agent, self.market, person.identity, self.evaluation)
        elif person.roles & Role.ARBITER:
            attach_arbiter(agent, self.market, person.identity)
        else:
            assert person.offer is not None
            attach_provider(agent, self.market, person.identity, person.offer)

    def open_auction(self, duration: int = AUCTION_DURATION) -> int:
        """The client opens the demo auction."""
        return open_auction(
            self.market, self.people["client"].identity, self.requirements,
            max_prices=MAX_PRICES, duration=duration,
            arbiter=self.people["arbiter"].identity.address,
        )  # fmt: skip


def run_auction_demo(chain: Chain, store: BlobStore, work_dir: Path) -> AuctionReport:
    """Run the P1 flow on ``chain`` and return what happened."""
    started = time.perf_counter()
    with AuctionDemo(chain, store, work_dir) as demo:
        auction_id = demo.open_auction()
        demo.run_agents()  # the bidding war, down to the floors
        chain.time_travel(AUCTION_DURATION)
        demo.run_agents()  # adjudicate, hand over, train, deliver, review
        review = demo.stores["client"].get("client", f"review:{auction_id}") or {}
    demo.expect(auction_id, "confirmed")
    report = _report(demo, auction_id)
    report.metrics = dict(review.get("metrics", {}))
    report.seconds = time.perf_counter() - started
    return report


def _report(demo: AuctionDemo, auction_id: int) -> AuctionReport:
    names, market = demo.names, demo.market
    house = market.auction_house
    report = AuctionReport(demo.recording.backend, demo.requirements, auction_id)
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
    report.withdrawn = demo.withdrawn()
    report.status = house.state(auction_id)
    functions = {
        fn.selector: fn.name
        for name in ("AuctionHouse", "Registry")
        for fn in ABI(compile_contract(name).abi).functions.values()
    }
    for record in demo.recording.records:
        label = functions.get(record.selector, "deploy")
        report.gas[label].append(record.gas_used)
    report.transactions = demo.transactions
    return report


def report_json(report: AuctionReport) -> dict[str, object]:
    """The report as JSON-able data (its backend aside)."""
    return {
        "auction_id": report.auction_id,
        "requirements": report.requirements.to_json_bytes().decode(),
        "bids": [{"bidder": b, "category": c, "amount": a} for b, c, a in report.bids],
        "winners": {c: {"provider": n, "price": p} for c, (n, p) in report.winners.items()},
        "refund": report.refund,
        "status": report.status,
        "metrics": report.metrics,
        "withdrawn": report.withdrawn,
        "gas": dict(report.gas),
        "transactions": report.transactions,
        "seconds": report.seconds,
    }


DEMO = DemoPart(
    key="auction",
    running="the procurement auction",
    run=run_auction_demo,
    text="mercato.cli.demo_auction:print_report",
    json=report_json,
    json_at_top=True,
)
