"""P4's complaint weighed by model size: one bad chunk and two proofs, whatever the size.

One market whose winners each committed to a model of one size (10 kB, 1 MB, 100 MB by
default) and delivered a bad chunk :data:`COMPLAINED_CHUNK`; the buyer complains about each.
Both Merkle trees are built from leaf hashes, with real bytes only for the complained chunk:
the contract sees one chunk and two proofs, so nothing else of the model matters to it, and
100 MB need not be encrypted in Python. The executors' votes are made up: the contract
checks that they agree, not how they were reached.

Beside it, :data:`FAIRSWAP_FORMULA` (FairSwap's complaint carries the same chunk and proofs)
and :data:`MERKLE_FORMULA` (one proof check).
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from mercato.bench.modelmarket_market import DemoCast, DemoData, task_document
from mercato.crypto.commit import keccak
from mercato.crypto.fairswap import (
    CHUNK_SIZE,
    Commitments,
    Complaint,
    check_complaint,
    cipher_leaf,
    crypt_chunk,
    new_key,
    plain_leaf,
)
from mercato.crypto.merkle import MerkleTree, leaf_hash
from mercato.errors import InputError, ProtocolError
from mercato.protocols.modelmarket import buyer, executor, history
from mercato.protocols.modelmarket import scenario as demo
from mercato.protocols.modelmarket.documents import HiddenTestSet
from mercato.protocols.modelmarket.market import score_commitment
from mercato.protocols.modelmarket.views import SubmissionState

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace

COMPLAINT_SIZES = (("10 kB", 10_000), ("1 MB", 1_000_000), ("100 MB", 100_000_000))
"""(label, bytes) of the models whose complaint is weighed."""
COMPLAINED_CHUNK = 0
"""The chunk complained about: its proofs have the tree's full depth (a level's last node
without a sibling moves up unchanged, so a later chunk's proof can be shorter)."""
COMPLAINT_GAS_GOAL = 300_000
COMPLAINT_SCORE = 950_000
"""What the complaint market's executors agree each model scores: the top price."""
NO_DELIVERY = keccak(b"mercato bench p4: the complaint market's deliveries are not read")

TX_BASE_GAS = 21_000
CALLDATA_GAS_PER_BYTE = 16
HASH_BYTES = 32
MERKLE_GAS_PER_LEVEL = 134
MERKLE_GAS_BASE = 115
MERKLE_FORMULA = "134 x log2(leaves) + 115"
FAIRSWAP_FORMULA = (
    "21,000 + 16 x (1,024 + 2 x 32 x depth) + 2 x (134 x depth + 115): the transaction, its "
    "calldata (one 1,024-byte chunk and two Merkle proofs of the tree's depth, at 16 gas a "
    "byte) and two proof checks; no decryption, no ABI encoding, no state change"
)


@dataclass(frozen=True)
class ForgedSwap:
    """A seller's commitments to a model of ``size`` bytes whose chunk
    :data:`COMPLAINED_CHUNK` decrypts to other bytes than committed, and the complaint."""

    size: int
    key: bytes
    commitments: Commitments
    complaint: Complaint

    @property
    def chunks(self) -> int:
        return self.commitments.chunks

    @property
    def depth(self) -> int:
        return len(self.complaint.cipher_proof)


def forged_swap(size: int, seed: int = 0) -> ForgedSwap:
    """Both trees of a ``size``-byte model from leaf hashes: stand-in random leaves, and real
    bytes for the complained chunk only (the benchmarked chunk's hash in the plaintext tree,
    another chunk encrypted in the ciphertext tree)."""
    if size < 1:
        raise InputError(f"a model has at least one byte, got {size}")
    chunks = math.ceil(size / CHUNK_SIZE)
    rng = random.Random(seed)
    key = new_key()
    benchmarked, delivered = rng.randbytes(CHUNK_SIZE), rng.randbytes(CHUNK_SIZE)
    index = COMPLAINED_CHUNK
    encrypted = crypt_chunk(key, index, delivered)
    chunk_hash = keccak(benchmarked)
    filler = rng.randbytes(2 * HASH_BYTES * chunks)
    plain_leaves = [filler[i * HASH_BYTES : (i + 1) * HASH_BYTES] for i in range(chunks)]
    cipher_leaves = [
        filler[i * HASH_BYTES : (i + 1) * HASH_BYTES] for i in range(chunks, 2 * chunks)
    ]
    plain_leaves[index] = leaf_hash(plain_leaf(index, chunk_hash))
    cipher_leaves[index] = leaf_hash(cipher_leaf(index, encrypted))
    plain, cipher = (
        MerkleTree.from_leaf_hashes(plain_leaves),
        MerkleTree.from_leaf_hashes(cipher_leaves),
    )
    commitments = Commitments(plain.root, cipher.root, keccak(key), size)
    complaint = Complaint(
        index, encrypted, tuple(cipher.proof(index)), chunk_hash, tuple(plain.proof(index))
    )
    if not check_complaint(commitments, key, complaint):
        raise ProtocolError(f"the forged complaint for {size} bytes does not hold")
    return ForgedSwap(size, key, commitments, complaint)


