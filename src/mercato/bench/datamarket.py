"""``mercato bench datamarket``: P3 (OmniLytics) beside the paper's figures.

OmniLytics reports that "a CNN improves from 62% to 83% accuracy within 500 ms of blockchain
processing", and stores every data owner's gradients on chain. Four measurements, each in
its own module:

- the chain part of a whole market of ``n`` data owners, post task to payments, secure and
  robust, one transaction at a time and (on a node that mines on request) in waves; the gas
  a DO spends per round beside what storing its update on chain would cost
  (:mod:`mercato.bench.datamarket_chain`);
- secure aggregation's cost for ``n`` DOs and 100,000 parameters, with and without dropouts,
  beside one epoch of local training (:mod:`mercato.bench.datamarket_secagg`);
- accuracy before and after the market, honest, poisoned with and without a robust rule,
  per poison kind and rule (:mod:`mercato.bench.datamarket_accuracy`).
"""

from __future__ import annotations

import os
import statistics
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from mercato.bench.common import ACCURACY_SKIPPED_NOTE, automine, chain_and_backend
from mercato.bench.datamarket_accuracy import (
    PAPER_ACCURACY_AFTER,
    PAPER_ACCURACY_BEFORE,
    MarketAccuracy,
    market_accuracy,
    runs_of,
)
from mercato.bench.datamarket_chain import (
    BLOCK_GAS_LIMIT,
    DEFAULT_DATA_OWNERS,
    DEFAULT_REPEATS,
    UPDATE_ON_CHAIN_FORMULA,
    DoRoundGas,
    MarketCast,
    TimedMarkets,
    WaveMarket,
    bound_of,
    check_data_owners,
    deploy_market,
    excluded_indices,
    gas_per_do_round,
    market_in_waves,
    timed_market,
    update_on_chain_gas,
    wave_gas_limits,
)
from mercato.bench.datamarket_secagg import (
    DEFAULT_DROPOUTS,
    DEFAULT_PARAMETERS,
    HIDDEN_100K,
    EpochCost,
    SecAggCost,
    epoch_cost,
    secagg_cost,
)
from mercato.bench.flow import StartPhase, phases
from mercato.chain.base import Chain
from mercato.chain.rpc import RpcChain
from mercato.ml.federated_sim import RULES
from mercato.ml.poison import POISONS
from mercato.protocols.datamarket.market import Mode
from mercato.protocols.datamarket.scenario import SEED

PAPER_CHAIN_SECONDS = 0.5
PAPER_MODEL = "CNN"
UPDATE_PARAMETERS = 100_000
"""The update size whose on-chain storage cost the report states beside the demo model's."""
NO_NODE_NOTE = (
    "waves need a node that mines on request: pass --anvil (or --rpc-url of an anvil node)"
)


def dropouts_for(data_owners: int) -> int:
    """The dropouts measured: two, or as many as the threshold lets ``data_owners`` lose."""
    return min(DEFAULT_DROPOUTS, data_owners - bound_of(Mode.SECURE, data_owners))


@dataclass(frozen=True)
class ChainPart:
    """Everything measured on the chain."""

    secure: TimedMarkets
    robust: TimedMarkets
    gas_secure: DoRoundGas
    gas_robust: DoRoundGas
    waves_secure: tuple[WaveMarket, ...] = ()
    waves_robust: tuple[WaveMarket, ...] = ()


