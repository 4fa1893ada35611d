"""A small P4 market run by its agents, with a cast the tests choose, and its adversaries.

:class:`P4Flow` is the demo's harness (:class:`~mercato.protocols.demo.Demo`) on a fresh
embedded chain: a buyer (client) with 320 hidden rows of digits in 32 salted groups, sellers
(model owners) that each offer one of the :func:`trained_models` (or stay out), compute
providers that volunteer as executors. Every participant runs its role's real agent
(:mod:`mercato.protocols.modelmarket.agents`).

An adversary is an honest agent with one step swapped. The agents call their role's steps
through the step modules (``buyer``, ``seller``, ``executor``), so the flow replaces a step
in its module by a dispatcher that runs the adversary's version for that participant's
address and the original for everyone else (``swaps={"seller-2": {"seller.reveal_key":
silent_key}}``); closing the flow puts the modules back.

The models are trained once per process (:func:`trained_models`), well apart in accuracy,
so which one wins does not depend on which groups the block hash reveals.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from mercato.agents.agent import Agent
from mercato.chain.contract import Event, TxResult
from mercato.chain.embedded import EmbeddedChain
from mercato.crypto.fairswap import Delivery, commit_model, new_key
from mercato.protocols.demo import Demo, Member
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.modelmarket import agents, buyer, executor, history, seller
from mercato.protocols.modelmarket.documents import (
    HiddenTestSet,
    TaskDocument,
    delivery_bytes,
    group_blob,
    groups_bytes,
    purpose,
    read_group,
)
from mercato.protocols.modelmarket.evaluation import (
    Benchmark,
    load_model_bytes,
    score,
    stack_groups,
)
from mercato.protocols.modelmarket.market import ModelMarket, score_commitment
from mercato.protocols.modelmarket.views import Periods, Request, SubmissionState
from mercato.protocols.roles import Role
from mercato.storage.base import hash_bytes
from mercato.storage.envelope import generate_keypair, seal
from mercato.storage.local import LocalBlobStore

MILLI = 10**15
PERIOD = 3600
SEED = 7
GROUPS = 32
GROUP_SIZE = 10
SAMPLE = 4
FEATURES = 64
TEST_ROWS = slice(1200, 1200 + GROUPS * GROUP_SIZE)
"""The buyer's rows of the shuffled digits; the sellers train on rows before them."""
SCHEDULE = ((500_000, 10 * MILLI), (800_000, 20 * MILLI), (900_000, 30 * MILLI))
"""(score in ppm, price): nothing under 0.5; 0.01 ether from 0.5, 0.02 from 0.8, 0.03 from 0.9."""
SELLER_STAKE = 5 * MILLI
EXECUTOR_STAKE = 4 * MILLI
EXECUTOR_FEE = MILLI
BOND = 8 * MILLI


def terms(k: int = 1, executors: int = 3) -> buyer.RequestTerms:
    """The buyer's terms: the schedule above, ``k`` models bought, ``executors`` drawn."""
    return buyer.RequestTerms(
        schedule=SCHEDULE,
        k=k,
        executors=executors,
        seller_stake=SELLER_STAKE,
        executor_stake=EXECUTOR_STAKE,
        executor_fee=EXECUTOR_FEE,
        bond=BOND,
        periods=Periods(PERIOD, PERIOD, PERIOD, PERIOD, PERIOD, PERIOD),
    )


def schedule_price(score_ppm: int) -> int:
    """The schedule's price for a score: the highest point at or below it, 0 under all."""
    return max((price for point, price in SCHEDULE if point <= score_ppm), default=0)


