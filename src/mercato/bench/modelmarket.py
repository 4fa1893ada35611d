"""``mercato bench modelmarket``: P4 (Golden Grain) measured beside its anchors.

Golden Grain prices models by a benchmark on a hidden test set and swaps each model for its
price fairly. Measured on one backend, with the demo's four models of handwritten digits
and its terms (:mod:`mercato.protocols.modelmarket.scenario`), each part in its module:

- a whole market driven through each role's steps, its gas per transaction, the honest swap
  of each sale (``reveal_key``, ``finish``, ``withdraw``), the time spent waiting on the
  chain, one executor's benchmark (gather, check, score, sign) and whether the buyer's own
  score of each model it bought equals the executors' (:mod:`mercato.bench.modelmarket_market`);
- the complaint about a bad chunk for models of 10 kB, 1 MB and 100 MB, whose gas grows
  with the proofs' depth only (:mod:`mercato.bench.modelmarket_complaint`).

Anchors (:data:`ANCHOR_SOURCES`): FairSwap's complaint as a formula over the same chunk and
proofs, DanKu's gas for storing 1 kB on chain to evaluate there, and the gas of one Merkle
proof check.
"""

from __future__ import annotations

import math
import statistics
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercato.bench.common import chain_and_backend
from mercato.bench.flow import StartPhase, phases
from mercato.bench.modelmarket_complaint import (
    COMPLAINT_GAS_GOAL,
    COMPLAINT_SIZES,
    FAIRSWAP_FORMULA,
    MERKLE_FORMULA,
    ComplaintGas,
    complaint_gas,
    merkle_gas,
)
from mercato.bench.modelmarket_market import (
    SWAP_STEPS,
    ClockedChain,
    DemoCast,
    MarketRun,
    demo_data,
    run_market,
)
from mercato.errors import InputError
from mercato.protocols.deployment import deploy
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.modelmarket import scenario as demo
from mercato.storage.local import LocalBlobStore

if TYPE_CHECKING:
    pass

DEFAULT_REPEATS = 3
"""Whole markets timed; the report gives the median and every run (gas from the first)."""
DANKU_GAS_PER_KB = 6_068_352
BLOCK_GAS_LIMIT = 30_000_000
ANCHOR_SOURCES = {
    "fairswap_complaint": (
        "Dziembowski, Eckey and Faust, FairSwap: How to fairly exchange digital goods "
        "(ACM CCS 2018): a complaint carries one chunk and Merkle proofs of the tree's depth; "
        "the gas here is our formula for that data, not the paper's figure"
    ),
    "danku_evaluation": (
        "Kurtulmus and Daniel, Trustless Machine Learning Contracts (DanKu, arXiv:1802.10185, "
        "2018): evaluation on chain needs the test data in contract storage, 6,068,352 gas "
        "for 1 kB"
    ),
    "merkle_proof": (
        "solady's MerkleProofLib, execution gas of one proof check as measured by "
        "alpinevm/merkle-proof-benchmark (249 gas at 2 leaves to 2,259 at 65,536)"
    ),
}