@dataclass(frozen=True)
class DataMarketBenchReport:
    """Everything ``mercato bench datamarket`` measured in one run."""

    backend: str
    data_owners: int
    chain: ChainPart
    secagg: SecAggCost
    epoch: EpochCost
    epoch_demo: EpochCost
    accuracy: MarketAccuracy | None = None
    repeats: int = DEFAULT_REPEATS
    notes: tuple[str, ...] = field(default=())
    load: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    """The machine's 1, 5 and 15-minute load averages when the run started and ended."""

    @property
    def chain_seconds(self) -> float:
        return self.chain.secure.seconds

    @property
    def chain_seconds_waves(self) -> float | None:
        return _median_seconds(self.chain.waves_secure)

    def as_dict(self) -> dict[str, Any]:
        chain, secagg, accuracy = self.chain, self.secagg, self.accuracy
        ours = chain.gas_secure.total
        demo_update = update_on_chain_gas(self.epoch_demo.parameters)
        large_update = update_on_chain_gas(UPDATE_PARAMETERS)
        waves = self.chain_seconds_waves
        dropouts = secagg.dropouts
        return {
            "backend": self.backend,
            "chain_seconds": round(self.chain_seconds, 4),
            "chain_seconds_robust": round(chain.robust.seconds, 4),
            "chain_seconds_waves": None if waves is None else round(waves, 4),
            "chain_seconds_waves_robust": _rounded(_median_seconds(chain.waves_robust)),
            "paper_chain_seconds": PAPER_CHAIN_SECONDS,
            "chain_seconds_under_paper": self.chain_seconds < PAPER_CHAIN_SECONDS,
            "transactions": chain.secure.flows[0].transactions,
            "transactions_robust": chain.robust.flows[0].transactions,
            "gas_per_do_round": ours,
            "gas_per_do_round_robust": chain.gas_robust.total,
            "gas_per_do_round_breakdown": {
                "secure": chain.gas_secure.as_dict(),
                "robust": chain.gas_robust.as_dict(),
            },
            "gas_update_on_chain": {
                "demo_model": demo_update.as_dict(ours),
                f"parameters_{UPDATE_PARAMETERS}": large_update.as_dict(ours),
            },
            "gas_update_on_chain_formula": UPDATE_ON_CHAIN_FORMULA,
            "block_gas_limit": BLOCK_GAS_LIMIT,
            "accuracy_before": None if accuracy is None else round(accuracy.before, 4),
            "accuracy_after_honest": None if accuracy is None else round(accuracy.after_honest, 4),
            "accuracy_after_poisoned_robust": (
                None if accuracy is None else _rounded(accuracy.after_poisoned_robust)
            ),
            "accuracy_after_poisoned_undefended": (
                None if accuracy is None else _rounded(accuracy.after_poisoned_undefended)
            ),
            "paper_accuracy_before": PAPER_ACCURACY_BEFORE,
            "paper_accuracy_after": PAPER_ACCURACY_AFTER,
            "secagg_seconds": round(secagg.seconds, 4),
            f"secagg_seconds_{dropouts}_dropouts": round(secagg.seconds_dropouts, 4),
            "secagg_dropouts": dropouts,
            "epoch_seconds": round(self.epoch.seconds, 4),
            "epoch_seconds_demo_model": round(self.epoch_demo.seconds, 4),
            "parameters": {
                "data_owners": self.data_owners,
                "rounds_timed": 1,
                "repeats": self.repeats,
                "threshold": bound_of(Mode.SECURE, self.data_owners),
                "max_excluded": bound_of(Mode.ROBUST, self.data_owners),
                "excluded_indices": list(excluded_indices(self.data_owners)),
                "secagg_parameters": secagg.parameters,
                "epoch_model_hidden": list(self.epoch.hidden),
                "epoch_model_parameters": self.epoch.parameters,
                "demo_model_hidden": list(self.epoch_demo.hidden),
                "demo_model_parameters": self.epoch_demo.parameters,
                "seed": SEED,
            },
            "flows": {"secure": chain.secure.as_dict(), "robust": chain.robust.as_dict()},
            "waves": (
                None
                if not chain.waves_secure
                else {
                    "secure": _waves_summary(chain.waves_secure),
                    "robust": _waves_summary(chain.waves_robust),
                }
            ),
            "secagg": secagg.as_dict(),
            "epoch": {
                "public_100k": self.epoch.as_dict(),
                "demo_model": self.epoch_demo.as_dict(),
                "mask_and_deal_per_do_over_epoch": _ratio(
                    secagg.per_do("mask") + secagg.per_do("deal"), self.epoch.seconds
                ),
                "secagg_critical_path_over_epoch": _ratio(secagg.critical_path, self.epoch.seconds),
            },
            "accuracy": None if accuracy is None else accuracy.as_dict(),
            "paper": {
                "chain_seconds": PAPER_CHAIN_SECONDS,
                "accuracy_before": PAPER_ACCURACY_BEFORE,
                "accuracy_after": PAPER_ACCURACY_AFTER,
                "model": PAPER_MODEL,
                "stores_gradients_on_chain": True,
            },
            "load_average": {"start": list(self.load[0]), "end": list(self.load[1])},
            "notes": list(self.notes),
        }


def _median_seconds(waves: tuple[WaveMarket, ...]) -> float | None:
    return statistics.median(w.seconds for w in waves) if waves else None