# data and models ----------------------------------------------------------------------------
@cache
def digits() -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """scikit-learn's digits, shuffled once with ``SEED``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    order = np.random.default_rng(SEED).permutation(len(data.target))
    return data.data[order].astype(np.float32), data.target[order].astype(np.int64)


@cache
def trained_models() -> Mapping[str, bytes]:
    """Three ``.skops`` models, trained once per process: ``best`` (a scaled logistic
    regression on 300 rows, about 0.95), ``good`` (a depth-8 tree on 400 rows, about 0.77)
    and ``useless`` (always the most frequent digit, about 0.1: under the schedule)."""
    import skops.io
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    X, y = digits()
    fitted = {
        "best": make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)).fit(
            X[:300], y[:300]
        ),
        "good": DecisionTreeClassifier(max_depth=8, random_state=SEED).fit(X[300:700], y[300:700]),
        "useless": DummyClassifier().fit(X[:300], y[:300]),
    }
    return {name: bytes(skops.io.dumps(model)) for name, model in fitted.items()}


def corrupted(model: bytes) -> bytes:
    """``model`` with 64 bytes in its middle zeroed: another file of the same size."""
    copy = bytearray(model)
    middle = len(copy) // 2
    copy[middle : middle + 64] = bytes(64)
    return bytes(copy)


def last_byte_flipped(model: bytes) -> bytes:
    """``model`` with its last byte flipped: only the last, zero-padded chunk differs."""
    return model[:-1] + bytes([model[-1] ^ 0xFF])


def task_document() -> TaskDocument:
    return TaskDocument(
        data_class="ex:HandwrittenDigits",
        task="ex:ImageClassification",
        features=FEATURES,
        classes=tuple(str(d) for d in range(10)),
        groups=GROUPS,
        group_size=GROUP_SIZE,
        sample=SAMPLE,
    )


def hidden_test_set() -> HiddenTestSet:
    """The buyer's rows cut into fresh salted groups."""
    X, y = digits()
    return HiddenTestSet.cut(X[TEST_ROWS], y[TEST_ROWS], GROUPS, seed=SEED)


def hidden_score(model: bytes, test_set: HiddenTestSet, sample: Collection[int]) -> int:
    """The score of ``model`` on every group but the ``sample``: what honest executors agree."""
    return score(load_model_bytes(model), *stack_groups(test_set.hidden(list(sample))))


# adversaries: steps with the signature of the step they replace ----------------------------
Step = Callable[..., Any]


def silent_sample(market: Marketplace, me: Identity, request_id: int, tests: object) -> bool:
    """A buyer that never reveals the drawn sample."""
    return False


def silent_key(market: Marketplace, me: Identity, offer: seller.Offer) -> bool:
    """A winner that never reveals its key."""
    return False


def silent_seal(market: Marketplace, me: Identity, request_id: int, tests: object) -> bool:
    """A buyer that never seals the hidden groups to the executors."""
    return False


def silent_model(market: Marketplace, me: Identity, offer: seller.Offer) -> bool:
    """A seller that never seals its model to the executors."""
    return False


def _all_but_the_last(market: Marketplace, request_id: int) -> list[bytes]:
    """The encryption keys of the drawn executors but the last (in volunteer order)."""
    drawn = history.executors(market.model_market, request_id)
    return [market.registry.encryption_key(a) for a in drawn[:-1]]


def groups_to_some(
    market: Marketplace, me: Identity, request_id: int, tests: HiddenTestSet
) -> bool:
    """A buyer that seals the true hidden groups to every drawn executor but the last."""
    mm = market.model_market
    if history.sealed_by(mm, request_id, me.address) is not None:
        return False
    hidden = groups_bytes(tests.hidden(history.sample_indices(mm, request_id) or []))
    envelope = seal(hidden, _all_but_the_last(market, request_id), purpose(request_id, "test"))
    mm.seal(me.account, request_id, hash_bytes(market.store.put(envelope)))
    return True


def model_to_some(market: Marketplace, me: Identity, offer: seller.Offer) -> bool:
    """A seller that seals its true model to every drawn executor but the last."""
    mm = market.model_market
    if history.sealed_by(mm, offer.request_id, me.address) is not None:
        return False
    keys = _all_but_the_last(market, offer.request_id)
    envelope = seal(offer.model, keys, purpose(offer.request_id, f"model {offer.index}"))
    mm.seal(me.account, offer.request_id, hash_bytes(market.store.put(envelope)))
    return True


