"""P5's signed messages and array hashes, checked in Python and against a Vyper recoverer."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from eth_abi.abi import encode
from eth_account import Account

from mercato.crypto.commit import keccak
from mercato.errors import InputError
from mercato.protocols.apimarket.messages import (
    TAG_ACK,
    TAG_ASSIGNMENT,
    TAG_RECEIPT,
    TAG_REQUEST,
    Ack,
    Assignment,
    Message,
    Receipt,
    Request,
    array_hash,
    check_signature,
    decode_array,
    encode_array,
    message_from_json,
    message_to_json,
    sign,
    signature_from_json,
    signature_to_json,
    signer,
)

MARKET = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER_MARKET = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
CONSUMER = Account.from_key(b"\x01" * 32)
VENDOR = Account.from_key(b"\x02" * 32)
HASH_A = keccak(b"a")
HASH_B = keccak(b"b")
HASH_C = keccak(b"c")

MESSAGES: list[Message] = [
    Request(api=3, epoch=2, consumer=CONSUMER.address, seq=1, input_hash=HASH_A, price=10**15),
    Assignment(
        api=3, epoch=2, consumer=CONSUMER.address, seq=1, component=1, slot=2, hash_in=HASH_A
    ),
    Receipt(
        api=3,
        epoch=2,
        consumer=CONSUMER.address,
        seq=1,
        component=1,
        slot=2,
        component_hash=HASH_C,
        hash_in=HASH_A,
        hash_out=HASH_B,
    ),
    Ack(api=3, epoch=2, consumer=CONSUMER.address, seq=1, output_hash=HASH_B),
]
IDS = [message.kind() for message in MESSAGES]

RECOVERER = """
# pragma version ~=0.4.3

TAG_REQUEST: constant(bytes32) = keccak256("mercato/api/request/v1")

@external
@pure
def request_digest(
    market: address, api: uint256, epoch: uint256, consumer: address, seq: uint256,
    input_hash: bytes32, price: uint256
) -> bytes32:
    return keccak256(abi_encode(TAG_REQUEST, market, api, epoch, consumer, seq, input_hash, price))

@external
@pure
def recover(digest: bytes32, signature: Bytes[65]) -> address:
    signed: bytes32 = keccak256(concat(b"\\x19Ethereum Signed Message:\\n32", digest))
    r: bytes32 = extract32(signature, 0)
    s: bytes32 = extract32(signature, 32)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    return ecrecover(signed, v, r, s)
