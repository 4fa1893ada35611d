"""P4's whole market driven through each role's steps, on a chain that keeps the time.

The demo's cast, terms and models (:mod:`mercato.protocols.modelmarket.scenario`), every
seller honest and every executor working: post, draw and reveal the sample, four
submissions, three volunteers, close, draw the executors, five seals, three commitments
and reveals, the tally, then for each model bought the honest swap (the seller's
``reveal_key``, ``finish`` and ``withdraw``) and everyone's withdrawal. Each step must send
exactly one transaction, recorded with its gas (from the receipt) and the seconds it took.

The time is read off a :class:`ClockedChain`: what the participants spent waiting on the
chain (transactions sent and mined, calls, log reads), not their off-chain work, nor the
chain time skipped between phases. Each executor's benchmark (gather, check, score, sign)
is timed apart, and after the swap the buyer scores each model it bought on its own hidden
groups, as the executors did.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from mercato.bench.flow import Flow, Step
from mercato.chain.recording import RecordingChain
from mercato.errors import ProtocolError
from mercato.protocols.identity import Identity
from mercato.protocols.modelmarket import buyer, executor, history, seller
from mercato.protocols.modelmarket import scenario as demo
from mercato.protocols.modelmarket.documents import HiddenTestSet, TaskDocument
from mercato.protocols.modelmarket.evaluation import load_model_bytes, score, stack_groups
from mercato.protocols.modelmarket.limits import SCORE_SCALE
from mercato.protocols.modelmarket.market import score_commitment
from mercato.protocols.modelmarket.views import RequestStatus, SubmissionState

if TYPE_CHECKING:
    from mercato.chain.base import Chain, Log, LogFilter, Receipt, TxRequest
    from mercato.protocols.marketplace import Marketplace

T = TypeVar("T")

SWAP_STEPS = ("reveal_key", "finish", "withdraw")
"""The honest swap after the scores, each sent by the seller."""


# the chain, clocked -----------------------------------------------------------------------
class ClockedChain(RecordingChain):
    """A :class:`RecordingChain` that also adds up the wall time spent inside the chain:
    ``seconds`` for everything (transactions, calls, log reads), ``sent`` for each
    transaction. Moving chain time (``time_travel``) is not counted: a real chain's clock
    runs by itself."""

    def __init__(self, inner: Chain) -> None:
        super().__init__(inner)
        self.seconds = 0.0
        self.sent: list[float] = []

    def _timed(self, run: Callable[[], T]) -> T:
        began = time.perf_counter()
        try:
            return run()
        finally:
            self.seconds += time.perf_counter() - began

    def send(self, tx: TxRequest) -> Receipt:
        began = time.perf_counter()
        try:
            return super().send(tx)
        finally:
            took = time.perf_counter() - began
            self.seconds += took
            self.sent.append(took)

    def call(self, to: str, data: bytes, sender: str | None = None, value: int = 0) -> bytes:
        return self._timed(lambda: self.inner.call(to, data, sender, value))

    def get_logs(
        self,
        from_block: int,
        to_block: int | None = None,
        address: str | None = None,
        topics: Sequence[bytes | None] = (),
    ) -> list[Log]:
        return self._timed(lambda: self.inner.get_logs(from_block, to_block, address, topics))

    def select_logs(self, where: LogFilter) -> list[Log]:
        return self._timed(lambda: self.inner.select_logs(where))

    def block_number(self) -> int:
        return self._timed(self.inner.block_number)

    def timestamp(self) -> int:
        return self._timed(self.inner.timestamp)


@dataclass(frozen=True)
class DemoCast:
    """The demo's participants on this chain: development accounts after the deployer."""

    buyer: Identity
    sellers: dict[str, Identity]
    executors: dict[str, Identity]

    @classmethod
    def of(cls, chain: Chain) -> DemoCast:
        names = (demo.BUYER, *demo.SELLERS, *demo.EXECUTORS)
        people = [Identity(a) for a in chain.dev_accounts(1 + len(names))[1:]]
        by_name = dict(zip(names, people, strict=True))
        return cls(
            by_name[demo.BUYER],
            {name: by_name[name] for name in demo.SELLERS},
            {name: by_name[name] for name in demo.EXECUTORS},
        )

    @property
    def members(self) -> dict[str, Identity]:
        return {demo.BUYER: self.buyer, **self.sellers, **self.executors}

    @property
    def names(self) -> dict[str, str]:
        return {who.address: name for name, who in self.members.items()}

    def register(self, market: Marketplace) -> None:
        for member in demo.CAST:
            market.registry.register(self.members[member.name], member.roles)