def made_up_commit(
    market: Marketplace,
    me: Identity,
    request_id: int,
    keep: Callable[[executor.Vote, Benchmark], None],
) -> tuple[executor.Vote, Benchmark, TxResult]:
    """An executor that benchmarks (for its report) but commits to scores it made up: every
    model perfect."""
    result, report_hash = executor.run_benchmark(market, me, request_id)
    vote = executor.Vote((1_000_000,) * len(result.scores), 0, report_hash, bytes(range(32)))
    keep(vote, result)
    commitment = score_commitment(
        request_id, me.address, vote.scores, vote.flags, vote.report_hash, vote.salt
    )
    return vote, result, market.model_market.commit_scores(me.account, request_id, commitment)


Forgery = Callable[[HiddenTestSet, list[int]], dict[int, bytes]]
"""What a dishonest buyer seals instead of the hidden groups: (its test set, the sample) ->
groups by index."""


def relabelled(tests: HiddenTestSet, sample: list[int]) -> dict[int, bytes]:
    """The hidden groups, the first one's labels shifted by one (an easier or harder test)."""
    hidden = tests.hidden(sample)
    first = min(hidden)
    X, y = read_group(hidden[first])
    hidden[first] = group_blob(hidden[first][:32], X, (y + 1) % 10)
    return hidden


def sample_again(tests: HiddenTestSet, sample: list[int]) -> dict[int, bytes]:
    """The hidden groups, the first one replaced by a revealed sample group (a test the
    sellers could train on)."""
    hidden = tests.hidden(sample)
    hidden[min(hidden)] = tests.blobs[sample[0]]
    return hidden


def sealing(forgery: Forgery) -> Step:
    """A buyer's ``seal_test`` that seals ``forgery``'s groups to the executors."""

    def seal_test(market: Marketplace, me: Identity, request_id: int, tests: HiddenTestSet) -> bool:
        mm = market.model_market
        if history.sealed_by(mm, request_id, me.address) is not None:
            return False
        sample = history.sample_indices(mm, request_id) or []
        keys = [market.registry.encryption_key(a) for a in history.executors(mm, request_id)]
        plain = groups_bytes(forgery(tests, sample))
        envelope = seal(plain, keys, purpose(request_id, "test"))
        mm.seal(me.account, request_id, hash_bytes(market.store.put(envelope)))
        return True

    return seal_test


BadDelivery = Callable[[Marketplace, Delivery, int], bytes]
"""How a seller spoils its sealed delivery: (market, honest delivery, request) -> the
envelope it stores."""


def _sealed_to_buyer(market: Marketplace, request_id: int, plain: bytes) -> bytes:
    buyer_key = market.registry.encryption_key(market.model_market.request(request_id).buyer)
    return seal(plain, [buyer_key], purpose(request_id, "delivery"))


def flipped_chunk(market: Marketplace, delivery: Delivery, request_id: int) -> bytes:
    """One byte of the first encrypted chunk flipped: not the committed ciphertext."""
    first = bytearray(delivery.encrypted[0])
    first[0] ^= 0xFF
    spoiled = Delivery((bytes(first), *delivery.encrypted[1:]), delivery.chunk_hashes)
    return _sealed_to_buyer(market, request_id, delivery_bytes(spoiled))


def missing_chunk(market: Marketplace, delivery: Delivery, request_id: int) -> bytes:
    """The last chunk and its hash left out."""
    short = Delivery(delivery.encrypted[:-1], delivery.chunk_hashes[:-1])
    return _sealed_to_buyer(market, request_id, delivery_bytes(short))


def not_a_delivery(market: Marketplace, delivery: Delivery, request_id: int) -> bytes:
    """Bytes that are no delivery, sealed to the buyer."""
    return _sealed_to_buyer(market, request_id, b"no chunks here")


