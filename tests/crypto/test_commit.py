"""Hash + nonce commitments."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mercato.crypto import commit, keccak, new_nonce, verify_commitment
from mercato.errors import InputError

KECCAK_OF_EMPTY = bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


def test_keccak_is_ethereum_keccak256() -> None:
    # act / assert
    assert keccak(b"") == KECCAK_OF_EMPTY


def test_commitment_is_keccak_of_data_then_nonce() -> None:
    # prepare
    nonce = bytes(range(32))

    # act
    commitment = commit(b"dataset bytes", nonce)

    # assert
    assert commitment == keccak(b"dataset bytes" + nonce)
    assert len(commitment) == 32


@given(data=st.binary(max_size=512), nonce=st.binary(min_size=32, max_size=32))
def test_commitment_opens_with_its_data_and_nonce(data: bytes, nonce: bytes) -> None:
    # act
    commitment = commit(data, nonce)

    # assert
    assert verify_commitment(commitment, data, nonce)
    assert not verify_commitment(commitment, data + b"\x00", nonce)
    assert not verify_commitment(commitment, data, bytes(b ^ 1 for b in nonce))


def test_new_nonces_are_32_fresh_bytes() -> None:
    # act
    nonces = {new_nonce() for _ in range(100)}

    # assert
    assert len(nonces) == 100
    assert {len(nonce) for nonce in nonces} == {32}


@pytest.mark.parametrize("nonce", [b"", b"\x00" * 31, b"\x00" * 33])
def test_nonce_of_wrong_size_raises_input_error(nonce: bytes) -> None:
    # act / assert
    with pytest.raises(InputError, match="nonce must be 32 bytes"):
        commit(b"data", nonce)


def test_commitment_of_wrong_size_raises_input_error() -> None:
    # act / assert
    with pytest.raises(InputError, match="commitment must be 32 bytes"):
        verify_commitment(b"\x00" * 20, b"data", new_nonce())
