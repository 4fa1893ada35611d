"""A freshly deployed registry and model market, its cast, and short-hands for each step.

The cast: a buyer (registered as client), four sellers (model owners), four compute
providers that volunteer as executors, and a stranger registered for nothing; tests that
need a crowd (the 17th seller, the 33rd volunteer) add funded, registered accounts with
:meth:`World.crowd`. The hidden test set is 64 groups whose blobs are random bytes (the
contract sees only their hashes); each seller's model is random bytes committed with
mercato.crypto.fairswap.

Every request here is posted with the default terms unless a test says otherwise: k = 2
models bought, 3 executors, the schedule :data:`SCHEDULE`, so the buyer locks
:data:`ESCROWED`. The steps follow the contract's phases: ``submitting`` (sample drawn and
revealed), ``committing`` (submissions closed and executors drawn), ``tallied``
(executors agreed), ``swapping`` (winners waiting for their keys).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import vyper
from eth_abi.abi import encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak

from mercato.chain.base import Chain
from mercato.chain.contract import ABI, Contract, TxResult
from mercato.crypto import fairswap
from mercato.crypto.merkle import MerkleTree, leaf_hash
from mercato.protocols.draws import distinct_indices, select
from mercato.protocols.modelmarket.market import ModelMarket, score_commitment
from mercato.protocols.modelmarket.views import (
    Periods,
    Request,
    RequestStatus,
    Submission,
)
from mercato.protocols.roles import Role

from ..world import ETHER, HOUR, KEY, ProtocolWorld, deploy_registry, register_cast

GROUPS = 64
MAX_BUILT_GROUPS = 4096
SAMPLE = 4
PERIODS = Periods(HOUR, 2 * HOUR, HOUR, HOUR, HOUR, 2 * HOUR)
SCHEDULE = ((500_000, 10**16), (800_000, 2 * 10**16), (900_000, 3 * 10**16))
"""(score in ppm, price in wei): nothing under 0.5; 0.01 ether from 0.5, 0.03 from 0.9."""
TOP_PRICE = SCHEDULE[-1][1]
K = 2
EXECUTORS = 3
SELLER_STAKE = 10**15
EXECUTOR_STAKE = 2 * 10**15
EXECUTOR_FEE = 10**14
BOND = 4 * 10**15
ESCROWED = K * TOP_PRICE + EXECUTORS * EXECUTOR_FEE + BOND
"""What the buyer locks with the default terms."""
TASK_HASH = keccak(b"task: digits, 64 features, 10 classes, accuracy")
REPORT_HASH = keccak(b"report")
DELIVERY_HASH = keccak(b"delivery")
SAMPLE_BLOB = keccak(b"sample")
ATOMIC_DRAW_SOURCE = Path(__file__).with_name("AtomicDraw.vy")


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


def cheating_model(size: int = 3 * fairswap.CHUNK_SIZE + 100) -> Model:
    """A seller that commits the plaintext root of one model (the one benchmarked) but
    encrypts another under its key: the delivery opens (both roots match) and every chunk
    decrypts to something other than its committed hash."""
    benchmarked = os.urandom(size)
    key = fairswap.new_key()
    honest, honest_delivery = fairswap.commit_model(benchmarked, key)
    other, other_delivery = fairswap.commit_model(os.urandom(size), key)
    commitments = fairswap.Commitments(honest.plain_root, other.cipher_root, other.key_hash, size)
    delivery = fairswap.Delivery(other_delivery.encrypted, honest_delivery.chunk_hashes)
    return Model(benchmarked, key, commitments, delivery)


def complaint_for(delivery: fairswap.Delivery, index: int) -> fairswap.Complaint:
    """The complaint about chunk ``index`` of a delivery: its encrypted chunk and committed
    hash with their proofs, whether or not the chunk decrypts to that hash."""
    cipher = MerkleTree([fairswap.cipher_leaf(i, e) for i, e in enumerate(delivery.encrypted)])
    plain = MerkleTree([fairswap.plain_leaf(i, h) for i, h in enumerate(delivery.chunk_hashes)])
    return fairswap.Complaint(
        index=index,
        encrypted=delivery.encrypted[index],
        cipher_proof=tuple(cipher.proof(index)),
        chunk_hash=delivery.chunk_hashes[index],
        plain_proof=tuple(plain.proof(index)),
    )


def large_cheat(chunks: int, index: int) -> tuple[Model, fairswap.Complaint]:
    """A cheating model of ``chunks`` chunks whose complaint about chunk ``index`` is built
    from leaf hashes: only that chunk has real bytes (the contract sees roots and proofs, so
    the other leaves may be any hashes). The model's data and delivery are left empty."""
    key = fairswap.new_key()
    benchmarked = os.urandom(fairswap.CHUNK_SIZE)
    encrypted = fairswap.crypt_chunk(key, index, os.urandom(fairswap.CHUNK_SIZE))
    chunk_hash = keccak(benchmarked)
    plain_leaves = [os.urandom(32) for _ in range(chunks)]
    cipher_leaves = [os.urandom(32) for _ in range(chunks)]
    plain_leaves[index] = leaf_hash(fairswap.plain_leaf(index, chunk_hash))
    cipher_leaves[index] = leaf_hash(fairswap.cipher_leaf(index, encrypted))
    plain = MerkleTree.from_leaf_hashes(plain_leaves)
    cipher = MerkleTree.from_leaf_hashes(cipher_leaves)
    commitments = fairswap.Commitments(
        plain.root, cipher.root, keccak(key), chunks * fairswap.CHUNK_SIZE
    )
    complaint = fairswap.Complaint(
        index=index,
        encrypted=encrypted,
        cipher_proof=tuple(cipher.proof(index)),
        chunk_hash=chunk_hash,
        plain_proof=tuple(plain.proof(index)),
    )
    return Model(b"", key, commitments, fairswap.Delivery((), ())), complaint


