"""``mercato bench apimarket``: P5 (split-execution API market) measured beside its anchors.

The model: a scikit-learn MLP of three dense layers on handwritten digits (scikit-learn's
8x8 digits, 70 % to train it, 30 % to call it with), split into its three layer blocks
(:func:`mercato.ml.splitting.layers.split_mlp`). Measured in one run on one backend, each
part in its module:

- latency per call (median, p99) and calls per second of the model served whole by one
  vendor process and split over three, through the orchestrator over HTTP on loopback, and
  a vendor killed mid-run: failovers, failed and retried calls, outputs against the whole
  model's, the batch's calls against the calls made (:mod:`mercato.bench.apimarket_serving`);
- gas per call in the paper's base mode (every step on chain) against batched settlement
  at 10, 100 and 1,000 calls a batch, and the gas of a claim and of a dispute
  (:mod:`mercato.bench.apimarket_gas`);
- model protection: what each vendor and the largest coalition short of all blocks can
  predict with what they hold, beside the whole model and the known-rows baseline
  (:func:`mercato.ml.splitting.leakage.protection`).

Anchors (:data:`ANCHOR_SOURCES`): SingularityNET's payment channels, which cost no gas per
call but settle payment only, and the paper's design, whose per-step recording on chain is
the base mode measured here.
"""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from numpy.typing import NDArray

from mercato.bench.apimarket_chain import PRICE, BenchMarket
from mercato.bench.apimarket_gas import BATCH_SIZES, GAS_PER_CALL_GOAL, GasReport, measure_gas
from mercato.bench.apimarket_serving import ServingReport, measure_serving
from mercato.bench.common import chain_and_backend
from mercato.bench.flow import StartPhase, phases
from mercato.errors import InputError
from mercato.ml.splitting import SplitModel

DEFAULT_CALLS = 100
"""Timed calls of each path; the failover run makes half as many more."""
FAILOVER_MIN_CALLS = 10
"""At least five calls after the kill: each finds the dead vendor with odds of one half
(a random replica) until one does and the orchestrator counts it down."""
MIN_CALLS = 4
HIDDEN_LAYERS = (64, 32)
"""Three dense layers: one block each."""
BLOCKS = 3
TEST_FRACTION = 0.3
SEED = 0
ANCHOR_SOURCES = {
    "singularitynet_channels": (
        "SingularityNET's multi-party escrow: a consumer opens a payment channel on chain and "
        "signs an off-chain payment with each call; the service claims the channel's latest "
        "amount on chain when it likes. No gas per call, but it settles payment only: "
        "nothing on chain or signed shows what ran, so outputs and usage cannot be proven"
    ),
    "paper_base_mode": (
        "Arya et al., trustless API marketplace: the design records every step of every "
        "call on chain (the request, each component's hashes in and out, the "
        "acknowledgement), which is this benchmark's base mode"
    ),
}


@dataclass(frozen=True)
class DigitsModel:
    """The benchmark's model, its split and its rows."""

    whole: SplitModel
    """The model as one component (one vendor holds it all)."""
    split: SplitModel
    X_train: NDArray[Any]
    y_train: NDArray[Any]
    X_test: NDArray[Any]
    y_test: NDArray[Any]

    @property
    def labels_whole(self) -> NDArray[Any]:
        """The whole model's labels of the test rows."""
        return self.whole.predict(self.X_test)


@cache
def digits_model() -> DigitsModel:
    """Train the MLP on the digits (deterministic, one BLAS thread) and split it."""
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    from mercato.ml.splitting.layers import split_mlp

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X / 16.0, y, test_size=TEST_FRACTION, random_state=SEED, stratify=y
    )
    mlp = MLPClassifier(hidden_layer_sizes=HIDDEN_LAYERS, max_iter=300, random_state=SEED)
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp.fit(X_train, y_train)
    return DigitsModel(split_mlp(mlp, 1), split_mlp(mlp, BLOCKS), X_train, y_train, X_test, y_test)


