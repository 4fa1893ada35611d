"""Sealed envelopes: who can open them, and what tampering does."""

from __future__ import annotations

import coincurve
import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from mercato.errors import InputError, IntegrityError
from mercato.storage import (
    generate_keypair,
    open_envelope,
    public_key_of,
    recipient_count,
    seal,
)
from mercato.storage.envelope import NONCE_SIZE, SLOT_SIZE, TAG_SIZE

HEADER_FIXED_SIZE = 40
ALICE = generate_keypair()
BOB = generate_keypair()
MALLORY = generate_keypair()


def test_each_recipient_can_open() -> None:
    # prepare
    envelope = seal(b"dataset location", [ALICE[1], BOB[1]], associated_data=b"auction 7")

    # act
    opened = [
        open_envelope(envelope, key, associated_data=b"auction 7") for key in (ALICE[0], BOB[0])
    ]

    # assert
    assert opened == [b"dataset location", b"dataset location"]


@settings(max_examples=25, deadline=None)
@given(
    plaintext=st.binary(max_size=2048),
    associated_data=st.binary(max_size=64),
    recipients=st.integers(min_value=1, max_value=4),
)
def test_seal_then_open_round_trips(
    plaintext: bytes, associated_data: bytes, recipients: int
) -> None:
    # prepare
    keys = [generate_keypair() for _ in range(recipients)]

    # act
    envelope = seal(plaintext, [public for _, public in keys], associated_data)

    # assert
    for private, _ in keys:
        assert open_envelope(envelope, private, associated_data) == plaintext
    assert recipient_count(envelope) == recipients
    expected_size = (
        HEADER_FIXED_SIZE + SLOT_SIZE * recipients + NONCE_SIZE + len(plaintext) + TAG_SIZE
    )
    assert len(envelope) == expected_size


def test_non_recipient_cannot_open() -> None:
    # prepare
    envelope = seal(b"secret", [ALICE[1], BOB[1]])

    # act / assert
    with pytest.raises(IntegrityError, match="not one of its recipients"):
        open_envelope(envelope, MALLORY[0])


def test_wrong_associated_data_fails() -> None:
    # prepare
    envelope = seal(b"secret", [ALICE[1]], associated_data=b"job 1")

    # act / assert
    with pytest.raises(IntegrityError, match="associated data"):
        open_envelope(envelope, ALICE[0], associated_data=b"job 2")


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_flipped_byte_fails(data: st.DataObject) -> None:
    # prepare
    envelope = bytearray(seal(b"model weights", [ALICE[1], BOB[1]]))
    position = data.draw(st.integers(min_value=0, max_value=len(envelope) - 1))
    envelope[position] ^= data.draw(st.integers(min_value=1, max_value=255))

    # act / assert
    with pytest.raises(IntegrityError):
        open_envelope(bytes(envelope), ALICE[0])


def test_truncated_envelope_fails() -> None:
    # prepare
    envelope = seal(b"secret", [ALICE[1]])

    # act / assert
    with pytest.raises(IntegrityError, match="truncated"):
        open_envelope(envelope[:-20], ALICE[0])


def test_envelope_does_not_name_its_recipients() -> None:
    # act
    envelope = seal(b"secret", [ALICE[1], BOB[1]])

    # assert
    assert ALICE[1] not in envelope
    assert BOB[1] not in envelope
    assert ALICE[1][1:] not in envelope


def test_sealing_twice_gives_different_envelopes() -> None:
    # act
    first, second = seal(b"same", [ALICE[1]]), seal(b"same", [ALICE[1]])

    # assert
    assert first != second


def test_duplicate_recipient_gets_one_slot() -> None:
    # act
    envelope = seal(b"secret", [ALICE[1], ALICE[1], BOB[1]])

    # assert
    assert recipient_count(envelope) == 2
    assert open_envelope(envelope, ALICE[0]) == b"secret"


@pytest.mark.parametrize(
    "bad_key",
    [
        coincurve.PublicKey.from_secret(b"\x01" * 32).format(compressed=False),  # 65 bytes, 0x04
        b"\x02" * 32,
        b"\x05" + b"\x11" * 32,
        b"\x02" + b"\xff" * 32,  # x beyond the field prime: no such point
        b"",
    ],
    ids=["uncompressed", "short", "bad-prefix", "not-on-curve", "empty"],
)
def test_malformed_public_key_raises_input_error(bad_key: bytes) -> None:
    # act / assert
    with pytest.raises(InputError, match="public key"):
        seal(b"secret", [ALICE[1], bad_key])


def test_no_recipients_raises_input_error() -> None:
    # act / assert
    with pytest.raises(InputError, match="at least one recipient"):
        seal(b"secret", [])


@pytest.mark.parametrize("bad_private", [b"\x00" * 32, b"\xff" * 32, b"\x01" * 31])
def test_malformed_private_key_raises_input_error(bad_private: bytes) -> None:
    # prepare
    envelope = seal(b"secret", [ALICE[1]])

    # act / assert
    with pytest.raises(InputError, match="private key"):
        open_envelope(envelope, bad_private)


def test_garbage_is_not_an_envelope() -> None:
    # act / assert
    with pytest.raises(IntegrityError, match="not a Mercato envelope"):
        open_envelope(b"hello world" * 10, ALICE[0])


def test_public_key_matches_ethereum_account_key() -> None:
    # prepare
    account = Account.create()

    # act
    public = public_key_of(bytes(account.key))

    # assert
    assert public == coincurve.PublicKey.from_secret(bytes(account.key)).format(compressed=True)
    assert open_envelope(seal(b"for an account", [public]), bytes(account.key)) == b"for an account"


def test_generated_keypair_is_consistent() -> None:
    # act
    private, public = generate_keypair()

    # assert
    assert len(private) == 32
    assert len(public) == 33
    assert public_key_of(private) == public