"""


def _changed(value: object) -> object:
    """Return a different value of the same ABI type."""
    if isinstance(value, bytes):
        return keccak(value)
    if isinstance(value, str):
        return VENDOR.address if value != VENDOR.address else CONSUMER.address
    assert isinstance(value, int)
    return value + 1


def test_tags_are_the_hashes_of_their_names() -> None:
    # act
    tags = [TAG_REQUEST, TAG_ASSIGNMENT, TAG_RECEIPT, TAG_ACK]

    # assert
    assert tags[0] == keccak(b"mercato/api/request/v1")
    assert tags[3] == keccak(b"mercato/api/ack/v1")
    assert len(set(tags)) == 4


def test_request_digest_is_the_abi_encoding_of_tag_market_and_fields() -> None:
    # prepare
    request = MESSAGES[0]
    assert isinstance(request, Request)
    types = ["bytes32", "address", "uint256", "uint256", "address", "uint256", "bytes32"]
    values = [TAG_REQUEST, MARKET, 3, 2, CONSUMER.address, 1, HASH_A]

    # act
    digest = request.digest(MARKET)

    # assert
    assert digest == keccak(encode([*types, "uint256"], [*values, 10**15]))


@pytest.mark.parametrize("message", MESSAGES, ids=IDS)
def test_digest_changes_with_every_field_and_the_market(message: Message) -> None:
    # prepare
    digest = message.digest(MARKET)
    names = [item.name for item in dataclasses.fields(message)]

    # act
    changed = [
        dataclasses.replace(message, **{name: _changed(getattr(message, name))}).digest(MARKET)
        for name in names
    ]

    # assert
    assert digest not in changed
    assert len(set(changed)) == len(names)
    assert message.digest(OTHER_MARKET) != digest


def test_messages_with_equal_fields_but_another_kind_have_other_digests() -> None:
    # prepare
    ack = Ack(api=3, epoch=2, consumer=CONSUMER.address, seq=1, output_hash=HASH_A)
    request_like = keccak(
        encode(
            ["bytes32", "address", "uint256", "uint256", "address", "uint256", "bytes32"],
            [TAG_REQUEST, MARKET, 3, 2, CONSUMER.address, 1, HASH_A],
        )
    )

    # act
    digest = ack.digest(MARKET)

    # assert
    assert digest != request_like


@pytest.mark.parametrize("message", MESSAGES, ids=IDS)
def test_sign_then_recover_returns_the_signer(message: Message) -> None:
    # act
    signature = sign(message, MARKET, VENDOR.key)

    # assert
    assert len(signature) == 65
    assert signature[64] in (27, 28)
    assert signer(message, MARKET, signature) == VENDOR.address
    assert message.signer(MARKET, message.sign(MARKET, CONSUMER.key)) == CONSUMER.address


def test_a_signature_over_another_message_or_market_recovers_another_address() -> None:
    # prepare
    request = MESSAGES[0]
    assert isinstance(request, Request)
    signature = sign(request, MARKET, CONSUMER.key)
    altered = dataclasses.replace(request, price=1)

    # act
    from_altered = signer(altered, MARKET, signature)
    from_other_market = signer(request, OTHER_MARKET, signature)

    # assert
    assert from_altered != CONSUMER.address
    assert from_other_market != CONSUMER.address


def test_a_wrong_key_recovers_another_address() -> None:
    # prepare
    receipt = MESSAGES[2]

    # act
    signature = sign(receipt, MARKET, CONSUMER.key)

    # assert
    assert signer(receipt, MARKET, signature) == CONSUMER.address != VENDOR.address


@pytest.mark.parametrize(
    "signature",
    [b"", b"\x01" * 64, b"\x01" * 66, b"\x01" * 64 + b"\x00", b"\x00" * 64 + b"\x1b", "0x00"],
    ids=["empty", "short", "long", "v0", "zero-rs", "text"],
)
def test_a_malformed_signature_raises_input_error(signature: Any) -> None:
    # act / assert
    with pytest.raises(InputError, match="signature"):
        signer(MESSAGES[0], MARKET, signature)


def test_a_malformed_key_raises_input_error() -> None:
    # act / assert
    with pytest.raises(InputError, match="private key is malformed"):
        sign(MESSAGES[0], MARKET, b"\x00" * 3)


def test_a_bad_market_raises_input_error() -> None:
    # act / assert
    with pytest.raises(InputError, match="market must be an Ethereum address"):
        MESSAGES[0].digest("0x1234")


def test_signatures_survive_json() -> None:
    # prepare
    signature = sign(MESSAGES[1], MARKET, VENDOR.key)

    # act
    text = signature_to_json(signature)

    # assert
    assert signature_from_json(json.loads(json.dumps(text))) == signature
    with pytest.raises(InputError, match="130 hex digits"):
        signature_from_json(text[:-2])
    with pytest.raises(InputError, match="v must be 27 or 28"):
        check_signature(signature[:64] + b"\x01")


@pytest.mark.parametrize("message", MESSAGES, ids=IDS)
def test_messages_survive_json(message: Message) -> None:
    # act
    data = json.loads(json.dumps(message_to_json(message)))

    # assert
    assert type(message).from_json(message.to_json()) == message
    assert message_from_json(data) == message
    assert data["kind"] == message.kind()
    assert all(isinstance(value, int | str) for value in data.values())


def test_addresses_are_checksummed_and_hashes_plain_bytes() -> None:
    # prepare
    lower = CONSUMER.address.lower()
    hash_a: Any = bytearray(HASH_A)

    # act
    ack = Ack(api=0, epoch=0, consumer=lower, seq=1, output_hash=hash_a)

    # assert
    assert ack.consumer == CONSUMER.address
    assert type(ack.output_hash) is bytes
    assert ack == Ack(api=0, epoch=0, consumer=CONSUMER.address, seq=1, output_hash=HASH_A)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"seq": -1}, "request seq"),
        ({"seq": True}, "request seq"),
        ({"price": 2**256}, "request price"),
        ({"api": "3"}, "request api"),
        ({"consumer": "0x1234"}, "request consumer"),
        ({"consumer": "0x" + "Ab" * 20}, "request consumer"),
        ({"consumer": "ab" * 20}, "request consumer"),
        ({"input_hash": b"\x00" * 31}, "request input_hash"),
        ({"input_hash": "0x" + "00" * 32}, "request input_hash"),
    ],
)
def test_a_bad_field_raises_input_error_naming_it(changes: dict[str, Any], field: str) -> None:
    # prepare
    fields = {**MESSAGES[0].to_json(), "input_hash": HASH_A, **changes}

    # act / assert
    with pytest.raises(InputError, match=f"^{field} must be"):
        Request(**fields)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"input_hash": "0x1234"}, "request input_hash must be '0x' followed by 64 hex digits"),
        ({"input_hash": bytes(32).hex()}, "request input_hash must be '0x'"),
        ({"seq": "1"}, "request seq must be an integer"),
        ({"price": 1.5}, "request price must be an integer"),
        ({"consumer": 7}, "request consumer must be an Ethereum address"),
        ({"extra": 1}, "unknown extra"),
    ],
)
def test_bad_json_raises_input_error_naming_the_field(changes: dict[str, Any], match: str) -> None:
    # prepare
    data = {**MESSAGES[0].to_json(), **changes}

    # act / assert
    with pytest.raises(InputError, match=match):
        Request.from_json(data)


def test_json_with_a_missing_field_or_unknown_kind_raises_input_error() -> None:
    # prepare
    data = message_to_json(MESSAGES[3])
    del data["output_hash"]

    # act / assert
    with pytest.raises(InputError, match="missing output_hash"):
        message_from_json(data)
    with pytest.raises(InputError, match="needs a 'kind'"):
        message_from_json({**message_to_json(MESSAGES[3]), "kind": "invoice"})
    with pytest.raises(InputError, match="needs a 'kind'"):
        message_from_json({**message_to_json(MESSAGES[3]), "kind": ["ack"]})
    with pytest.raises(InputError, match="must be a JSON object"):
        Ack.from_json([1, 2])


def test_canonical_array_bytes_follow_the_spec() -> None:
    # prepare
    array = np.array([[1.5, 2.0, -3.0], [0.0, 4.0, 5.0]])

    # act
    data = encode_array(array)

    # assert
    assert data == b"mercato/array/v1\n<f8\n2,3\n" + array.astype("<f8").tobytes()
    assert array_hash(array) == keccak(data)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype="<i8").reshape(3, 4),
        np.arange(12, dtype=">i4").reshape(2, 2, 3),
        np.float32(2.5),
        np.zeros((0, 3)),
        np.array([True, False]),
        np.array([1 + 2j]),
        np.array(["cat", "dog"]),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    ],
    ids=["int64", "big-endian", "scalar", "empty", "bool", "complex", "text", "fortran"],
)
def test_arrays_round_trip_through_their_canonical_bytes(array: Any) -> None:
    # act
    decoded = decode_array(encode_array(array))

    # assert
    assert decoded.shape == np.shape(array)
    assert np.array_equal(decoded, array)
    assert not decoded.dtype.str.startswith(">")
    assert decoded.flags.writeable


def test_array_hash_depends_on_dtype_shape_and_values_but_not_byte_order() -> None:
    # prepare
    array = np.arange(6, dtype="<i8")

    # act
    hashes = {
        array_hash(array),
        array_hash(array.astype("<i4")),
        array_hash(array.reshape(2, 3)),
        array_hash(array + 1),
    }

    # assert
    assert len(hashes) == 4
    assert array_hash(array.astype(">i8")) == array_hash(array)
    assert array_hash(np.asfortranarray(array.reshape(2, 3))) == array_hash(array.reshape(2, 3))


@pytest.mark.parametrize(
    "array",
    [
        np.array([{"a": 1}], dtype=object),
        np.zeros(2, dtype=[("x", "<i4"), ("y", "<f8")]),
        None,
        np.array(["2026-12-04"], dtype="datetime64[D]"),
    ],
    ids=["object", "structured", "none", "datetime"],
)
def test_arrays_that_could_hide_code_or_fields_are_refused(array: Any) -> None:
    # act / assert
    with pytest.raises(InputError, match="cannot be hashed"):
        encode_array(array)


def test_a_ragged_list_is_not_an_array() -> None:
    # act / assert
    with pytest.raises(InputError, match=r"^not an array"):
        array_hash([[1.0], [1.0, 2.0]])


def _encoded(dtype: bytes, shape: bytes, body: bytes) -> bytes:
    return b"mercato/array/v1\n" + dtype + b"\n" + shape + b"\n" + body


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"numpy\n<f8\n1\n" + bytes(8), "must start with"),
        (b"mercato/array/v1\n<f8", "header is malformed"),
        (_encoded(b"|O", b"1", bytes(8)), "not a canonical little-endian dtype"),
        (_encoded(b">f8", b"1", bytes(8)), "not a canonical little-endian dtype"),
        (_encoded(b"f8", b"1", bytes(8)), "not a canonical little-endian dtype"),
        (_encoded(b"<x9", b"1", bytes(8)), "is not a dtype"),
        (_encoded(b"<f8" * 10, b"1", bytes(8)), "header is malformed"),
        (_encoded(b"<f8", b"01", bytes(8)), "not comma-separated sizes"),
        (_encoded(b"<f8", b"1,,2", bytes(16)), "not comma-separated sizes"),
        (_encoded(b"<f8", b"-1", bytes(8)), "not comma-separated sizes"),
        (_encoded(b"<f8", b"9" * 700, bytes(8)), "longer than"),
        (_encoded(b"<f8", b",".join([b"1"] * 40), bytes(8)), "at most 32"),
        (_encoded(b"<f8", b"2", bytes(8)), "needs 16 data bytes, got 8"),
        (_encoded(b"<f8", b"99999999999999999999", bytes(8)), "data bytes, got 8"),
    ],
    ids=[
        "magic",
        "truncated",
        "object",
        "big-endian",
        "unmarked",
        "unknown",
        "long-dtype",
        "leading-zero",
        "empty-size",
        "negative",
        "long-shape",
        "many-dims",
        "short-body",
        "absurd-size",
    ],
)
def test_bad_array_bytes_raise_input_error(data: bytes, match: str) -> None:
    # act / assert
    with pytest.raises(InputError, match=match):
        decode_array(data)


def test_a_pickle_is_not_an_array() -> None:
    # prepare
    import pickle

    data = pickle.dumps(np.array([{"a": 1}], dtype=object))

    # act / assert
    with pytest.raises(InputError, match="must start with"):
        decode_array(data)


@pytest.fixture(scope="module")
def recoverer() -> Any:
    """The on-chain digest and signature check, on titanoboa's in-process EVM."""
    boa = pytest.importorskip("boa")
    return boa.loads(RECOVERER)


def test_the_contract_computes_the_same_digest_and_recovers_the_signer(recoverer: Any) -> None:
    # prepare
    request = MESSAGES[0]
    assert isinstance(request, Request)
    signature = sign(request, MARKET, CONSUMER.key)

    # act
    digest = recoverer.request_digest(MARKET, *request.values())
    recovered = recoverer.recover(digest, signature)

    # assert
    assert digest == request.digest(MARKET)
    assert recovered == CONSUMER.address
    assert recoverer.recover(dataclasses.replace(request, seq=2).digest(MARKET), signature) != (
        CONSUMER.address
    )


LIGHT_PROGRAM = """
import json, sys
import mercato.protocols.apimarket.messages
import mercato.protocols.apimarket.records
heavy = {"vyper", "boa", "web3", "mercato.chain"}
loaded = {h for h in heavy for name in sys.modules if name == h or name.startswith(h + ".")}
print(json.dumps(sorted(loaded)))
"""


def test_importing_the_messages_loads_no_chain_client() -> None:
    # act
    result = subprocess.run(
        [sys.executable, "-c", LIGHT_PROGRAM],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    # assert
    assert json.loads(result.stdout) == []
