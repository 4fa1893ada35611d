"""The BlobStore contract, run against every implementation (local folder and S3 on moto)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mercato.errors import BlobNotFound, InputError, IntegrityError
from mercato.storage import BlobStore, blob_hash

if TYPE_CHECKING:
    from conftest import Backend

KECCAK_OF_EMPTY = "0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
ABSENT_HASH = blob_hash(b"never stored")
BAD_HASHES = [
    "",
    "0x",
    "0x1234",
    "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470",
    "0x" + "g" * 64,
    "0x" + "a" * 65,
    " " + KECCAK_OF_EMPTY,
]
URI_PATTERNS = {
    "local": r"file:///.+/blobs/[0-9a-f]{2}/0x[0-9a-f]{64}",
    "s3": r"s3://mercato-test-[0-9a-f]+/blobs/test/0x[0-9a-f]{64}",
}


def test_put_returns_keccak_of_the_bytes(store: BlobStore) -> None:
    # act
    key = store.put(b"")

    # assert
    assert key == KECCAK_OF_EMPTY


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=4096))
def test_put_then_get_round_trips(store: BlobStore, data: bytes) -> None:
    # act
    key = store.put(data)

    # assert
    assert key == blob_hash(data)
    assert store.has(key)
    assert store.get(key) == data


def test_put_is_idempotent(store: BlobStore) -> None:
    # prepare
    data = b"model weights v1"
    first = store.put(data)

    # act
    second = store.put(data)

    # assert
    assert second == first
    assert store.get(first) == data


def test_missing_blob_raises_blob_not_found(store: BlobStore) -> None:
    # act / assert
    assert not store.has(ABSENT_HASH)
    with pytest.raises(BlobNotFound, match=ABSENT_HASH):
        store.get(ABSENT_HASH)


def test_corrupted_blob_raises_integrity_error(backend: Backend) -> None:
    # prepare
    key = backend.store.put(b"honest bytes")
    backend.overwrite(key, b"forged bytes")

    # act / assert
    with pytest.raises(IntegrityError, match="corrupted"):
        backend.store.get(key)


@pytest.mark.parametrize("bad", BAD_HASHES)
def test_bad_hash_string_raises_input_error(store: BlobStore, bad: str) -> None:
    # act / assert
    with pytest.raises(InputError, match="blob hash"):
        store.get(bad)
    with pytest.raises(InputError, match="blob hash"):
        store.has(bad)
    with pytest.raises(InputError, match="blob hash"):
        store.uri(bad)


def test_uppercase_hash_is_accepted(store: BlobStore) -> None:
    # prepare
    key = store.put(b"case")

    # act
    data = store.get("0x" + key[2:].upper())

    # assert
    assert data == b"case"


def test_uri_names_the_blob(backend: Backend) -> None:
    # prepare
    key = backend.store.put(b"where am I")

    # act
    uri = backend.store.uri(key)

    # assert
    assert re.fullmatch(URI_PATTERNS[backend.name], uri)
    assert uri.endswith(key)


def test_store_satisfies_the_protocol(store: BlobStore) -> None:
    # act / assert
    assert isinstance(store, BlobStore)
