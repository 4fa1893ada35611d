"""One benchmark flow record: every transaction a benchmark sends, its gas and its time.

A benchmark that runs a protocol one transaction at a time records each receipt with a
:class:`StepClock` and keeps the :class:`Step` rows in a record that mixes in :class:`Flow`
(totals, per-kind rows, gas limits for waves). One that sends many transactions at once sends
them with :func:`timed_wave`, which yields one :class:`Wave` row each. Progress is reported
through :data:`StartPhase` callbacks, which :func:`phases` makes safe to call when nobody
listens.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from mercato.chain.base import Receipt, TxRequest
    from mercato.chain.rpc import RpcChain

T = TypeVar("T")
ProgressCallback = Callable[[int], None]
"""``advance(units)``: that many more units of the running phase are done."""
StartPhase = Callable[[str, int], ProgressCallback]
"""Progress: ``start(description, total)`` returns ``advance(units)``."""


class _Receipted(Protocol):
    @property
    def gas_used(self) -> int: ...


R = TypeVar("R", bound=_Receipted)


def phases(start: StartPhase | None) -> StartPhase:
    """``start``, or (None) a starter whose phases report nowhere."""
    if start is not None:
        return start
    return lambda description, total: lambda units: None


def timed(run: Callable[[], T]) -> tuple[T, float]:
    """What ``run()`` returns, and the wall seconds it took."""
    began = time.perf_counter()
    result = run()
    return result, time.perf_counter() - began


def with_margin(gas: int, margin_percent: int) -> int:
    """``gas`` plus ``margin_percent`` percent: an explicit gas limit for a known transaction."""
    return gas * (100 + margin_percent) // 100


@dataclass(frozen=True)
class Step:
    """One transaction of a flow; ``seconds`` from the previous step's receipt to its own."""

    name: str
    role: str
    gas: int
    seconds: float = 0.0
    round: int = 0
    """The protocol round it belongs to, where the protocol has rounds (0: none, or setup)."""


class Flow:
    """Totals over the :class:`Step` rows of a record (mixed into frozen dataclasses)."""

    steps: tuple[Step, ...]

    @property
    def transactions(self) -> int:
        return len(self.steps)

    @property
    def gas(self) -> int:
        return sum(step.gas for step in self.steps)

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)

    def by_name(self) -> dict[str, dict[str, Any]]:
        """Per transaction kind, in order of first use: count, gas, seconds."""
        rows: dict[str, dict[str, Any]] = {}
        for step in self.steps:
            row = rows.setdefault(step.name, {"count": 0, "gas": 0, "seconds": 0.0})
            row["count"] += 1
            row["gas"] += step.gas
            row["seconds"] += step.seconds
        for row in rows.values():
            row["gas_each"] = row["gas"] // row["count"]
            row["seconds"] = round(row["seconds"], 4)
        return rows


def gas_limits(steps: Iterable[Step], margin_percent: int) -> dict[str, int]:
    """Per transaction kind: the most gas it used in ``steps`` plus ``margin_percent``."""
    limits: dict[str, int] = {}
    for step in steps:
        limits[step.name] = max(limits.get(step.name, 0), with_margin(step.gas, margin_percent))
    return limits


class StepClock:
    """Records the transactions of a flow as they are mined, timed from the previous one."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self._last = time.perf_counter()

    def __call__(self, name: str, role: str, result: R, round: int = 0) -> R:
        """Record ``result`` (a transaction's outcome) as step ``name`` sent by ``role``."""
        now = time.perf_counter()
        self.steps.append(Step(name, role, result.gas_used, now - self._last, round))
        self._last = now
        return result


@dataclass(frozen=True)
class Wave:
    """One wave: a step's transactions sent at once, mined, every receipt checked."""

    step: str
    transactions: int
    blocks: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 4)}


def timed_wave(
    chain: RpcChain, step: str, requests: Sequence[TxRequest], began: float | None = None
) -> tuple[Wave, list[Receipt]]:
    """Send ``requests`` as one wave (:meth:`RpcChain.send_wave`): its row and its receipts.

    The wave's seconds run from ``began`` (a :func:`time.perf_counter` reading taken before
    the requests were encoded, say) or else from the send, to the last receipt.
    """
    start = time.perf_counter() if began is None else began
    receipts = chain.send_wave(requests)
    seconds = time.perf_counter() - start
    blocks = len({receipt.block_number for receipt in receipts})
    return Wave(step, len(requests), blocks, seconds), list(receipts)