@dataclass(frozen=True)
class ComplaintGas:
    """What the contract charged for the complaint about one model's bad chunk."""

    label: str
    size: int
    chunks: int
    depth: int
    """Sibling hashes in each of the two proofs."""
    gas: int

    @property
    def fairswap_gas(self) -> int:
        """:data:`FAIRSWAP_FORMULA` at this depth."""
        calldata = CHUNK_SIZE + 2 * HASH_BYTES * self.depth
        return TX_BASE_GAS + CALLDATA_GAS_PER_BYTE * calldata + 2 * merkle_gas(self.depth)

    def as_dict(self) -> dict[str, Any]:
        return {
            "bytes": self.size,
            "chunks": self.chunks,
            "proof_depth": self.depth,
            "gas": self.gas,
            "under_goal": self.gas < COMPLAINT_GAS_GOAL,
        }


def merkle_gas(depth: int) -> int:
    """One proof check's execution gas for ``2**depth`` leaves (:data:`MERKLE_FORMULA`)."""
    return MERKLE_GAS_PER_LEVEL * depth + MERKLE_GAS_BASE


def complaint_gas(
    market: Marketplace,
    cast: DemoCast,
    data: DemoData,
    sizes: Sequence[tuple[str, int]] = COMPLAINT_SIZES,
) -> tuple[ComplaintGas, ...]:
    """One market whose winners each committed to a model of one of ``sizes`` (and delivered
    a bad chunk); the buyer complains about each. The executors' votes are made up: the
    contract checks that they agree, not how they were reached."""
    mm, me = market.model_market, cast.buyer
    forged = [forged_swap(size, seed) for seed, (_, size) in enumerate(sizes)]
    sellers = list(cast.sellers.values())[: len(sizes)]
    if len(sellers) < len(sizes):
        raise InputError(f"{len(sizes)} sizes need as many sellers; the cast has {len(sellers)}")
    test_set = HiddenTestSet.cut(data.test_X, data.test_y, demo.GROUPS, seed=demo.SEED)
    terms = replace(demo.TERMS, k=len(sizes))
    rid = buyer.post_request(market, me, task_document(), test_set, terms)
    mm.advance(me.account, rid)
    buyer.reveal_sample(market, me, rid, test_set)
    for who, swap in zip(sellers, forged, strict=True):
        mm.submit(who.account, rid, swap.commitments, NO_DELIVERY, terms.seller_stake)
    for who in cast.executors.values():
        executor.volunteer(market, who, rid)
    market.chain.time_travel(terms.periods.submit + 1)
    mm.advance(me.account, rid)
    mm.advance(me.account, rid)
    scores, report = [COMPLAINT_SCORE] * len(sizes), keccak(b"mercato bench p4: no report")
    salts = {}
    for address in history.executors(mm, rid):
        who = cast.members[cast.names[address]]
        salts[address] = secrets.token_bytes(32)
        commitment = score_commitment(rid, address, scores, 0, report, salts[address])
        mm.commit_scores(who.account, rid, commitment)
    for address, salt in salts.items():
        who = cast.members[cast.names[address]]
        mm.reveal_scores(who.account, rid, scores, 0, report, salt)
    mm.tally(me.account, rid, scores, 0)
    measured = []
    for index, (who, swap, (label, size)) in enumerate(zip(sellers, forged, sizes, strict=True)):
        mm.reveal_key(who.account, rid, swap.key)
        result = mm.complain(me.account, rid, index, swap.key, swap.complaint)
        measured.append(ComplaintGas(label, size, swap.chunks, swap.depth, result.gas_used))
    if any(s.state is not SubmissionState.CHEATED for s in mm.submissions(rid)):
        raise ProtocolError(f"benchmark request {rid}: a complaint did not settle")
    return tuple(measured)
