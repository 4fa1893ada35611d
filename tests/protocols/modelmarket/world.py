"""A freshly deployed registry and model market, its cast, and short-hands for each step.

The cast: a buyer (registered as client), four sellers (model owners), four compute
providers that volunteer as executors, and a stranger registered for nothing. The hidden
test set is 64 groups whose blobs are random bytes (the contract sees only their hashes);
each seller's model is random bytes committed with mercato.crypto.fairswap.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from mercato.chain.base import Chain
from mercato.chain.contract import Contract, TxResult
from mercato.crypto import fairswap
from mercato.crypto.merkle import MerkleTree
from mercato.protocols.draws import distinct_indices
from mercato.protocols.modelmarket.market import ModelMarket, score_commitment
from mercato.protocols.modelmarket.views import Periods, Request, Submission
from mercato.protocols.roles import Role

from ..world import HOUR, ProtocolWorld, deploy_registry, register_cast

GROUPS = 64
SAMPLE = 4
PERIODS = Periods(HOUR, 2 * HOUR, HOUR, HOUR, HOUR, 2 * HOUR)
SCHEDULE = ((500_000, 10**16), (800_000, 2 * 10**16), (900_000, 3 * 10**16))
"""(score in ppm, price in wei): nothing under 0.5; 0.01 ether from 0.5, 0.03 from 0.9."""
SELLER_STAKE = 10**15
EXECUTOR_STAKE = 2 * 10**15
EXECUTOR_FEE = 10**14
BOND = 4 * 10**15
TASK_HASH = keccak(b"task: digits, 64 features, 10 classes, accuracy")


@dataclass
class Model:
    """A seller's model and what it committed to."""

    data: bytes
    key: bytes
    commitments: fairswap.Commitments
    delivery: fairswap.Delivery


def new_model(size: int = 3 * fairswap.CHUNK_SIZE + 100) -> Model:
    data = os.urandom(size)
    key = fairswap.new_key()
    commitments, delivery = fairswap.commit_model(data, key)
    return Model(data, key, commitments, delivery)


@dataclass
class TestSet:
    """The buyer's hidden groups: their blobs and the tree of their indexed leaves."""

    blobs: list[bytes]
    tree: MerkleTree

    @property
    def root(self) -> bytes:
        return self.tree.root

    def group_hash(self, index: int) -> bytes:
        return keccak(self.blobs[index])


def new_test_set(groups: int = GROUPS) -> TestSet:
    blobs = [os.urandom(48) for _ in range(groups)]
    leaves = [fairswap.plain_leaf(i, keccak(blob)) for i, blob in enumerate(blobs)]
    return TestSet(blobs, MerkleTree(leaves))


