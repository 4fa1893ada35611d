"""P3's chain part timed and weighed: one whole market, post task to payments.

A market here is what the contract sees of OmniLytics' protocol for one task of ``n`` data
owners (DO): the model owner (MO) posts the task with the reward, the DOs join (secure mode:
with round 1's key-agreement key and seed commitment), every phase of the round takes one
transaction per DO (secure: SHARES, SUBMIT, REVEAL, and KEYS in rounds after the first;
robust: SUBMIT), the MO finalises, and every paid DO withdraws. The chain never reads the
blobs, so the transactions carry fixed 32-byte hashes: the time is the chain's processing
(and the client's signing and waiting), nothing off chain. The registrations happen before
the clock starts, as for members of a running market.

Three measurements:

- :func:`timed_market`: one round, one transaction at a time through the typed wrapper
  (:class:`DataMarket`), each waited for, as a participant's client does;
- :func:`market_in_waves` (a node that mines on request): the same market with each step's
  transactions (the ten joins, the ten posts of a phase, the withdrawals) sent as one wave
  with :meth:`RpcChain.send_wave`, as DOs acting at the same time would;
- :func:`gas_per_do_round`: the gas a DO spends in a steady-state round (round 2 of 3, so
  the secure round includes KEYS) plus its share of ``finalise_round``, from receipts;
  :func:`update_on_chain_gas` is what OmniLytics' way, the update itself in contract
  storage, would cost instead.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.crypto import keccak

from mercato.bench.common import fresh_identities
from mercato.bench.flow import Flow, Step, StepClock, gas_limits, timed_wave
from mercato.chain.base import Chain, TxRequest
from mercato.chain.contract import TxResult
from mercato.chain.rpc import RpcChain
from mercato.errors import InputError, ProtocolError
from mercato.ml.aggregate.krum import DEFAULT_MULTIPLE
from mercato.protocols.datamarket.market import (
    MAX_DATA_OWNERS,
    MIN_DATA_OWNERS,
    DataMarket,
    Mode,
    TaskStatus,
    mask_of,
)
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.registry import Registry
from mercato.protocols.roles import Role

DEFAULT_DATA_OWNERS = 10
DEFAULT_REPEATS = 3
"""Timed markets per mode; the report gives the median and every run."""
GAS_ROUNDS = 3
GAS_ROUND = 2
"""Gas per DO and round is read from this round of a :data:`GAS_ROUNDS`-round task: a
steady-state round, with a KEYS phase (round 1 takes the keys from ``join``) and a
finalisation that starts the next round rather than ending the task."""
DEMO_MAX_EXCLUDED = 2
"""As the demo: Multi-Krum tolerating two poisoners excludes two DOs every round."""
PER_UPDATE = 10**15
JOIN_PERIOD = 86_400
PHASE_PERIOD = 3_600
AGGREGATE_PERIOD = 7_200
MODEL_HASH = keccak(b"mercato bench p3: public part of the model")
SPEC_HASH = keccak(b"mercato bench p3: task spec")
AGGREGATE_HASH = keccak(b"mercato bench p3: aggregate")
GAS_MARGIN_PERCENT = 50
"""Wave gas limit = the most a step used in the calibration market plus this margin."""

# The cost of OmniLytics' way: the update itself in contract storage.
TX_BASE_GAS = 21_000
CALLDATA_GAS_PER_BYTE = 16
STORAGE_GAS_PER_WORD = 20_000
WORD_BYTES = 32
BYTES_PER_PARAMETER = 4  # float32
BLOCK_GAS_LIMIT = 30_000_000
UPDATE_ON_CHAIN_FORMULA = (
    "21,000 + 16 x calldata bytes + 20,000 x 32-byte storage words, "
    "bytes = 4 x parameters (float32); no ABI overhead, no memory expansion, no event"
)

POST_TASK = "post_task"
JOIN = "join"
POST_KEYS = "post_keys"
POST_SHARES = "post_shares"
SUBMIT = "submit"
REVEAL = "reveal"
FINALISE = "finalise_round"
WITHDRAW = "withdraw"
DO_ROUND_STEPS: dict[Mode, tuple[str, ...]] = {
    Mode.SECURE: (POST_KEYS, POST_SHARES, SUBMIT, REVEAL),
    Mode.ROBUST: (SUBMIT,),
}
"""What a DO sends in a steady-state round of each mode."""


@dataclass(frozen=True)
class MarketFlow(Flow):
    """Every transaction of one market, in order (each step with its round; 0: the joins)."""

    mode: Mode
    task_id: int
    data_owners: int
    rounds: int
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class TimedMarkets:
    """The same one-round market timed several times, one transaction at a time."""

    mode: Mode
    flows: tuple[MarketFlow, ...]

    @property
    def seconds(self) -> float:
        """Median wall time of a whole market."""
        return statistics.median(flow.seconds for flow in self.flows)

    @property
    def runs(self) -> list[float]:
        return [flow.seconds for flow in self.flows]

    def as_dict(self) -> dict[str, Any]:
        first = self.flows[0]
        return {
            "mode": self.mode.label,
            "seconds": round(self.seconds, 4),
            "runs": [round(s, 4) for s in self.runs],
            "transactions": first.transactions,
            "gas": first.gas,
            "steps": first.by_name(),
        }


@dataclass(frozen=True)
class WaveMarket:
    """One market sent in waves: one wave per step, every receipt checked."""

    mode: Mode
    waves: tuple[tuple[str, int, float], ...]
    """(step, transactions, seconds) of each wave."""
    seconds: float

    @property
    def transactions(self) -> int:
        return sum(count for _, count, _ in self.waves)


@dataclass(frozen=True)
class DoRoundGas:
    """What one DO's round costs on chain, from the receipts of a steady-state round."""

    mode: Mode
    steps: dict[str, int]
    """Mean gas per DO of each of its transactions in the round."""
    finalise: int
    data_owners: int

    @property
    def finalise_share(self) -> int:
        return math.ceil(self.finalise / self.data_owners)

    @property
    def total(self) -> int:
        return sum(self.steps.values()) + self.finalise_share

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.label,
            "gas": self.total,
            "steps": dict(self.steps),
            "finalise_round": self.finalise,
            "finalise_share": self.finalise_share,
            "round": GAS_ROUND,
            "of_rounds": GAS_ROUNDS,
        }