@dataclass
class TestSet:
    """The buyer's hidden groups: their blobs and the tree of their indexed leaves."""

    __test__ = False  # not a pytest test class

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


def draw_seed(chain: Chain, target: int, request_id: int, purpose: bytes) -> bytes:
    """keccak(blockhash(target) || uint256(request) || purpose), computed off chain."""
    return keccak(chain.block_hash(target) + request_id.to_bytes(32, "big") + purpose)


def bit_count(mask: int) -> int:
    return bin(mask).count("1")


@dataclass
class World(ProtocolWorld):
    """The deployed contracts, the cast, and one short-hand per protocol step."""

    market: ModelMarket
    buyer: LocalAccount
    sellers: list[LocalAccount]
    executors: list[LocalAccount]
    crowd_accounts: list[LocalAccount] = field(default_factory=list)
    test_sets: dict[int, TestSet] = field(default_factory=dict)
    models: dict[tuple[int, int], Model] = field(default_factory=dict)
    salts: dict[tuple[int, str], bytes] = field(default_factory=dict)
    _terms: dict[int, Request] = field(default_factory=dict)

    @property
    def contract(self) -> Contract:
        return self.market.contract

    @property
    def cast(self) -> list[LocalAccount]:
        return [self.buyer, *self.sellers, *self.executors, self.stranger, *self.crowd_accounts]

    def state(self, request_id: int) -> Request:
        return self.market.request(request_id)

    def submission(self, request_id: int, index: int) -> Submission:
        return self.market.submission(request_id, index)

    def terms(self, request_id: int) -> Request:
        """The request as first read: only its terms (buyer, stakes, sizes) are to be used,
        which never change (read once: a view call is slow on the embedded EVM)."""
        if request_id not in self._terms:
            self._terms[request_id] = self.state(request_id)
        return self._terms[request_id]

    # reading --------------------------------------------------------------------------------
    def owed_all(self) -> dict[str, int]:
        """What the market owes every account of the cast."""
        return {a.address: self.owed(a) for a in self.cast}

    def locked(self) -> int:
        """What every request of the market locks."""
        return sum(self.state(i).locked for i in range(1, self.market.count() + 1))

    def assert_escrow_balances(self) -> None:
        """The market holds exactly what its requests lock and what it owes."""
        assert self.balance() == self.locked() + sum(self.owed_all().values())

    def expected_sample(self, request_id: int, target: int) -> list[int]:
        """The sample the contract must draw with ``target``'s block hash."""
        request = self.state(request_id)
        seed = draw_seed(self.chain, target, request_id, b"sample")
        return distinct_indices(seed, request.groups, request.sample)

    def expected_executors(self, request_id: int, target: int) -> int:
        """The mask of executors the contract must draw with ``target``'s block hash."""
        request = self.state(request_id)
        seed = draw_seed(self.chain, target, request_id, b"executors")
        return select(seed, request.volunteers, request.executors, 0)[0]

    # accounts -------------------------------------------------------------------------------
    def crowd(self, count: int, roles: Role) -> list[LocalAccount]:
        """``count`` fresh accounts, funded and registered with ``roles``; they join the cast."""
        start = len(self.crowd_accounts)
        accounts: list[LocalAccount] = [
            Account.from_key(keccak(b"modelmarket crowd %d" % (start + i))) for i in range(count)
        ]
        for account in accounts:
            self.chain.set_balance(account.address, ETHER)
        register_cast(self.registry, [(account, roles) for account in accounts])
        self.crowd_accounts += accounts
        return accounts

    # the chain ------------------------------------------------------------------------------
    def travel_to(self, timestamp: int) -> None:
        """Move chain time so that the next block is at or past ``timestamp``."""
        remaining = timestamp - self.chain.timestamp()
        if remaining > 0:
            self.chain.time_travel(remaining)

    @contextmanager
    def alternative(self) -> Iterator[None]:
        """Run the ``with`` block in a history of its own, undone afterwards (anvil's
        snapshots; the embedded chain has none, so a test that needs them skips there).
        Accounts that send inside must not send after: the chain counts their nonces on."""
        if self.chain.backend != "rpc":
            pytest.skip("the embedded chain keeps no snapshots")
        snapshot = self.chain.rpc("evm_snapshot")  # type: ignore[attr-defined]
        try:
            yield
        finally:
            assert self.chain.rpc("evm_revert", snapshot) is True  # type: ignore[attr-defined]

    def deploy_atomic_draw(self) -> Contract:
        """Deploy AtomicDraw.vy, which registers itself as a client."""
        abi, bytecode = compile_atomic_draw()
        initcode = bytecode + encode(
            abi.constructor, [self.registry.address, self.market.address, KEY]
        )
        receipt = self.chain.deploy(self.deployer, initcode)
        assert receipt.contract_address is not None
        return Contract(self.chain, receipt.contract_address, abi, "AtomicDraw")

    # buyer ----------------------------------------------------------------------------------
    def post(self, *, test_set: TestSet | None = None, **options: Any) -> tuple[int, TxResult]:
        """Post a request with the default terms but ``options``; its test set has as many
        groups as it says (a single group stands in for more than :data:`MAX_BUILT_GROUPS`:
        only the root goes on chain, and such a request's sample cannot be revealed)."""
        groups = options.get("groups", GROUPS)
        test_set = test_set or new_test_set(groups if 0 < groups <= MAX_BUILT_GROUPS else 1)
        terms: dict[str, Any] = {
            "task_hash": TASK_HASH,
            "test_root": test_set.root,
            "groups": GROUPS,
            "sample": SAMPLE,
            "schedule": SCHEDULE,
            "k": K,
            "executors": EXECUTORS,
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

    def draw_sample(self, request_id: int, caller: LocalAccount | None = None) -> TxResult:
        self.mine()
        return self.market.advance(caller or self.stranger, request_id)

    def reveal_sample(self, request_id: int, **overrides: Any) -> TxResult:
        test_set = self.test_sets[request_id]
        indices = overrides.pop("indices", self.sample_indices(request_id))
        hashes = overrides.pop("hashes", [test_set.group_hash(i) for i in indices])
        proofs = overrides.pop("proofs", [test_set.tree.proof(i) for i in indices])
        sender = overrides.pop("sender", None) or self.account_at(self.terms(request_id).buyer)
        blob = overrides.pop("blob", SAMPLE_BLOB)
        return self.market.reveal_sample(sender, request_id, hashes, proofs, blob)

    def submitting(self, **options: Any) -> int:
        """A request whose sample is drawn and revealed: open for submissions."""
        request_id = self.posted(**options)
        self.draw_sample(request_id)
        self.reveal_sample(request_id)
        return request_id

    # sellers and executors ------------------------------------------------------------------
    def submit(
        self,
        request_id: int,
        seller: int | LocalAccount,
        model: Model | None = None,
        stake: int | None = None,
    ) -> TxResult:
        model = model or new_model()
        account = self.sellers[seller] if isinstance(seller, int) else seller
        stake = self.terms(request_id).seller_stake if stake is None else stake
        result = self.market.submit(account, request_id, model.commitments, DELIVERY_HASH, stake)
        self.models[request_id, int(result.event("Submitted")["index"])] = model
        return result

    def volunteer(
        self, request_id: int, executor: int | LocalAccount, stake: int | None = None
    ) -> TxResult:
        account = self.executors[executor] if isinstance(executor, int) else executor
        stake = self.terms(request_id).executor_stake if stake is None else stake
        return self.market.volunteer(account, request_id, stake)

    def close(self, request_id: int) -> TxResult:
        """Let the submission deadline pass; anyone closes the submissions."""
        self.pass_deadline(request_id)
        return self.market.advance(self.stranger, request_id)

    def draw_executors(self, request_id: int) -> TxResult:
        """In a later block, anyone draws the executors."""
        self.mine()
        return self.market.advance(self.stranger, request_id)

    def drawn(self, request_id: int) -> list[LocalAccount]:
        """The drawn executors' accounts, in volunteer order."""
        request = self.state(request_id)
        return [
            self.account_at(self.market.volunteer_at(request_id, i)) for i in request.drawn_indices
        ]

    def committing(
        self,
        sellers: int = 3,
        volunteers: int = 4,
        models: Sequence[Model] = (),
        **options: Any,
    ) -> int:
        """A request with ``sellers`` submissions (``models`` first) and its executors drawn."""
        request_id = self.submitting(**options)
        for s in range(sellers):
            self.submit(request_id, s, models[s] if s < len(models) else None)
        for e in range(volunteers):
            self.volunteer(request_id, e)
        self.close(request_id)
        self.draw_executors(request_id)
        return request_id

    def commit(
        self, request_id: int, executor: LocalAccount, scores: Sequence[int], flags: int = 0
    ) -> bytes:
        """Commit to ``scores`` and ``flags``; returns the salt (kept in ``salts`` too)."""
        salt = self.fresh(b"salt")
        commitment = score_commitment(
            request_id, executor.address, scores, flags, REPORT_HASH, salt
        )
        self.market.commit_scores(executor, request_id, commitment)
        self.salts[request_id, executor.address] = salt
        return salt

    def reveal(
        self,
        request_id: int,
        executor: LocalAccount,
        scores: Sequence[int],
        flags: int = 0,
        salt: bytes | None = None,
    ) -> TxResult:
        salt = self.salts[request_id, executor.address] if salt is None else salt
        return self.market.reveal_scores(executor, request_id, scores, flags, REPORT_HASH, salt)

    def benchmark(self, request_id: int, votes: Sequence[tuple[Sequence[int], int] | None]) -> None:
        """Each drawn executor commits then reveals its vote (None: stays silent)."""
        executors = self.drawn(request_id)
        for executor, vote in zip(executors, votes, strict=True):
            if vote is not None:
                self.commit(request_id, executor, *vote)
        if self.state(request_id).status is RequestStatus.COMMITTING:
            self.pass_deadline(request_id)
            self.market.advance(self.stranger, request_id)
        for executor, vote in zip(executors, votes, strict=True):
            if vote is not None:
                self.reveal(request_id, executor, vote[0], vote[1])

    def tallied(
        self, request_id: int, scores: Sequence[int], flags: int = 0, votes: int = EXECUTORS
    ) -> TxResult:
        """Every drawn executor votes the same; the tally follows."""
        self.benchmark(request_id, [(scores, flags)] * votes)
        return self.market.tally(self.stranger, request_id, scores, flags)

    def swapping(self, scores: Sequence[int], models: Sequence[Model] = (), **options: Any) -> int:
        """A request tallied with ``scores`` (one seller per score): winners await their keys."""
        request_id = self.committing(sellers=len(scores), models=models, **options)
        self.tallied(request_id, scores, votes=self.terms(request_id).executors)
        return request_id

    def reveal_key(self, request_id: int, index: int) -> TxResult:
        """Winner ``index`` reveals its key."""
        seller = self.account_at(self.submission(request_id, index).seller)
        return self.market.reveal_key(seller, request_id, self.models[request_id, index].key)


@cache
def compile_atomic_draw() -> tuple[ABI, bytes]:
    output = vyper.compile_code(ATOMIC_DRAW_SOURCE.read_text(), output_formats=["abi", "bytecode"])
    return ABI(output["abi"]), bytes.fromhex(output["bytecode"].removeprefix("0x"))


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
