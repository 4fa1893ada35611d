"""FairSwap chunks: an honest delivery opens to the model; a seller that delivers another
model than it committed to is caught by one chunk and two proofs, which no buyer can forge."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest

from mercato.crypto.commit import keccak
from mercato.crypto.fairswap import (
    CHUNK_SIZE,
    Complaint,
    check_complaint,
    cipher_leaf,
    commit_model,
    crypt_chunk,
    delivery_problem,
    max_proof_hashes,
    new_key,
    open_delivery,
    plain_leaf,
    plain_root,
)
from mercato.crypto.merkle import MerkleTree
from mercato.errors import InputError

MODEL = os.urandom(5 * CHUNK_SIZE + 300)


def test_an_honest_delivery_opens_to_the_committed_model() -> None:
    # prepare
    key = new_key()

    # act
    commitments, delivery = commit_model(MODEL, key)
    model, complaint = open_delivery(commitments, delivery, key)

    # assert
    assert model == MODEL and complaint is None
    assert commitments.chunks == 6 and commitments.key_hash == keccak(key)
    assert commitments.plain_root == plain_root(MODEL)  # what executors check
    assert delivery.encrypted[0] != MODEL[:CHUNK_SIZE]  # the chunks travel encrypted
    assert crypt_chunk(key, 5, delivery.encrypted[5]) == MODEL[5 * CHUNK_SIZE :] + bytes(
        CHUNK_SIZE - 300
    )


def test_another_model_than_the_benchmarked_one_is_proved_with_one_chunk() -> None:
    # prepare: the seller commits MODEL's plaintext root (what the executors benchmark) but
    # the ciphertext root of a worse model whose chunk 3 differs, and delivers the latter
    key = new_key()
    commitments, honest = commit_model(MODEL, key)
    worse = bytearray(MODEL)
    worse[3 * CHUNK_SIZE + 7] ^= 0xFF
    _, cheat = commit_model(bytes(worse), key)
    delivered = replace(cheat, chunk_hashes=honest.chunk_hashes)
    committed = replace(commitments, cipher_root=commit_model(bytes(worse), key)[0].cipher_root)

    # act
    model, complaint = open_delivery(committed, delivered, key)

    # assert
    assert model is None and complaint is not None
    assert complaint.index == 3
    assert check_complaint(committed, key, complaint)
    assert len(complaint.cipher_proof) <= max_proof_hashes(6)


def test_an_honest_chunk_cannot_be_complained_about() -> None:
    # prepare
    key = new_key()
    commitments, delivery = commit_model(MODEL, key)

    cipher = MerkleTree([cipher_leaf(i, e) for i, e in enumerate(delivery.encrypted)])
    plain = MerkleTree([plain_leaf(i, h) for i, h in enumerate(delivery.chunk_hashes)])
    honest = Complaint(2, delivery.encrypted[2], tuple(cipher.proof(2)),
                       delivery.chunk_hashes[2], tuple(plain.proof(2)))  # fmt: skip
    moved = replace(honest, chunk_hash=delivery.chunk_hashes[1], plain_proof=tuple(plain.proof(1)))

    # act / assert
    assert not check_complaint(commitments, key, honest)  # it decrypts to what was committed
    assert not check_complaint(commitments, key, moved)  # another index's hash: no proof
    assert not check_complaint(commitments, new_key(), honest)  # not the committed key
    assert not check_complaint(commitments, key, replace(honest, index=9))


def test_a_delivery_or_key_that_is_not_the_committed_one_is_refused() -> None:
    # prepare
    key = new_key()
    commitments, delivery = commit_model(MODEL, key)
    short = replace(delivery, encrypted=delivery.encrypted[:-1])
    flipped = replace(delivery, encrypted=(b"\x00" * CHUNK_SIZE, *delivery.encrypted[1:]))

    # act / assert
    assert delivery_problem(commitments, delivery) is None
    assert "6 were committed" in (delivery_problem(commitments, short) or "")
    assert "ciphertext root" in (delivery_problem(commitments, flipped) or "")
    with pytest.raises(InputError, match="committed key hash"):
        open_delivery(commitments, delivery, new_key())
    with pytest.raises(InputError, match="must not be empty"):
        commit_model(b"", key)
    with pytest.raises(InputError, match="32 bytes"):
        commit_model(MODEL, b"short")


def test_a_proof_grows_with_the_logarithm_of_the_size() -> None:
    assert [max_proof_hashes(n) for n in (1, 2, 10, 1024, 100 * 1024)] == [0, 1, 4, 10, 17]