@dataclass(frozen=True)
class DemoData:
    """The demo's hidden rows and its developers' model files (trained once a process)."""

    test_X: NDArray[np.float32]
    test_y: NDArray[np.int64]
    models: dict[str, bytes]

    @property
    def test_bytes(self) -> int:
        """The test set's rows and labels as stored arrays (float32 and int64)."""
        return int(self.test_X.nbytes + self.test_y.nbytes)


@cache
def demo_data() -> DemoData:
    """The demo's digits and models; every model is delivered as benchmarked (no cheater)."""
    (X, y), (test_X, test_y) = demo.demo_split()
    models = demo.seller_models(X, y)
    return DemoData(test_X, test_y, {name: model for name, (model, _) in models.items()})


def task_document() -> TaskDocument:
    """The demo's task: 64 groups of 10 rows of 8x8 digits, 4 of them revealed."""
    return TaskDocument(
        data_class="ex:HandwrittenDigits",
        task="ex:ImageClassification",
        features=64,
        classes=tuple(str(d) for d in range(10)),
        groups=demo.GROUPS,
        group_size=demo.GROUP_SIZE,
        sample=demo.SAMPLE,
        description="8x8 handwritten digits, pixel intensities 0-16",
    )


# a whole market ---------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelScore:
    """One submission: the executors' agreed score and, if bought, the buyer's own."""

    seller: str
    model: str
    state: str
    agreed: int
    measured: int | None
    """The buyer's score of the model it opened after the swap (None: not bought)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "seller": self.seller,
            "model": self.model,
            "state": self.state,
            "agreed": self.agreed / SCORE_SCALE,
            "measured": None if self.measured is None else self.measured / SCORE_SCALE,
        }


@dataclass(frozen=True)
class MarketRun(Flow):
    """Every transaction of one whole market (``Step.role``: who sent it), and its times."""

    request_id: int
    steps: tuple[Step, ...]
    chain_seconds: float
    executor_seconds: tuple[float, ...]
    """Each executor's benchmark: gather, check, score every model, sign the report."""
    scores: tuple[ModelScore, ...]

    @property
    def scores_agree(self) -> bool:
        """Whether the buyer measured every model it bought at the agreed score."""
        bought = [s for s in self.scores if s.measured is not None]
        return bool(bought) and all(s.measured == s.agreed for s in bought)

    def swaps(self) -> dict[str, dict[str, int]]:
        """Per seller paid: the gas of its reveal_key, finish and withdraw."""
        paid = [s.seller for s in self.scores if s.state == SubmissionState.PAID.label]
        return {
            name: {
                step.name: step.gas
                for step in self.steps
                if step.role == name and step.name in SWAP_STEPS
            }
            for name in paid
        }


class _Steps:
    """Labels the transactions of each step of a market as they are sent."""

    def __init__(self, clock: ClockedChain) -> None:
        self.clock = clock
        self.steps: list[Step] = []

    def __call__(self, name: str, sender: str, run: Callable[..., T], *args: Any) -> T:
        """``run(*args)``: one step, which must send exactly one transaction; recorded."""
        sent = len(self.clock.records)
        result = run(*args)
        new = self.clock.records[sent:]
        if len(new) != 1:
            raise ProtocolError(f"benchmark step {name} by {sender} sent {len(new)} transactions")
        self.steps.append(Step(name, sender, new[0].gas_used, self.clock.sent[-1]))
        return result


