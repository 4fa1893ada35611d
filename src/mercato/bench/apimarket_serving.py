"""P5's calls timed over HTTP on loopback, and a vendor killed mid-run.

Two live APIs of the same model on the benchmark's market, each served as in production:
every vendor its own process (:func:`~mercato.protocols.apimarket.serving.start_vendor_process`),
the orchestrator an HTTP service in a thread of this process
(:class:`~mercato.protocols.apimarket.serving.BackgroundServer`), the consumer an
:class:`~mercato.protocols.apimarket.consumer.ApiClient`:

- **whole**: one vendor process holds the model as a one-component split;
- **split**: three vendor processes hold its three layer blocks, one each, and a fourth a
  replica of the middle block.

A call's latency is what the consumer waits for: sign the request, the orchestrator's
routing through every vendor (each step signed, journaled and checked), the consumer's
check of every receipt and its acknowledgement. Both paths go through the orchestrator, so
the ratio is the price of splitting (two more hops, each with its signatures); whole and
split calls alternate, so a busy machine slows both alike. Calls are one at a time: calls
per second is the inverse of the mean latency, a floor for a concurrent orchestrator.

**Failover**: then, halfway through more calls on the split API, the process holding the
middle block's first slot is killed; the orchestrator fails over to the replica. Each
output is compared with the whole model's labels; a call that fails at the consumer is
retried with the same signed request (so it is charged once). After the epoch the
orchestrator's records become the batch committed on chain: its calls must equal the calls
the consumer made, and the deposit falls by exactly that many prices.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mercato.bench.apimarket_chain import PRICE, BenchMarket
from mercato.crypto.commit import keccak
from mercato.errors import MercatoError
from mercato.ml.splitting import SplitModel
from mercato.protocols.apimarket.endpoints import LOOPBACK, bind, make_app
from mercato.protocols.apimarket.records import Batch
from mercato.protocols.apimarket.serving import (
    BackgroundServer,
    ChainReads,
    VendorProcess,
    start_vendor_process,
)

if TYPE_CHECKING:
    from mercato.protocols.apimarket.consumer import ApiClient, CallResult
    from mercato.protocols.apimarket.orchestrator import Orchestrator

ROWS_PER_CALL = 8
WARMUP = 5
"""Calls of each path before timing (connections opened, code paths warm)."""
SPLIT_SLOTS = (0, 1, 2, 1)
"""Slot ``v`` holds block ``SPLIT_SLOTS[v]``: one vendor per block and a replica of block 1."""
KILLED_SLOT = 1
RETRIES = 3
"""Times a consumer sends a failed call's same signed request again."""
SEED = 7


@dataclass(frozen=True)
class Latency:
    """The consumer's wall seconds of each timed call of one path."""

    seconds: tuple[float, ...]

    @property
    def median_ms(self) -> float:
        return round(1000 * statistics.median(self.seconds), 3)

    @property
    def p99_ms(self) -> float:
        ordered = sorted(self.seconds)
        return round(1000 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3)

    @property
    def calls_per_s(self) -> float:
        return round(len(self.seconds) / sum(self.seconds), 2)

    def as_dict(self) -> dict[str, float]:
        return {"median": self.median_ms, "p99": self.p99_ms}


@dataclass(frozen=True)
class Failover:
    """What the consumer saw and paid with a vendor killed mid-run."""

    calls: int
    killed_after: int
    failovers: int
    """Steps the orchestrator moved to another replica."""
    failed: int
    """Calls that failed at the consumer on a first try."""
    retried: int
    lost: int
    """Calls still failing after :data:`RETRIES` retries."""
    outputs_equal_whole: bool
    calls_made: int
    """Every call the consumer made on the split API (timed ones included)."""
    batch_calls: int
    charged: int
    """Wei the committed batch took from the consumer's deposit."""

    @property
    def charged_once(self) -> bool:
        return self.batch_calls == self.calls_made and self.charged == self.calls_made * PRICE

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "killed_after": self.killed_after,
            "killed_slot": KILLED_SLOT,
            "failovers": self.failovers,
            "failed_calls": self.failed,
            "retried_calls": self.retried,
            "lost_calls": self.lost,
            "outputs_equal_whole": self.outputs_equal_whole,
            "calls_made": self.calls_made,
            "batch_calls": self.batch_calls,
            "charged_wei": self.charged,
            "price_wei": PRICE,
            "charged_once": self.charged_once,
        }


@dataclass(frozen=True)
class ServingReport:
    """Latency of both paths and the failover run."""

    whole: Latency
    split: Latency
    failover: Failover
    rows_per_call: int = ROWS_PER_CALL