@dataclass(frozen=True)
class ModelMarketBenchReport:
    """Everything ``mercato bench modelmarket`` measured in one run."""

    backend: str
    runs: tuple[MarketRun, ...]
    complaints: tuple[ComplaintGas, ...]
    test_bytes: int

    @property
    def market(self) -> MarketRun:
        """The first market: its gas (every run's is the same but for draws and hashes)."""
        return self.runs[0]

    @property
    def chain_seconds(self) -> float:
        return statistics.median(run.chain_seconds for run in self.runs)

    @property
    def executor_seconds(self) -> float:
        return statistics.median(s for run in self.runs for s in run.executor_seconds)

    @property
    def scores_agree(self) -> bool:
        return all(run.scores_agree for run in self.runs)

    def swap_transactions(self) -> dict[str, Any]:
        swaps = self.market.swaps()
        gas = {name: sum(steps.values()) for name, steps in swaps.items()}
        return {
            "transactions": len(SWAP_STEPS),
            "operations": list(SWAP_STEPS),
            "by_seller": {name: {**steps, "gas": gas[name]} for name, steps in swaps.items()},
            "gas": max(gas.values(), default=0),
        }

    def complaint_gas_per_level(self) -> float | None:
        """Extra gas of one more proof level, from the smallest to the largest model."""
        first, last = self.complaints[0], self.complaints[-1]
        if last.depth == first.depth:
            return None
        return round((last.gas - first.gas) / (last.depth - first.depth), 1)

    def anchors(self) -> dict[str, Any]:
        total = self.market.gas
        danku = math.ceil(self.test_bytes / 1000 * DANKU_GAS_PER_KB)
        return {
            "fairswap_complaint": {
                "formula": FAIRSWAP_FORMULA,
                "gas_by_size": {c.label: c.fairswap_gas for c in self.complaints},
                "source": ANCHOR_SOURCES["fairswap_complaint"],
            },
            "danku_evaluation": {
                "gas_per_kb_stored": DANKU_GAS_PER_KB,
                "test_set_bytes": self.test_bytes,
                "test_set_gas": danku,
                "test_set_blocks": math.ceil(danku / BLOCK_GAS_LIMIT),
                "block_gas_limit": BLOCK_GAS_LIMIT,
                "our_market_gas_over_1kb": round(total / DANKU_GAS_PER_KB, 3),
                "source": ANCHOR_SOURCES["danku_evaluation"],
            },
            "merkle_proof": {
                "formula": MERKLE_FORMULA,
                "gas_by_size": {c.label: merkle_gas(c.depth) for c in self.complaints},
                "source": ANCHOR_SOURCES["merkle_proof"],
            },
        }

    def as_dict(self) -> dict[str, Any]:
        market = self.market
        largest = self.complaints[-1]
        return {
            "backend": self.backend,
            "scenario": {
                "sellers": len(demo.SELLERS),
                "executors": demo.TERMS.executors,
                "bought": demo.TERMS.k,
                "groups": demo.GROUPS,
                "group_size": demo.GROUP_SIZE,
                "sample": demo.SAMPLE,
            },
            "gas_market": {
                "total": market.gas,
                "transactions": market.transactions,
                "operations": [
                    {"name": s.name, "sender": s.role, "gas": s.gas} for s in market.steps
                ],
                "by_name": {
                    name: {k: row[k] for k in ("count", "gas", "gas_each")}
                    for name, row in market.by_name().items()
                },
            },
            "swap_transactions": self.swap_transactions(),
            "gas_complaint_by_size": {c.label: c.as_dict() for c in self.complaints},
            "complaint_gas_goal": COMPLAINT_GAS_GOAL,
            "complaint_under_goal": largest.gas < COMPLAINT_GAS_GOAL,
            "complaint_gas_per_proof_level": self.complaint_gas_per_level(),
            "anchors": self.anchors(),
            "chain_seconds": round(self.chain_seconds, 4),
            "chain_seconds_runs": [round(run.chain_seconds, 4) for run in self.runs],
            "transaction_seconds": round(statistics.median(run.seconds for run in self.runs), 4),
            "executor_seconds": round(self.executor_seconds, 4),
            "executor_seconds_runs": [
                [round(s, 4) for s in run.executor_seconds] for run in self.runs
            ],
            "scores": [s.as_dict() for s in market.scores],
            "scores_agree": self.scores_agree,
            "repeats": len(self.runs),
        }


def run_modelmarket_bench(
    rpc_url: str | None = None,
    *,
    repeats: int = DEFAULT_REPEATS,
    sizes: Sequence[tuple[str, int]] = COMPLAINT_SIZES,
    start: StartPhase | None = None,
) -> ModelMarketBenchReport:
    """Measure P4 on the node at ``rpc_url`` (else a fresh embedded chain): ``repeats``
    whole markets, then the complaint for models of ``sizes``."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InputError(f"repeats must be a positive integer, got {repeats!r}")
    if not sizes:
        raise InputError("name at least one model size for the complaint")
    phase = phases(start)
    advance = phase("the demo's digits and models", 1)
    data = demo_data()
    advance(1)
    with chain_and_backend(rpc_url) as (chain, backend), tempfile.TemporaryDirectory() as folder:
        clock = ClockedChain(chain)
        deployment = deploy(clock, chain.dev_accounts(1)[0])
        market = Marketplace(clock, deployment, LocalBlobStore(Path(folder)))
        cast = DemoCast.of(chain)
        cast.register(market)
        advance = phase("whole markets", repeats)
        runs = []
        for _ in range(repeats):
            runs.append(run_market(market, clock, cast, data))
            advance(1)
        advance = phase("complaints by model size", 1)
        complaints = complaint_gas(market, cast, data, sizes)
        advance(1)
    return ModelMarketBenchReport(backend, tuple(runs), complaints, data.test_bytes)