def sealed_to_another(market: Marketplace, delivery: Delivery, request_id: int) -> bytes:
    """The honest delivery sealed to some other key than the buyer's."""
    _, other = generate_keypair()
    return seal(delivery_bytes(delivery), [other], purpose(request_id, "delivery"))


def spoiling(spoil: BadDelivery) -> Step:
    """A seller's ``submit`` that commits honestly to its model but stores ``spoil``'s
    envelope as its delivery."""

    def submit(
        market: Marketplace,
        me: Identity,
        request_id: int,
        model: bytes,
        delivered: bytes | None = None,
    ) -> seller.Offer:
        mm = market.model_market
        key = new_key()
        commitments, delivery = commit_model(model, key)
        envelope = spoil(market, delivery, request_id)
        stake = mm.request(request_id).seller_stake
        result = mm.submit(
            me.account, request_id, commitments, hash_bytes(market.store.put(envelope)), stake
        )
        index = int(result.event("Submitted")["index"])
        return seller.Offer(request_id, index, key, model, model)

    return submit


# the flow -----------------------------------------------------------------------------------
STEP_MODULES = {"buyer": buyer, "seller": seller, "executor": executor}
BUYER = "buyer"
Offered = tuple[bytes, bytes | None] | None
"""What a seller offers: its model and, to cheat, another model it delivers; None: it
stays out."""