def _waves_summary(waves: tuple[WaveMarket, ...]) -> dict[str, Any]:
    """Median seconds of the market and of each of its waves, over the runs."""
    steps = [step for step, _, _ in waves[0].waves]
    return {
        "seconds": _rounded(_median_seconds(waves)),
        "runs": [round(w.seconds, 4) for w in waves],
        "transactions": waves[0].transactions,
        "waves": [
            {
                "step": step,
                "transactions": waves[0].waves[i][1],
                "seconds": round(statistics.median(w.waves[i][2] for w in waves), 4),
            }
            for i, step in enumerate(steps)
        ],
    }


def _load() -> tuple[float, ...]:
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:  # not every platform has one
        return ()


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 2) if denominator > 0 else None


def measure_chain(
    chain: Chain,
    data_owners: int = DEFAULT_DATA_OWNERS,
    repeats: int = DEFAULT_REPEATS,
    phase: StartPhase | None = None,
) -> ChainPart:
    """Deploy, register a cast, time both modes, weigh a DO's round, and (on a node that
    mines on request) send the markets in waves."""
    start = phases(phase)
    node = chain if isinstance(chain, RpcChain) else None
    with automine(node, True) if node is not None else nullcontext():
        market, registry = deploy_market(chain)
        cast = MarketCast.register(chain, registry, data_owners)
        timed = {}
        for mode in Mode:
            advance = start(f"{mode.label} market, one tx at a time", 1)
            timed[mode] = timed_market(market, cast, mode, repeats)
            advance(1)
        advance = start("gas of a DO's round", 2)
        gas = {}
        for mode in Mode:
            gas[mode] = gas_per_do_round(market, cast, mode)
            advance(1)
    waves: dict[Mode, tuple[WaveMarket, ...]] = {mode: () for mode in Mode}
    if node is not None:
        with automine(node, False):
            for mode in Mode:
                advance = start(f"{mode.label} market in waves", repeats)
                limits = wave_gas_limits(timed[mode].flows[0])
                runs = []
                for _ in range(repeats):
                    runs.append(market_in_waves(node, market, cast, mode, limits))
                    advance(1)
                waves[mode] = tuple(runs)
    return ChainPart(
        timed[Mode.SECURE],
        timed[Mode.ROBUST],
        gas[Mode.SECURE],
        gas[Mode.ROBUST],
        waves[Mode.SECURE],
        waves[Mode.ROBUST],
    )


def run_datamarket_bench(
    rpc_url: str | None = None,
    *,
    data_owners: int = DEFAULT_DATA_OWNERS,
    parameters: int = DEFAULT_PARAMETERS,
    repeats: int = DEFAULT_REPEATS,
    accuracy: bool = True,
    start: StartPhase | None = None,
) -> DataMarketBenchReport:
    """Measure P3 on the node at ``rpc_url`` (else embedded): chain, secure aggregation of
    ``parameters`` values, training epochs, and (unless not ``accuracy``) the accuracy."""
    phase = phases(start)
    check_data_owners(data_owners)
    load_at_start = _load()
    notes: list[str] = []
    with chain_and_backend(rpc_url) as (chain, backend):
        chain_part = measure_chain(chain, data_owners, repeats, phase)
    if not chain_part.waves_secure:
        notes.append(NO_NODE_NOTE)
    advance = phase("secure aggregation", 1)
    secagg = secagg_cost(
        data_owners, parameters, dropouts=dropouts_for(data_owners), repeats=repeats
    )
    advance(1)
    advance = phase("local training epochs", 2)
    epoch = epoch_cost(HIDDEN_100K, repeats=repeats)
    advance(1)
    epoch_demo = epoch_cost(None, repeats=repeats)
    advance(1)
    market: MarketAccuracy | None = None
    if accuracy:
        advance = phase("accuracy (market simulations)", runs_of(data_owners, RULES, POISONS))
        market = market_accuracy(data_owners, progress=advance)
    else:
        notes.append(ACCURACY_SKIPPED_NOTE)
    return DataMarketBenchReport(
        backend=backend,
        data_owners=data_owners,
        chain=chain_part,
        secagg=secagg,
        epoch=epoch,
        epoch_demo=epoch_demo,
        accuracy=market,
        repeats=repeats,
        notes=tuple(notes),
        load=(load_at_start, _load()),
    )