class _Service:
    """One live API served: a process per vendor, the orchestrator in a thread."""

    def __init__(self, bench: BenchMarket, api: int, model: SplitModel, folder: Path) -> None:
        from mercato.protocols.apimarket.orchestrator import Orchestrator

        self.bench, self.api = bench, api
        self.terms = bench.terms(api)
        self.vendors: dict[int, VendorProcess] = {}
        self.server: BackgroundServer | None = None
        self.orchestrator: Orchestrator | None = None
        sock, self.url = bind(LOOPBACK, 0)
        try:
            for slot, held in enumerate(self.terms.slots):
                self.vendors[slot] = self._start_vendor(slot, model, held.component, folder)
            self.reads = ChainReads(bench.market, api, live=False)
            self.reads.refresh()
            me = bench.cast.orchestrator
            self.orchestrator = Orchestrator(
                self.terms, bytes(me.account.key), {s: v.url for s, v in self.vendors.items()},
                self.reads.balance, self.reads.now, folder / "orchestrator.journal", seed=SEED,
            )  # fmt: skip
            self.server = BackgroundServer(
                make_app(self.orchestrator.routes(), "mercato orchestrator"), sock
            )
        except BaseException:
            if self.server is None:
                sock.close()
            self.close()
            raise

    def _start_vendor(self, slot: int, model: SplitModel, component: int, folder: Path) -> Any:
        data = model.components[component].to_bytes()
        path = folder / f"slot-{slot}.component"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        vendor = self.bench.cast.vendors[slot]
        config = {
            "host": LOOPBACK,
            "port": 0,
            "component": str(path),
            "component_hash": keccak(data).hex(),
            "key": bytes(vendor.account.key).hex(),
            "terms": self.terms.to_json(),
            "journal": str(folder / f"slot-{slot}.journal"),
            "seed": SEED,
        }
        return start_vendor_process(config, folder / f"slot-{slot}.json")

    def client(self) -> ApiClient:
        from mercato.protocols.apimarket.consumer import ApiClient

        key = bytes(self.bench.cast.consumer.account.key)
        return ApiClient(self.url, key, self.terms, now=self.reads.now)

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.orchestrator is not None:
            self.orchestrator.close()
        for process in self.vendors.values():
            process.stop()

    def __enter__(self) -> _Service:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def measure_serving(
    bench: BenchMarket,
    whole_model: SplitModel,
    split_model: SplitModel,
    rows: NDArray[Any],
    labels_whole: NDArray[Any],
    calls: int,
    failover_calls: int,
    folder: Path,
    advance: Callable[[int], None] = lambda units: None,
) -> ServingReport:
    """Time ``calls`` calls of each path, then run ``failover_calls`` more on the split API
    with a vendor killed halfway and settle its batch; ``labels_whole`` are the whole
    model's labels of ``rows``."""
    made = calls + failover_calls + WARMUP
    deposit = 2 * made * PRICE
    whole_api, _ = bench.live_api(whole_model, (0,), deposit=deposit)
    split_api, _ = bench.live_api(split_model, SPLIT_SLOTS, deposit=deposit)
    with ExitStack() as stack:
        whole = stack.enter_context(_Service(bench, whole_api, whole_model, folder / "whole"))
        split = stack.enter_context(_Service(bench, split_api, split_model, folder / "split"))
        advance(1)
        clients = {"whole": whole.client(), "split": split.client()}
        timed: dict[str, list[float]] = {"whole": [], "split": []}
        for number in range(WARMUP + calls):
            batch = _rows(rows, number)
            for name, client in clients.items():
                began = time.perf_counter()
                client.call(batch)
                if number >= WARMUP:
                    timed[name].append(time.perf_counter() - began)
        advance(1)
        failover = _failover(bench, split, clients["split"], rows, labels_whole, failover_calls)
        advance(1)
    return ServingReport(Latency(tuple(timed["whole"])), Latency(tuple(timed["split"])), failover)


def _failover(
    bench: BenchMarket,
    split: _Service,
    client: ApiClient,
    rows: NDArray[Any],
    labels_whole: NDArray[Any],
    calls: int,
) -> Failover:
    """Calls with the killed vendor halfway; the batch of the epoch settled on chain."""
    assert split.orchestrator is not None
    orchestrator = split.orchestrator
    before = orchestrator.failovers
    kill_at = calls // 2
    failed = retried = lost = 0
    equal = True
    for number in range(calls):
        if number == kill_at:
            split.vendors[KILLED_SLOT].kill()
        index = 1_000_000 + number  # rows apart from the timed calls'
        result = _call_with_retries(client, _rows(rows, index))
        if result is None:
            failed, lost = failed + 1, lost + 1
            continue
        answer, tries = result
        failed += tries > 0
        retried += tries
        equal = equal and np.array_equal(np.asarray(answer.output), _rows(labels_whole, index))
    made = len(client.results)
    am = bench.market.api_market
    bench.travel_to(bench.epoch_start(split.api, 1))
    orchestrator.finish_open_calls()
    batch = Batch.build(orchestrator.records_for(0), len(split.terms.slots))
    consumer = bench.cast.consumer.address
    deposit = am.deposit_of(split.api, consumer).amount
    am.commit_batch(bench.cast.orchestrator.account, batch, batch.records_hash)
    orchestrator.mark_committed(0)
    charged = deposit - am.deposit_of(split.api, consumer).amount
    return Failover(
        calls=calls,
        killed_after=kill_at,
        failovers=orchestrator.failovers - before,
        failed=failed,
        retried=retried,
        lost=lost,
        outputs_equal_whole=equal and lost == 0,
        calls_made=made,
        batch_calls=sum(batch.calls),
        charged=charged,
    )


def _call_with_retries(client: ApiClient, batch: NDArray[Any]) -> tuple[CallResult, int] | None:
    """The call's result and how many retries it took, or None if every try failed."""
    try:
        return client.call(batch), 0
    except MercatoError:
        pass
    for tries in range(1, RETRIES + 1):
        try:
            return client.retry(), tries
        except MercatoError:
            continue
    return None


def _rows(rows: NDArray[Any], number: int) -> NDArray[Any]:
    """The rows of call ``number``: the next :data:`ROWS_PER_CALL`, wrapping around."""
    start = number * ROWS_PER_CALL
    return np.take(rows, range(start, start + ROWS_PER_CALL), axis=0, mode="wrap")