@dataclass(frozen=True)
class UpdateOnChain:
    """Gas of storing one update of ``parameters`` float32 values in contract storage."""

    parameters: int

    @property
    def bytes(self) -> int:
        return BYTES_PER_PARAMETER * self.parameters

    @property
    def gas(self) -> int:
        words = math.ceil(self.bytes / WORD_BYTES)
        return TX_BASE_GAS + CALLDATA_GAS_PER_BYTE * self.bytes + STORAGE_GAS_PER_WORD * words

    @property
    def fits_block(self) -> bool:
        return self.gas <= BLOCK_GAS_LIMIT

    @property
    def blocks_needed(self) -> int:
        """Whole blocks of :data:`BLOCK_GAS_LIMIT` the update would fill, at the least."""
        return math.ceil(self.gas / BLOCK_GAS_LIMIT)

    def as_dict(self, ours: int) -> dict[str, Any]:
        return {
            "parameters": self.parameters,
            "bytes": self.bytes,
            "gas": self.gas,
            "fits_block": self.fits_block,
            "blocks_needed": self.blocks_needed,
            "times_our_secure_gas_per_do_round": round(self.gas / ours, 1) if ours else None,
        }


def update_on_chain_gas(parameters: int) -> UpdateOnChain:
    """What one DO's update would cost stored on chain (:data:`UPDATE_ON_CHAIN_FORMULA`)."""
    if isinstance(parameters, bool) or not isinstance(parameters, int) or parameters < 1:
        raise InputError(f"parameters must be a positive integer, got {parameters!r}")
    return UpdateOnChain(parameters)