@dataclass(frozen=True)
class ApiMarketBenchReport:
    """Everything ``mercato bench apimarket`` measured in one run."""

    backend: str
    calls: int
    serving: ServingReport
    gas: GasReport
    protection: Any
    """A :class:`mercato.ml.splitting.leakage.Protection`."""
    component_bytes: tuple[int, ...]
    test_rows: int

    def batched(self) -> dict[int, float]:
        return {batch.calls: batch.per_call for batch in self.gas.batches}

    def anchors(self) -> dict[str, Any]:
        onchain = self.gas.onchain_per_call
        return {
            "singularitynet_channels": {
                "gas_per_call": 0,
                "settles": "payment only, no evidence of execution",
                "source": ANCHOR_SOURCES["singularitynet_channels"],
            },
            "paper_base_mode": {
                "gas_per_call": onchain,
                "settles": "every step on chain",
                "source": ANCHOR_SOURCES["paper_base_mode"],
            },
        }

    def as_dict(self) -> dict[str, Any]:
        serving, gas, protection = self.serving, self.gas, self.protection
        whole, split = serving.whole, serving.split
        batched = self.batched()
        largest = max(batched) if batched else None
        return {
            "backend": self.backend,
            "calls": self.calls,
            "rows_per_call": serving.rows_per_call,
            "model": {
                "kind": "scikit-learn MLPClassifier on 8x8 digits",
                "hidden_layers": list(HIDDEN_LAYERS),
                "blocks": BLOCKS,
                "component_bytes": list(self.component_bytes),
                "test_rows": self.test_rows,
            },
            "latency_ms_whole": whole.as_dict(),
            "latency_ms_split": split.as_dict(),
            "latency_ratio": {
                "median": round(split.median_ms / whole.median_ms, 3),
                "p99": round(split.p99_ms / whole.p99_ms, 3),
            },
            "calls_per_s_whole": whole.calls_per_s,
            "calls_per_s_split": split.calls_per_s,
            "gas_per_call_onchain": gas.onchain_per_call,
            "gas_onchain": dict(gas.onchain),
            "gas_per_call_batched": batched,
            "gas_batches": [batch.as_dict() for batch in gas.batches],
            "gas_per_call_goal": GAS_PER_CALL_GOAL,
            "batched_under_goal": None if largest is None else batched[largest] < GAS_PER_CALL_GOAL,
            "gas_claim": gas.claim_gas,
            "gas_claims": dict(gas.claim),
            "gas_dispute": gas.dispute_gas,
            "gas_disputes": dict(gas.dispute),
            "price_wei": PRICE,
            "failover": serving.failover.as_dict(),
            "accuracy_whole": round(protection.accuracy_whole, 4),
            "accuracy_known_only": round(protection.accuracy_known_only, 4),
            "accuracy_vendor": [round(a, 4) for a in protection.accuracy_vendor],
            "accuracy_best_vendor": round(protection.accuracy_best_vendor, 4),
            "accuracy_coalition": round(protection.accuracy_coalition, 4),
            "coalition_missing": protection.coalition_missing,
            "known_rows": protection.known_rows,
            "strategies": {
                "known_only": protection.strategy_known_only,
                "vendor": list(protection.strategy_vendor),
                "coalition": protection.strategy_coalition,
            },
            "anchors": self.anchors(),
        }


def run_apimarket_bench(
    rpc_url: str | None = None,
    *,
    calls: int = DEFAULT_CALLS,
    sizes: Sequence[int] = BATCH_SIZES,
    start: StartPhase | None = None,
) -> ApiMarketBenchReport:
    """Measure P5 on the node at ``rpc_url`` (else a fresh embedded chain): ``calls`` timed
    calls of each path, ``calls // 2`` (at least :data:`FAILOVER_MIN_CALLS`) with a vendor
    killed, batches of ``sizes`` calls, a claim, a dispute and the model's protection."""
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < MIN_CALLS:
        raise InputError(f"calls must be an integer of at least {MIN_CALLS}, got {calls!r}")
    if not sizes or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in sizes):
        raise InputError(f"batch sizes must be positive integers, got {list(sizes)!r}")
    phase = phases(start)
    advance = phase("the digits model, trained and split", 1)
    model = digits_model()
    advance(1)
    with chain_and_backend(rpc_url) as (chain, backend), tempfile.TemporaryDirectory() as folder:
        bench = BenchMarket.deploy(chain, Path(folder) / "store")
        advance = phase("gas: base mode, batches, claim, dispute", len(sizes) + 3)
        gas = measure_gas(bench, model.split, sizes, advance)
        advance = phase("calls over HTTP: whole, split, failover", 3)
        serving = measure_serving(
            bench, model.whole, model.split, model.X_test, model.labels_whole, calls,
            max(FAILOVER_MIN_CALLS, calls // 2), Path(folder) / "services", advance,
        )  # fmt: skip
    advance = phase("model protection: each vendor and the largest coalition", 1)
    protection = _protection(model)
    advance(1)
    sizes_bytes = tuple(len(c.to_bytes()) for c in model.split.components)
    return ApiMarketBenchReport(
        backend, calls, serving, gas, protection, sizes_bytes, len(model.y_test)
    )


def _protection(model: DigitsModel) -> Any:
    from mercato.ml.splitting.leakage import protection

    return protection(model.split, model.X_train, model.y_train, model.X_test, model.y_test)
