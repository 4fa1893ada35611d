"""A model for money, swapped fairly: chunks a contract can decrypt one at a time (FairSwap).

After Dziembowski, Eckey and Faust, "FairSwap: How to fairly exchange digital goods" (2018),
as P4 of Mercato uses it. The seller cuts its model file into chunks of
:data:`CHUNK_SIZE` bytes (the last padded with zeros, so that a contract handles one
fixed-size chunk: 32 words) and commits to three things before anyone sees the model:

- the **plaintext root**: a Merkle tree (:mod:`mercato.crypto.merkle`) whose leaf ``i`` is
  ``uint64(i) || keccak(chunk_i)``; the executors check the model they benchmark against it;
- the **ciphertext root**: leaf ``i`` is ``uint64(i) || enc_i``, where
  ``enc_i = chunk_i XOR keystream(key, i)`` and the keystream is
  ``keccak(key || uint64(i) || uint32(0)) || keccak(key || uint64(i) || uint32(1)) || ...``;
- the **key hash** ``keccak(key)`` (the key is 32 random bytes).

The buyer receives the ciphertext and the chunk hashes (which say nothing of the weights);
the seller reveals the key on chain to be paid. If a decrypted chunk's hash is not the one
the plaintext root holds at its index, :func:`find_complaint` gives the proof a contract
checks with one chunk, two Merkle proofs and ``len(chunk) / 32`` keccaks
(:func:`check_complaint` is that check in Python): the index sits inside both leaves, so a
proof cannot be moved to another position. A proof costs ``log2(chunks)`` hashes, so the
complaint grows with the logarithm of the model's size only.

Light: keccak and the Merkle tree only.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from mercato.crypto.commit import HASH_SIZE, keccak
from mercato.crypto.merkle import MerkleTree, leaf_hash, verify_proof
from mercato.errors import InputError

CHUNK_SIZE = 1024
"""Bytes per chunk: a complaint carries one chunk, and decrypting it costs 32 keccaks."""
KEY_SIZE = 32
INDEX_BYTES = 8
BLOCK_BYTES = 4


def new_key() -> bytes:
    """A fresh random key for one swap."""
    return secrets.token_bytes(KEY_SIZE)


def split_chunks(data: bytes) -> list[bytes]:
    """``data`` cut into chunks of :data:`CHUNK_SIZE` bytes, the last padded with zeros."""
    if not data:
        raise InputError("a model file to swap must not be empty")
    padded = data + bytes(-len(data) % CHUNK_SIZE)
    return [padded[i : i + CHUNK_SIZE] for i in range(0, len(padded), CHUNK_SIZE)]


def keystream(key: bytes, index: int, length: int) -> bytes:
    """The first ``length`` bytes of chunk ``index``'s keystream (see the module)."""
    _check_key(key)
    prefix = key + index.to_bytes(INDEX_BYTES, "big")
    blocks = (length + HASH_SIZE - 1) // HASH_SIZE
    stream = b"".join(keccak(prefix + j.to_bytes(BLOCK_BYTES, "big")) for j in range(blocks))
    return stream[:length]


def crypt_chunk(key: bytes, index: int, chunk: bytes) -> bytes:
    """Chunk ``index`` XOR its keystream: encrypts a plaintext chunk, decrypts a ciphertext."""
    stream = keystream(key, index, len(chunk))
    return bytes(a ^ b for a, b in zip(chunk, stream, strict=True))


def plain_leaf(index: int, chunk_hash: bytes) -> bytes:
    """Leaf data of the plaintext tree: ``uint64(index) || keccak(chunk)``."""
    return index.to_bytes(INDEX_BYTES, "big") + chunk_hash


def cipher_leaf(index: int, encrypted: bytes) -> bytes:
    """Leaf data of the ciphertext tree: ``uint64(index) || encrypted chunk``."""
    return index.to_bytes(INDEX_BYTES, "big") + encrypted


@dataclass(frozen=True)
class Commitments:
    """What a seller commits to on chain before the benchmark."""

    plain_root: bytes
    cipher_root: bytes
    key_hash: bytes
    size: int
    """The model's length in bytes (its chunk count follows)."""

    @property
    def chunks(self) -> int:
        return (self.size + CHUNK_SIZE - 1) // CHUNK_SIZE


@dataclass(frozen=True)
class Delivery:
    """What the seller hands the buyer (sealed) before revealing the key."""

    encrypted: tuple[bytes, ...]
    chunk_hashes: tuple[bytes, ...]
    """``keccak(chunk_i)`` of every plaintext chunk: the plaintext tree's leaves."""


@dataclass(frozen=True)
class Complaint:
    """A proof that chunk ``index`` decrypts to something other than what was committed."""

    index: int
    encrypted: bytes
    cipher_proof: tuple[bytes, ...]
    chunk_hash: bytes
    """The committed ``keccak(chunk_index)``."""
    plain_proof: tuple[bytes, ...]