@dataclass(frozen=True)
class MarketCast:
    """A model owner and its data owners: fresh accounts, funded and registered."""

    mo: Identity
    dos: tuple[Identity, ...]

    @classmethod
    def register(cls, chain: Chain, registry: Registry, data_owners: int) -> MarketCast:
        """Fresh accounts, funded on a development chain and registered in their roles."""
        mo, *dos = fresh_identities(1 + check_data_owners(data_owners), chain)
        cast = cls(mo, tuple(dos))
        registry.register(cast.mo, Role.MODEL_OWNER)
        for do in cast.dos:
            registry.register(do, Role.DATA_OWNER)
        return cast


def check_data_owners(data_owners: int) -> int:
    """``data_owners`` if the contract accepts that many; InputError otherwise."""
    if (
        isinstance(data_owners, bool)
        or not isinstance(data_owners, int)
        or not MIN_DATA_OWNERS <= data_owners <= MAX_DATA_OWNERS
    ):
        raise InputError(
            f"a task has {MIN_DATA_OWNERS} to {MAX_DATA_OWNERS} data owners, got {data_owners!r}"
        )
    return data_owners


def bound_of(mode: Mode, data_owners: int) -> int:
    """The task's bound: secure, the smallest threshold above half; robust, the demo's
    exclusions, as many as the contract allows for ``data_owners``."""
    if mode is Mode.SECURE:
        return data_owners // 2 + 1
    return min(DEMO_MAX_EXCLUDED, (data_owners - 3) // 2)


def excluded_indices(data_owners: int) -> tuple[int, ...]:
    """The DOs the MO excludes each robust round: the demo's poisoners where they exist."""
    from mercato.bench.datamarket_accuracy import poisoner_indices

    return poisoner_indices(data_owners, bound_of(Mode.ROBUST, data_owners))


def scores_of(data_owners: int) -> list[int]:
    """Stand-in Multi-Krum scores (squared distances x 10**6), one per submitter: those of
    :func:`excluded_indices` a thousand times the others', so that they are the outliers the
    contract lets the MO exclude (at any multiple up to 50)."""
    outliers = excluded_indices(data_owners)
    return [(i + 1) * 12_345_679 * (1000 if i in outliers else 1) for i in range(data_owners)]


def _hash(kind: str, index: int, round_number: int) -> bytes:
    return keccak(f"mercato bench p3: {kind} of DO {index}, round {round_number}".encode())


class _Plan:
    """The arguments of every transaction of a market, computed before the clock starts."""

    def __init__(self, market: DataMarket, cast: MarketCast, mode: Mode, rounds: int) -> None:
        self.market = market
        self.cast = cast
        self.mode = mode
        self.rounds = rounds
        n = len(cast.dos)
        self.n = n
        self.bound = bound_of(mode, n)
        self.reward = PER_UPDATE * n * rounds
        self.excluded = (
            mask_of(excluded_indices(n)) if mode is Mode.ROBUST and self.bound > 0 else 0
        )
        self.scores = scores_of(n) if mode is Mode.ROBUST else []
        self.hashes = {
            (kind, i, r): _hash(kind, i, r)
            for kind in ("key", "seed", "shares", "update", "reveal")
            for i in range(n)
            for r in range(1, rounds + 1)
        }
        self.models = {r: _hash("model", 0, r) for r in range(1, rounds + 1)}

    @property
    def paid(self) -> tuple[int, ...]:
        """Indices of the DOs paid (every round excludes the same ones)."""
        return tuple(i for i in range(self.n) if not self.excluded >> i & 1)

    def keys(self, index: int, round_number: int) -> tuple[bytes, bytes]:
        if self.mode is not Mode.SECURE:
            return bytes(32), bytes(32)
        return self.hashes["key", index, round_number], self.hashes["seed", index, round_number]

    def phases(self, round_number: int) -> tuple[str, ...]:
        if self.mode is Mode.ROBUST:
            return (SUBMIT,)
        first = (POST_KEYS,) if round_number > 1 else ()
        return (*first, POST_SHARES, SUBMIT, REVEAL)

    def post_args(self, index: int, step: str, round_number: int) -> tuple[Any, ...]:
        """The arguments after the task id of ``step`` sent by DO ``index``."""
        if step == POST_KEYS:
            return self.keys(index, round_number)
        kind = {POST_SHARES: "shares", SUBMIT: "update", REVEAL: "reveal"}[step]
        return (self.hashes[kind, index, round_number],)


def _post(market: DataMarket, plan: _Plan, step: str, index: int, task_id: int, r: int) -> Any:
    do = plan.cast.dos[index]
    args = plan.post_args(index, step, r)
    if step == POST_KEYS:
        return market.post_keys(do.account, task_id, *args)
    if step == POST_SHARES:
        return market.post_shares(do.account, task_id, *args)
    if step == SUBMIT:
        return market.submit(do.account, task_id, *args)
    return market.reveal(do.account, task_id, *args)


def market_flow(
    market: DataMarket, cast: MarketCast, mode: Mode, rounds: int = 1, *, withdraw: bool = True
) -> MarketFlow:
    """One market through the typed wrapper, one transaction at a time, each waited for.

    Post the task, every DO joins, every round every DO posts in each phase and the MO
    finalises (robust mode excluding :func:`excluded_indices`), then (if ``withdraw``) every
    paid DO withdraws. The flow is checked at the end: the task FINISHED and nobody owed.
    """
    plan = _Plan(market, cast, mode, rounds)
    record = StepClock()
    mo = cast.mo.account
    task_id, result = market.post_task(
        mo,
        model_hash=MODEL_HASH,
        spec_hash=SPEC_HASH,
        data_owners=plan.n,
        rounds=rounds,
        mode=mode,
        bound=plan.bound,
        reward=plan.reward,
        join_period=JOIN_PERIOD,
        phase_period=PHASE_PERIOD,
        aggregate_period=AGGREGATE_PERIOD,
    )
    record(POST_TASK, "MO", result)
    for index, do in enumerate(cast.dos):
        record(JOIN, "DO", market.join(do.account, task_id, *plan.keys(index, 1)))
    for r in range(1, rounds + 1):
        for step in plan.phases(r):
            for index in range(plan.n):
                record(step, "DO", _post(market, plan, step, index, task_id, r), round=r)
        result = market.finalise_round(
            mo,
            task_id,
            model_hash=plan.models[r],
            aggregate_hash=AGGREGATE_HASH,
            excluded=plan.excluded,
            scores=plan.scores,
        )
        record(FINALISE, "MO", result, round=r)
    if withdraw:
        for i in plan.paid:
            record(WITHDRAW, "DO", market.withdraw(cast.dos[i].account), round=rounds)
    flow = MarketFlow(mode, task_id, plan.n, rounds, tuple(record.steps))
    check_market(market, cast, task_id, withdrawn=withdraw)
    return flow


def check_market(market: DataMarket, cast: MarketCast, task_id: int, *, withdrawn: bool) -> None:
    """Raise ProtocolError unless the task FINISHED and (if ``withdrawn``) nobody is owed."""
    task = market.task(task_id)
    if task.status is not TaskStatus.FINISHED:
        raise ProtocolError(f"benchmark task {task_id} ended {task.status.label}, not finished")
    if withdrawn:
        owed = {who.address: market.owed(who.address) for who in (cast.mo, *cast.dos)}
        if any(owed.values()):
            raise ProtocolError(f"benchmark task {task_id}: still owed after withdrawals: {owed}")


def timed_market(
    market: DataMarket, cast: MarketCast, mode: Mode, repeats: int = DEFAULT_REPEATS
) -> TimedMarkets:
    """Run the one-round market ``repeats`` times (same cast, a new task each time)."""
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InputError(f"repeats must be a positive integer, got {repeats!r}")
    return TimedMarkets(mode, tuple(market_flow(market, cast, mode) for _ in range(repeats)))


def gas_per_do_round(market: DataMarket, cast: MarketCast, mode: Mode) -> DoRoundGas:
    """Gas of a DO's steady-state round and its share of the MO's finalisation."""
    flow = market_flow(market, cast, mode, GAS_ROUNDS, withdraw=False)
    in_round = [step for step in flow.steps if step.round == GAS_ROUND]
    steps = {}
    for name in DO_ROUND_STEPS[mode]:
        used = [step.gas for step in in_round if step.name == name]
        if len(used) != flow.data_owners:
            raise ProtocolError(f"round {GAS_ROUND} has {len(used)} {name} transactions")
        steps[name] = math.ceil(sum(used) / len(used))
    (finalise,) = (step.gas for step in in_round if step.name == FINALISE)
    return DoRoundGas(mode, steps, finalise, flow.data_owners)


def deploy_market(chain: Chain) -> tuple[DataMarket, Registry]:
    """A fresh deployment of Mercato's contracts: its data market and registry."""
    deployment = deploy(chain, chain.dev_accounts(1)[0])
    return DataMarket(chain, deployment.data_market), Registry(chain, deployment.registry)


# waves ------------------------------------------------------------------------------------
def wave_gas_limits(flow: MarketFlow, margin_percent: int = GAS_MARGIN_PERCENT) -> dict[str, int]:
    """Per transaction kind: the most it used in ``flow`` plus ``margin_percent``."""
    return gas_limits(flow.steps, margin_percent)


def market_in_waves(
    chain: RpcChain, market: DataMarket, cast: MarketCast, mode: Mode, limits: dict[str, int]
) -> WaveMarket:
    """The one-round market with each step's transactions sent as one wave.

    Waves: post_task, the joins, one per phase, finalise_round, the withdrawals. The node
    must mine on request (automine off): ``send_wave`` mines each wave with ``evm_mine``.
    """
    plan = _Plan(market, cast, mode, 1)
    contract = market.contract
    mo = cast.mo.account
    waves: list[tuple[str, int, float]] = []

    def wave(step: str, requests: Sequence[TxRequest]) -> list[TxResult]:
        sent, receipts = timed_wave(chain, step, requests)
        waves.append((step, sent.transactions, sent.seconds))
        return [TxResult(receipt, contract) for receipt in receipts]

    start = time.perf_counter()
    (posted,) = wave(
        POST_TASK,
        [
            contract.tx(
                POST_TASK,
                MODEL_HASH,
                SPEC_HASH,
                plan.n,
                1,
                int(mode),
                plan.bound,
                DEFAULT_MULTIPLE if mode is Mode.ROBUST else 0,
                JOIN_PERIOD,
                PHASE_PERIOD,
                AGGREGATE_PERIOD,
                sender=mo,
                value=plan.reward,
                gas=limits[POST_TASK],
            )
        ],
    )
    task_id = int(posted.event("TaskPosted")["task_id"])
    wave(
        JOIN,
        [
            contract.tx(JOIN, task_id, *plan.keys(i, 1), sender=do.account, gas=limits[JOIN])
            for i, do in enumerate(cast.dos)
        ],
    )
    for step in plan.phases(1):
        wave(
            step,
            [
                contract.tx(
                    step, task_id, *plan.post_args(i, step, 1), sender=do.account, gas=limits[step]
                )
                for i, do in enumerate(cast.dos)
            ],
        )
    finalise = contract.tx(
        FINALISE,
        task_id,
        plan.models[1],
        AGGREGATE_HASH,
        plan.excluded,
        plan.scores,
        sender=mo,
        gas=limits[FINALISE],
    )
    wave(FINALISE, [finalise])
    wave(
        WITHDRAW,
        [
            contract.tx(WITHDRAW, sender=cast.dos[i].account, gas=limits[WITHDRAW])
            for i in plan.paid
        ],
    )
    seconds = time.perf_counter() - start
    check_market(market, cast, task_id, withdrawn=True)
    return WaveMarket(mode, tuple(waves), seconds)