class P4Flow(Demo):
    """A P4 market, its cast and their agents; adversaries are ``swaps`` of their steps.

    ``sellers`` maps each seller's name to its offer, ``executors`` names the compute
    providers (each volunteers for every request), ``lazy`` those that never commit.
    """

    protocol = "modelmarket"

    def __init__(
        self,
        work: Path,
        sellers: Mapping[str, Offered],
        executors: Collection[str] = ("executor-1", "executor-2", "executor-3"),
        lazy: Collection[str] = (),
        swaps: Mapping[str, Mapping[str, Step]] | None = None,
    ) -> None:
        self.chain = EmbeddedChain()
        self.offers = dict(sellers)
        self.executor_names = tuple(executors)
        self.lazy = frozenset(lazy)
        cast = [
            Member(BUYER, Role.CLIENT),
            *(Member(name, Role.MODEL_OWNER) for name in self.offers),
            *(Member(name, Role.COMPUTE_PROVIDER) for name in self.executor_names),
        ]
        super().__init__(self.chain, LocalBlobStore(work / "blobs"), work / "agents", cast)
        self.work = work
        self.started = {name: self.chain.balance(i.address) for name, i in self.identities.items()}
        self._patches = pytest.MonkeyPatch()
        try:
            self._swap(swaps or {})
            self.start_agents()
        except BaseException:
            self.close()
            raise

    # the cast -------------------------------------------------------------------------------
    @property
    def mm(self) -> ModelMarket:
        return self.market.model_market

    def me(self, name: str) -> Identity:
        return self.identities[name]

    def address(self, name: str) -> str:
        return self.identities[name].address

    def attach(self, agent: Agent, name: str) -> None:
        me = self.identities[name]
        if name == BUYER:
            agents.attach_buyer(agent, self.market, me, self.work / "bought")
        elif name in self.offers:
            offered = self.offers[name]

            def model_for(event: Event) -> tuple[bytes, bytes | None] | None:
                return offered

            agents.attach_seller(agent, self.market, me, FEATURES, model_for)
        else:
            agents.attach_executor(agent, self.market, me, lazy=name in self.lazy)

    def _swap(self, swaps: Mapping[str, Mapping[str, Step]]) -> None:
        by_step: dict[str, dict[str, Step]] = {}
        for name, steps in swaps.items():
            for step, replacement in steps.items():
                by_step.setdefault(step, {})[self.address(name)] = replacement
        for step, replacements in by_step.items():
            module_name, function = step.split(".")
            module = STEP_MODULES[module_name]
            swapped = _dispatch(getattr(module, function), replacements)
            self._patches.setattr(module, function, swapped)

    # driving --------------------------------------------------------------------------------
    def post(self, tests: HiddenTestSet, k: int = 1, executors: int = 3) -> int:
        """The buyer posts a request for ``tests`` and tells its agent; returns the id."""
        request_id = buyer.post_request(
            self.market, self.me(BUYER), task_document(), tests, terms(k, executors)
        )
        agents.follow_request(self.agents[BUYER].context, request_id, tests)
        return request_id

    def after(self, seconds: int = PERIOD) -> None:
        """Let ``seconds`` of chain time pass, then run the agents until idle."""
        self.chain.time_travel(seconds + 1)
        self.run_agents()

    def run_to_end(self, request_id: int, periods: int = 8) -> Request:
        """Run the agents, a period at a time, until the request ends and everyone withdrew."""
        self.run_agents()
        for _ in range(periods):
            if self.mm.request(request_id).status.final:
                break
            self.after()
        self.run_agents()
        return self.mm.request(request_id)

    # what happened --------------------------------------------------------------------------
    def sample(self, request_id: int) -> list[int]:
        return history.sample_indices(self.mm, request_id) or []

    def state_of(self, request_id: int, name: str) -> SubmissionState:
        """The state of ``name``'s submission (NONE if it did not submit)."""
        for submission in self.mm.submissions(request_id):
            if submission.seller == self.address(name):
                return submission.state
        return SubmissionState.NONE

    def index_of(self, request_id: int, name: str) -> int:
        submitted = [s.seller for s in self.mm.submissions(request_id)]
        return submitted.index(self.address(name))

    def net(self, name: str) -> int:
        """How much richer ``name`` is than when registered (the embedded chain charges no
        gas, so this is exactly what the market paid it less what it put in)."""
        return self.chain.balance(self.address(name)) - self.started[name]

    def paid_in(self, request_id: int, name: str) -> int:
        """What ``name`` sent the request: the escrow, a seller's or a volunteer's stake."""
        address = self.address(name)
        posted = history.posted(self.mm, request_id)
        total = int(posted["escrowed"]) if posted["buyer"] == address else 0
        stakes = [
            *self.mm.events("Submitted", request_id=request_id, seller=address),
            *self.mm.events("Volunteered", request_id=request_id, executor=address),
        ]
        total += sum(int(e["stake"]) for e in stakes)
        return total

    def assert_settled(self, request_id: int, expected_net: Mapping[str, int]) -> None:
        """The request ended, locks nothing, the market holds nothing; every member owes
        nothing, withdrew what it put in plus its gain, and gained ``expected_net`` (0 for
        anyone not named)."""
        request = self.mm.request(request_id)
        assert request.status.final
        assert request.locked == 0
        assert self.chain.balance(self.mm.address) == 0
        withdrawn = self.withdrawn()
        for name in self.identities:
            assert self.mm.owed(self.address(name)) == 0, name
            assert self.net(name) == expected_net.get(name, 0), name
            assert withdrawn.get(name, 0) == self.paid_in(request_id, name) + self.net(name), name
        assert sum(self.net(name) for name in self.identities) == 0

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._patches.undo()
            self.chain.close()


def _dispatch(original: Step, replacements: Mapping[str, Step]) -> Step:
    """A step that runs the replacement for the participants in ``replacements``."""

    def step(market: Marketplace, me: Identity, *args: Any, **kwargs: Any) -> Any:
        return replacements.get(me.address, original)(market, me, *args, **kwargs)

    return step


@contextmanager
def p4_flow(work: Path, sellers: Mapping[str, Offered], **options: Any) -> Iterator[P4Flow]:
    """A :class:`P4Flow`, closed (its swaps undone, its chain closed) at the end."""
    flow = P4Flow(work, sellers, **options)
    try:
        yield flow
    finally:
        flow.close()
