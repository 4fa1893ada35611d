"""Transactions per second through the Chain interface, beside the figures DESIGN.md gives.

The workload is the marketplace's hot path: bids on an open auction of our AuctionHouse,
each one lowering its bidder's price, encoded by the typed contract handle and sent by the
backend's normal path (on rpc: signed locally, sent raw). One bidder per category keeps
every bidder's bids ordered by its nonce, so pipelined bids never overtake each other.

Modes: ``sequential`` sends one transaction and waits for its receipt before the next;
``pipelined`` (rpc only: the embedded chain has nothing to overlap) hands ``send_many``
batches of transactions with explicit gas, one batch in flight at a time, which bounds the
node's queue (anvil under automine stalls and bloats on bursts of thousands).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import count
from typing import Any

from eth_account.signers.local import LocalAccount

from mercato.bench.common import MAX_PRICE, Cast, open_auction, open_chain
from mercato.bench.flow import ProgressCallback, timed, with_margin
from mercato.chain.base import Chain, TxRequest
from mercato.chain.contract import Contract, TxResult
from mercato.ontology.category import Category
from mercato.protocols.auction.house import AuctionHouse
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.registry import Registry

SEQUENTIAL = "sequential"
PIPELINED = "pipelined"
DEFAULT_TRANSACTIONS = 300
"""Per row: a few seconds on a 2-core machine (a bid runs ~500 opcodes and a registry call)."""
PIPELINE_BATCH = 100
"""Transactions handed to one send_many call: at most this many wait in the node at once."""
GAS_MARGIN_PERCENT = 20
"""Explicit gas limit of pipelined bids: the measured gas of a bid plus this margin."""

REFERENCE_TX_PER_S: dict[tuple[str, str], tuple[int, int]] = {
    ("embedded", SEQUENTIAL): (1_700, 4_300),
    ("rpc", SEQUENTIAL): (120, 145),
    ("rpc", PIPELINED): (220, 820),
}
"""DESIGN.md's figures, measured earlier on this kind of machine (2 cores): titanoboa's py-evm
environment in process; anvil 1.7.1 send-and-wait; anvil pipelined."""
REFERENCE_SOURCE = {
    ("embedded", SEQUENTIAL): "titanoboa py-evm env, calls in process",
    ("rpc", SEQUENTIAL): "anvil 1.7.1, send and wait",
    ("rpc", PIPELINED): "anvil 1.7.1, pipelined",
}


@dataclass(frozen=True)
class Throughput:
    """One measured row: how many transactions a backend mined, in how long."""

    backend: str
    mode: str
    transactions: int
    seconds: float
    workload: str = "bid"

    @property
    def tx_per_s(self) -> float:
        return self.transactions / self.seconds if self.seconds > 0 else 0.0

    @property
    def reference(self) -> tuple[int, int] | None:
        """DESIGN.md's figure for this backend and mode (tx/s, low and high).

        Those figures were taken with minimal calls, so only the probe workload compares.
        """
        if self.workload != ProbeWorkload.name:
            return None
        return REFERENCE_TX_PER_S.get((self.backend, self.mode))

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "mode": self.mode,
            "workload": self.workload,
            "tx_per_s": round(self.tx_per_s, 1),
            "transactions": self.transactions,
            "seconds": round(self.seconds, 3),
            "reference_tx_per_s": list(self.reference) if self.reference else None,
        }


class ProbeWorkload:
    """Pokes of the Probe contract: the least a state-changing transaction can do."""

    name = "probe"

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.senders = tuple(Cast.of(chain).providers[c][0] for c in Category)
        self.probe, _ = Contract.deploy(chain, "Probe", sender=self.senders[0])
        self.gas = self.send(0).gas_used  # the first poke writes a fresh slot: the largest

    def send(self, index: int) -> TxResult:
        return self.probe.transact("poke", sender=self.senders[index % len(self.senders)])

    def requests(self, first: int, size: int, gas: int) -> list[TxRequest]:
        return [
            self.probe.tx("poke", sender=self.senders[i % len(self.senders)], gas=gas)
            for i in range(first, first + size)
        ]


class BidWorkload:
    """An open auction and one bidder per category, each ready to lower its bid again."""

    name = "bid"

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        cast = Cast.of(chain)
        deployment = deploy(chain, cast.deployer)
        registry = Registry(chain, deployment.registry)
        self.house = AuctionHouse(chain, deployment.auction_house)
        for _, account, role in cast.members(per_category=1):
            registry.register(Identity(account), role)
        self.bidders: tuple[LocalAccount, ...] = tuple(cast.providers[c][0] for c in Category)
        self.auction_id, _ = open_auction(self.house, cast)
        self._amounts = count(MAX_PRICE, -1)  # shared by the three bidders: always decreasing
        # warm-up: the first bid of a category writes a fresh slot, so every timed bid is a
        # steady-state rewrite, and the first bids' (larger) gas bounds the timed ones'
        self.gas = max(self.send(i).gas_used for i in range(len(self.bidders)))

    def _next(self, index: int) -> tuple[LocalAccount, Category, int]:
        category = Category(index % len(self.bidders))
        return self.bidders[category], category, next(self._amounts)

    def send(self, index: int) -> TxResult:
        """Send bid number ``index`` and wait for it (the typed wrapper's path)."""
        bidder, category, amount = self._next(index)
        return self.house.bid(bidder, self.auction_id, category, amount)

    def requests(self, first: int, size: int, gas: int) -> list[TxRequest]:
        """Bids ``first`` to ``first + size - 1`` as transaction requests with explicit gas."""
        requests = []
        for index in range(first, first + size):
            bidder, category, amount = self._next(index)
            requests.append(
                self.house.contract.tx(
                    "bid", self.auction_id, int(category), amount, [], sender=bidder, gas=gas
                )
            )
        return requests


Workload = ProbeWorkload | BidWorkload
WORKLOADS: dict[str, type[ProbeWorkload] | type[BidWorkload]] = {
    ProbeWorkload.name: ProbeWorkload,
    BidWorkload.name: BidWorkload,
}


def measure_sequential(
    chain: Chain,
    transactions: int,
    progress: ProgressCallback | None = None,
    workload_name: str = BidWorkload.name,
) -> Throughput:
    """Send ``transactions`` of a workload one by one, each waited for."""
    workload = WORKLOADS[workload_name](chain)

    def run() -> None:
        for index in range(transactions):
            workload.send(index)
            if progress is not None:
                progress(1)

    _, seconds = timed(run)
    return Throughput(chain.backend, SEQUENTIAL, transactions, seconds, workload.name)


def measure_pipelined(
    chain: Chain,
    transactions: int,
    batch: int = PIPELINE_BATCH,
    progress: ProgressCallback | None = None,
    workload_name: str = BidWorkload.name,
) -> Throughput:
    """Send ``transactions`` of a workload through ``send_many`` in batches of ``batch``."""
    workload = WORKLOADS[workload_name](chain)
    gas = with_margin(workload.gas, GAS_MARGIN_PERCENT)

    def run() -> None:
        for first in range(0, transactions, batch):
            size = min(batch, transactions - first)
            chain.send_many(workload.requests(first, size, gas))
            if progress is not None:
                progress(size)

    _, seconds = timed(run)
    return Throughput(chain.backend, PIPELINED, transactions, seconds, workload.name)


@dataclass(frozen=True)
class Plan:
    """One row to measure: which backend, which mode, how many transactions."""

    backend: str
    mode: str
    transactions: int
    workload: str = "bid"


def plan(rpc_url: str | None, transactions: int | None = None) -> list[Plan]:
    """The rows to measure: embedded always, the rpc modes when a node URL is given; each
    mode with the probe (what the backend costs) and with auction bids (our hot path)."""
    size = transactions or DEFAULT_TRANSACTIONS
    rows = []
    for workload in WORKLOADS:
        rows.append(Plan("embedded", SEQUENTIAL, size, workload))
        if rpc_url:
            rows += [
                Plan("rpc", SEQUENTIAL, size, workload),
                Plan("rpc", PIPELINED, size, workload),
            ]
    return rows


def measure(
    row: Plan,
    rpc_url: str | None = None,
    batch: int = PIPELINE_BATCH,
    progress: ProgressCallback | None = None,
) -> Throughput:
    """Measure one planned row on a fresh deployment."""
    with open_chain(row.backend, rpc_url if row.backend == "rpc" else None) as chain:
        if row.mode == PIPELINED:
            return measure_pipelined(chain, row.transactions, batch, progress, row.workload)
        return measure_sequential(chain, row.transactions, progress, row.workload)


def run_chain_bench(
    rpc_url: str | None = None, transactions: int | None = None, batch: int = PIPELINE_BATCH
) -> list[Throughput]:
    """Every row of ``mercato bench chain``: embedded, and the node at ``rpc_url`` if given."""
    return [measure(row, rpc_url, batch) for row in plan(rpc_url, transactions)]