def run_market(
    market: Marketplace, clock: ClockedChain, cast: DemoCast, data: DemoData
) -> MarketRun:
    """One whole market with the demo's cast, terms and models, every step by its role."""
    mm, names = market.model_market, cast.names
    step = _Steps(clock)
    me, i_am = cast.buyer, demo.BUYER
    test_set = HiddenTestSet.cut(data.test_X, data.test_y, demo.GROUPS, seed=demo.SEED)
    started = clock.seconds
    rid = step(
        "post_request", i_am, buyer.post_request, market, me, task_document(), test_set, demo.TERMS
    )
    step("advance (draw sample)", i_am, mm.advance, me.account, rid)
    step("reveal_sample", i_am, buyer.reveal_sample, market, me, rid, test_set)
    offers = {
        name: step("submit", name, seller.submit, market, who, rid, data.models[name])
        for name, who in cast.sellers.items()
    }
    for name, who in cast.executors.items():
        step("volunteer", name, executor.volunteer, market, who, rid)
    clock.time_travel(mm.request(rid).submit_period + 1)
    step("advance (close submissions)", i_am, mm.advance, me.account, rid)
    step("advance (draw executors)", i_am, mm.advance, me.account, rid)
    step("seal", i_am, buyer.seal_test, market, me, rid, test_set)
    for name, offer in offers.items():
        step("seal", name, seller.seal_model, market, cast.sellers[name], offer)
    drawn = [names[address] for address in history.executors(mm, rid)]
    votes, benchmarks = {}, []
    for name in drawn:
        votes[name], seconds = _commit(market, cast.executors[name], rid, step, name)
        benchmarks.append(seconds)
    for name in drawn:
        step("reveal_scores", name, executor.reveal, market, cast.executors[name], rid, votes[name])
    majority = history.majority(mm, rid, len(drawn))
    if majority is None:
        raise ProtocolError(f"benchmark request {rid}: the executors did not agree")
    step("tally", i_am, mm.tally, me.account, rid, *majority)
    won = [n for n, o in offers.items() if mm.submission(rid, o.index).state is SubmissionState.WON]
    for name in won:
        step("reveal_key", name, seller.reveal_key, market, cast.sellers[name], offers[name])
    measured = {name: _measure(market, me, rid, offers[name].index, test_set) for name in won}
    clock.time_travel(mm.request(rid).complaint_period + 1)
    for name in won:
        step("finish", name, mm.finish, cast.sellers[name].account, rid, offers[name].index)
    for name, who in cast.members.items():
        if mm.owed(who.address):
            step("withdraw", name, mm.withdraw, who.account)
    chain_seconds = clock.seconds - started
    _check_closed(market, cast, rid)
    scores = tuple(
        ModelScore(
            name,
            demo.MODEL_KINDS[name].split(" (")[0],  # without the cheat: none here
            submission.state.label,
            submission.score,
            measured.get(name),
        )
        for name, submission in zip(offers, mm.submissions(rid), strict=True)
    )
    return MarketRun(rid, tuple(step.steps), chain_seconds, tuple(benchmarks), scores)


def _commit(
    market: Marketplace, me: Identity, request_id: int, step: _Steps, name: str
) -> tuple[executor.Vote, float]:
    """:func:`executor.commit`, with its benchmark timed apart from the transaction."""
    began = time.perf_counter()
    result, report_hash = executor.run_benchmark(market, me, request_id)
    seconds = time.perf_counter() - began
    vote = executor.Vote(result.scores, result.flags, report_hash, secrets.token_bytes(32))
    commitment = score_commitment(
        request_id, me.address, vote.scores, vote.flags, vote.report_hash, vote.salt
    )
    step(
        "commit_scores", name, market.model_market.commit_scores, me.account, request_id, commitment
    )
    return vote, seconds


def _measure(
    market: Marketplace, me: Identity, request_id: int, index: int, test_set: HiddenTestSet
) -> int:
    """The buyer opens model ``index`` with its revealed key and scores it on its hidden
    groups, as the executors did."""
    model, complaint, _ = buyer.take_model(market, me, request_id, index)
    if model is None or complaint is not None:
        raise ProtocolError(f"benchmark request {request_id}: model {index} did not open")
    hidden = test_set.hidden(history.sample_indices(market.model_market, request_id) or [])
    return score(load_model_bytes(model), *stack_groups(hidden))


def _check_closed(market: Marketplace, cast: DemoCast, request_id: int) -> None:
    mm = market.model_market
    status = mm.request(request_id).status
    if status is not RequestStatus.CLOSED:
        raise ProtocolError(f"benchmark request {request_id} ended {status.label}, not closed")
    owed = {name: mm.owed(who.address) for name, who in cast.members.items()}
    if any(owed.values()):
        raise ProtocolError(f"benchmark request {request_id}: still owed after withdrawals: {owed}")