@dataclass
class World(ProtocolWorld):
    """The deployed contracts, the cast, and one short-hand per protocol step."""

    market: ModelMarket
    buyer: LocalAccount
    sellers: list[LocalAccount]
    executors: list[LocalAccount]
    test_sets: dict[int, TestSet] = field(default_factory=dict)
    models: dict[tuple[int, int], Model] = field(default_factory=dict)

    @property
    def contract(self) -> Contract:
        return self.market.contract

    @property
    def cast(self) -> list[LocalAccount]:
        return [self.buyer, *self.sellers, *self.executors, self.stranger]

    def state(self, request_id: int) -> Request:
        return self.market.request(request_id)

    def submission(self, request_id: int, index: int) -> Submission:
        return self.market.submission(request_id, index)

    # buyer ----------------------------------------------------------------------------------
    def post(self, *, test_set: TestSet | None = None, **options: Any) -> tuple[int, TxResult]:
        test_set = test_set or new_test_set(options.get("groups", GROUPS))
        terms: dict[str, Any] = {
            "task_hash": TASK_HASH,
            "test_root": test_set.root,
            "groups": GROUPS,
            "sample": SAMPLE,
            "schedule": SCHEDULE,
            "k": 2,
            "executors": 3,
            "seller_stake": SELLER_STAKE,
            "executor_stake": EXECUTOR_STAKE,
            "executor_fee": EXECUTOR_FEE,
            "bond": BOND,
            "periods": PERIODS,
        }
        terms.update(options)
        sender = terms.pop("sender", self.buyer)
        request_id, result = self.market.post_request(sender, **terms)
        self.test_sets[request_id] = test_set
        return request_id, result

    def posted(self, **options: Any) -> int:
        return self.post(**options)[0]

    def sample_indices(self, request_id: int) -> list[int]:
        request = self.state(request_id)
        return distinct_indices(request.sample_seed, request.groups, request.sample)

    def draw_sample(self, request_id: int) -> TxResult:
        self.mine()
        return self.market.advance(self.stranger, request_id)

    def reveal_sample(self, request_id: int, **overrides: Any) -> TxResult:
        test_set = self.test_sets[request_id]
        indices = self.sample_indices(request_id)
        hashes = overrides.pop("hashes", [test_set.group_hash(i) for i in indices])
        proofs = overrides.pop("proofs", [test_set.tree.proof(i) for i in indices])
        sender = overrides.pop("sender", self.buyer)
        return self.market.reveal_sample(sender, request_id, hashes, proofs, keccak(b"sample"))

    def submitting(self, **options: Any) -> int:
        """A request whose sample is drawn and revealed: open for submissions."""
        request_id = self.posted(**options)
        self.draw_sample(request_id)
        self.reveal_sample(request_id)
        return request_id

    # sellers and executors ------------------------------------------------------------------
    def submit(self, request_id: int, seller: int, model: Model | None = None) -> TxResult:
        model = model or new_model()
        stake = self.state(request_id).seller_stake
        result = self.market.submit(
            self.sellers[seller], request_id, model.commitments, keccak(b"delivery"), stake
        )
        self.models[request_id, int(result.event("Submitted")["index"])] = model
        return result

    def volunteer(self, request_id: int, executor: int) -> TxResult:
        stake = self.state(request_id).executor_stake
        return self.market.volunteer(self.executors[executor], request_id, stake)

    def drawn(self, request_id: int) -> list[LocalAccount]:
        """The drawn executors' accounts, in volunteer order."""
        request = self.state(request_id)
        return [
            self.account_at(self.market.volunteer_at(request_id, i)) for i in request.drawn_indices
        ]

    def committing(self, sellers: int = 3, volunteers: int = 4, **options: Any) -> int:
        """A request with ``sellers`` submissions and its executors drawn."""
        request_id = self.submitting(**options)
        for s in range(sellers):
            self.submit(request_id, s)
        for e in range(volunteers):
            self.volunteer(request_id, e)
        self.pass_deadline(request_id)
        self.market.advance(self.stranger, request_id)
        self.mine()
        self.market.advance(self.stranger, request_id)
        return request_id

    def commit(
        self, request_id: int, executor: LocalAccount, scores: Sequence[int], flags: int = 0
    ) -> bytes:
        """Commit to ``scores`` and ``flags``; returns the salt."""
        salt = self.fresh(b"salt")
        commitment = score_commitment(
            request_id, executor.address, scores, flags, keccak(b"report"), salt
        )
        self.market.commit_scores(executor, request_id, commitment)
        return salt

    def reveal(
        self,
        request_id: int,
        executor: LocalAccount,
        scores: Sequence[int],
        flags: int,
        salt: bytes,
    ) -> TxResult:
        return self.market.reveal_scores(
            executor, request_id, scores, flags, keccak(b"report"), salt
        )

    def benchmark(self, request_id: int, votes: Sequence[tuple[Sequence[int], int] | None]) -> None:
        """Each drawn executor commits then reveals its vote (None: stays silent)."""
        executors = self.drawn(request_id)
        salts = {}
        for executor, vote in zip(executors, votes, strict=True):
            if vote is not None:
                salts[executor.address] = self.commit(request_id, executor, *vote)
        if self.state(request_id).status.label == "committing":
            self.pass_deadline(request_id)
            self.market.advance(self.stranger, request_id)
        for executor, vote in zip(executors, votes, strict=True):
            if vote is not None:
                self.reveal(request_id, executor, vote[0], vote[1], salts[executor.address])

    def tallied(
        self, request_id: int, scores: Sequence[int], flags: int = 0, votes: int = 3
    ) -> TxResult:
        """Every drawn executor votes the same; the tally follows."""
        self.benchmark(request_id, [(scores, flags)] * votes)
        return self.market.tally(self.stranger, request_id, scores, flags)


def deploy_world(chain: Chain, accounts: Sequence[LocalAccount]) -> World:
    """Deploy a registry and a model market and register the cast."""
    buyer, sellers, executors = accounts[0], list(accounts[1:5]), list(accounts[5:9])
    stranger = accounts[9]
    registry = deploy_registry(chain, buyer)
    market, _ = Contract.deploy(chain, "ModelMarket", registry.address, sender=buyer)
    cast = [(buyer, Role.CLIENT)]
    cast += [(seller, Role.MODEL_OWNER) for seller in sellers]
    cast += [(executor, Role.COMPUTE_PROVIDER) for executor in executors]
    register_cast(registry, cast)
    return World(
        chain=chain,
        registry=registry,
        deployer=buyer,
        stranger=stranger,
        market=ModelMarket(chain, market.address),
        buyer=buyer,
        sellers=sellers,
        executors=executors,
    )