def plain_root(data: bytes) -> bytes:
    """The plaintext root of a model file (what an executor checks the model against)."""
    chunks = split_chunks(data)
    return MerkleTree([plain_leaf(i, keccak(c)) for i, c in enumerate(chunks)]).root


def commit_model(data: bytes, key: bytes) -> tuple[Commitments, Delivery]:
    """The seller's commitments to ``data`` under ``key``, and the delivery that goes with."""
    _check_key(key)
    chunks = split_chunks(data)
    hashes = tuple(keccak(c) for c in chunks)
    encrypted = tuple(crypt_chunk(key, i, c) for i, c in enumerate(chunks))
    commitments = Commitments(
        plain_root=MerkleTree([plain_leaf(i, h) for i, h in enumerate(hashes)]).root,
        cipher_root=MerkleTree([cipher_leaf(i, e) for i, e in enumerate(encrypted)]).root,
        key_hash=keccak(key),
        size=len(data),
    )
    return commitments, Delivery(encrypted, hashes)


def delivery_problem(commitments: Commitments, delivery: Delivery) -> str | None:
    """Unless the delivery is the one committed to: chunk count and sizes, both roots."""
    count = commitments.chunks
    if len(delivery.encrypted) != count or len(delivery.chunk_hashes) != count:
        return f"the delivery has {len(delivery.encrypted)} chunks; {count} were committed"
    if any(len(e) != CHUNK_SIZE for e in delivery.encrypted):
        return f"a chunk of the delivery is not {CHUNK_SIZE} bytes"
    if any(len(h) != HASH_SIZE for h in delivery.chunk_hashes):
        return "a chunk hash of the delivery is not 32 bytes"
    cipher = MerkleTree([cipher_leaf(i, e) for i, e in enumerate(delivery.encrypted)])
    if not hmac.compare_digest(cipher.root, commitments.cipher_root):
        return "the encrypted chunks do not give the committed ciphertext root"
    plain = MerkleTree([plain_leaf(i, h) for i, h in enumerate(delivery.chunk_hashes)])
    if not hmac.compare_digest(plain.root, commitments.plain_root):
        return "the chunk hashes do not give the committed plaintext root"
    return None


def open_delivery(
    commitments: Commitments, delivery: Delivery, key: bytes
) -> tuple[bytes | None, Complaint | None]:
    """The model if every chunk decrypts to what was committed, else a complaint about the
    first chunk that does not. InputError if the delivery or the key is not the one
    committed to (nothing a contract could judge from one chunk)."""
    problem = delivery_problem(commitments, delivery)
    if problem is not None:
        raise InputError(problem)
    _check_key(key)
    if not hmac.compare_digest(keccak(key), commitments.key_hash):
        raise InputError("the key does not hash to the committed key hash")
    chunks = []
    for index, encrypted in enumerate(delivery.encrypted):
        chunk = crypt_chunk(key, index, encrypted)
        if not hmac.compare_digest(keccak(chunk), delivery.chunk_hashes[index]):
            return None, _complaint(delivery, index)
        chunks.append(chunk)
    return b"".join(chunks)[: commitments.size], None


def _complaint(delivery: Delivery, index: int) -> Complaint:
    cipher = MerkleTree([cipher_leaf(i, e) for i, e in enumerate(delivery.encrypted)])
    plain = MerkleTree([plain_leaf(i, h) for i, h in enumerate(delivery.chunk_hashes)])
    return Complaint(
        index=index,
        encrypted=delivery.encrypted[index],
        cipher_proof=tuple(cipher.proof(index)),
        chunk_hash=delivery.chunk_hashes[index],
        plain_proof=tuple(plain.proof(index)),
    )


def check_complaint(commitments: Commitments, key: bytes, complaint: Complaint) -> bool:
    """What the contract checks: the key is the committed one, both leaves are in their trees
    at ``index``, and the decrypted chunk does not hash to the committed chunk hash."""
    if len(key) != KEY_SIZE or not hmac.compare_digest(keccak(key), commitments.key_hash):
        return False
    if not 0 <= complaint.index < commitments.chunks:
        return False
    cipher = leaf_hash(cipher_leaf(complaint.index, complaint.encrypted))
    plain = leaf_hash(plain_leaf(complaint.index, complaint.chunk_hash))
    if not (
        verify_proof(commitments.cipher_root, cipher, complaint.cipher_proof)
        and verify_proof(commitments.plain_root, plain, complaint.plain_proof)
    ):
        return False
    decrypted = crypt_chunk(key, complaint.index, complaint.encrypted)
    return not hmac.compare_digest(keccak(decrypted), complaint.chunk_hash)


def max_proof_hashes(chunks: int) -> int:
    """The most sibling hashes one proof holds for a model of ``chunks`` chunks."""
    return max(chunks - 1, 0).bit_length()


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
        raise InputError(f"a swap key is {KEY_SIZE} bytes")
