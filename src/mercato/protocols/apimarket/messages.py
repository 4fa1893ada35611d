"""The signed messages of P5 (request, assignment, receipt, ack) and the hash of an array.

Each message is a frozen dataclass of ABI words: ``int`` fields are ``uint256``, ``str``
fields checksummed ``address`` and ``bytes`` fields 32-byte ``bytes32`` hashes. Its digest is
``keccak256(abi_encode(TAG, market, fields...))`` with ``TAG = keccak256(b"mercato/api/<name>/v1")``
and ``market`` the ApiMarket contract's address; a party signs the digest with EIP-191
personal_sign, so the contract recovers the signer with::

    ecrecover(keccak256(concat(b"\\x19Ethereum Signed Message:\\n32", digest)), v, r, s)

Signatures are 65 bytes ``r || s || v`` with ``v`` 27 or 28. The module imports no chain
client, so the HTTP services and the agents load it cheaply.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import numpy as np
from eth_abi.abi import encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.address import is_address, to_checksum_address
from eth_utils.exceptions import ValidationError
from numpy.typing import ArrayLike, NDArray

from mercato.crypto.commit import HASH_SIZE, keccak
from mercato.errors import InputError

TAG_REQUEST = keccak(b"mercato/api/request/v1")
TAG_ASSIGNMENT = keccak(b"mercato/api/assignment/v1")
TAG_RECEIPT = keccak(b"mercato/api/receipt/v1")
TAG_ACK = keccak(b"mercato/api/ack/v1")

SIGNATURE_SIZE = 65
SIGNATURE_V = (27, 28)
UINT256_MAX = 2**256 - 1

ARRAY_MAGIC = b"mercato/array/v1\n"
ARRAY_KINDS = "biufcSU"
"""dtype kinds an array may have: bool, integers, floats, complex, fixed-width text."""
MAX_DTYPE_CHARS = 16
MAX_NDIM = 32
MAX_SHAPE_CHARS = 640

_ABI_TYPES = {"int": "uint256", "str": "address", "bytes": "bytes32"}
_HEX_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_HEX_SIGNATURE = re.compile(r"0x[0-9a-fA-F]{130}")
_SHAPE = re.compile(r"(0|[1-9][0-9]*)(,(0|[1-9][0-9]*))*")


@dataclass(frozen=True)
class AbiRecord:
    """A frozen record of ABI words, checked and normalised on construction.

    Subclasses declare ``int`` (uint256), ``str`` (address) and ``bytes`` (bytes32) fields;
    the declared type is the ABI type, so the field order is the encoding order.
    """

    def __post_init__(self) -> None:
        kind = self.kind()
        for item in dataclasses.fields(self):
            value = check_word(f"{kind} {item.name}", abi_type(item.type), getattr(self, item.name))
            object.__setattr__(self, item.name, value)  # frozen: normalise once, here

    @classmethod
    def kind(cls) -> str:
        """The record's name in messages: the class name in lower case."""
        return cls.__name__.lower()

    @classmethod
    def abi_types(cls) -> list[str]:
        """The ABI types of the fields, in order."""
        return [abi_type(item.type) for item in dataclasses.fields(cls)]

    def values(self) -> list[Any]:
        """The field values, in order."""
        return [getattr(self, item.name) for item in dataclasses.fields(self)]

    def to_json(self) -> dict[str, int | str]:
        """Return the record as JSON-ready data: ints stay ints, hashes become ``0x`` hex."""
        return {
            item.name: _json_word(getattr(self, item.name)) for item in dataclasses.fields(self)
        }

    @classmethod
    def from_json(cls, data: object) -> Self:
        """Rebuild a record from :meth:`to_json` output; raise InputError naming a bad field."""
        kind = cls.kind()
        if not isinstance(data, dict):
            raise InputError(f"a {kind} must be a JSON object, got {type(data).__name__}")
        names = [item.name for item in dataclasses.fields(cls)]
        missing = [name for name in names if name not in data]
        unknown = sorted(str(key) for key in data if key not in names)
        if missing or unknown:
            raise InputError(
                f"a {kind} needs exactly the fields {', '.join(names)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        values = {
            item.name: _parse_json_word(f"{kind} {item.name}", abi_type(item.type), data[item.name])
            for item in dataclasses.fields(cls)
        }
        return cls(**values)


@dataclass(frozen=True)
class Message(AbiRecord):
    """A P5 message that one party signs: its digest binds a tag, the market and the fields."""

    TAG: ClassVar[bytes]

    def digest(self, market: str) -> bytes:
        """Return ``keccak256(abi_encode(TAG, market, fields...))``, what gets signed."""
        market = check_word("market", "address", market)
        types = ["bytes32", "address", *self.abi_types()]
        return keccak(encode(types, [self.TAG, market, *self.values()]))

    def sign(self, market: str, private_key: bytes | str) -> bytes:
        """Sign this message for ``market``; see :func:`sign`."""
        return sign(self, market, private_key)

    def signer(self, market: str, signature: bytes) -> str:
        """Return who signed this message for ``market``; see :func:`signer`."""
        return signer(self, market, signature)


@dataclass(frozen=True)
class Request(Message):
    """A consumer's call: its ``seq``-th call to ``api`` in ``epoch``, at ``price``."""

    TAG: ClassVar[bytes] = TAG_REQUEST
    api: int
    epoch: int
    consumer: str
    seq: int
    input_hash: bytes
    price: int


@dataclass(frozen=True)
class Assignment(Message):
    """The orchestrator's order to ``slot``'s vendor: run ``component`` of a call on ``hash_in``."""

    TAG: ClassVar[bytes] = TAG_ASSIGNMENT
    api: int
    epoch: int
    consumer: str
    seq: int
    component: int
    slot: int
    hash_in: bytes


@dataclass(frozen=True)
class Receipt(Message):
    """A vendor's word: it ran the component ``component_hash`` from ``hash_in`` to ``hash_out``."""

    TAG: ClassVar[bytes] = TAG_RECEIPT
    api: int
    epoch: int
    consumer: str
    seq: int
    component: int
    slot: int
    component_hash: bytes
    hash_in: bytes
    hash_out: bytes


@dataclass(frozen=True)
class Ack(Message):
    """A consumer's acknowledgement of the output it received for a call."""

    TAG: ClassVar[bytes] = TAG_ACK
    api: int
    epoch: int
    consumer: str
    seq: int
    output_hash: bytes


MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.kind(): cls for cls in (Request, Assignment, Receipt, Ack)
}


def sign(message: Message, market: str, private_key: bytes | str) -> bytes:
    """Return the 65-byte EIP-191 signature (``r || s || v``, v 27/28) of the message's digest."""
    digest = message.digest(market)
    try:
        account = Account.from_key(private_key)
    except (ValueError, TypeError, ValidationError):
        raise InputError("private key is malformed: expected 32 bytes or 64 hex digits") from None
    return bytes(account.sign_message(encode_defunct(primitive=digest)).signature)


def signer(message: Message, market: str, signature: bytes) -> str:
    """Return the checksummed address that signed ``message`` for ``market``.

    Any well-formed signature recovers some address, so compare the result with the party
    expected; a malformed signature raises InputError.
    """
    signature = check_signature(signature)
    digest = message.digest(market)
    try:
        return str(Account.recover_message(encode_defunct(primitive=digest), signature=signature))
    except (BadSignature, ValidationError, ValueError):
        raise InputError("signature is malformed: no signer can be recovered") from None


def check_signature(signature: object) -> bytes:
    """Return ``signature`` as bytes if it has the shape the contract takes (65 bytes, v 27/28)."""
    if not isinstance(signature, bytes | bytearray):
        got = type(signature).__name__
        raise InputError(f"signature must be {SIGNATURE_SIZE} bytes, got {got}")
    if len(signature) != SIGNATURE_SIZE:
        raise InputError(f"signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}")
    if signature[-1] not in SIGNATURE_V:
        raise InputError(f"signature v must be 27 or 28, got {signature[-1]}")
    return bytes(signature)


def signature_to_json(signature: bytes) -> str:
    """Return a signature as ``0x`` + 130 hex digits."""
    return "0x" + check_signature(signature).hex()


def signature_from_json(value: object) -> bytes:
    """Parse :func:`signature_to_json` output; raise InputError if malformed."""
    if not isinstance(value, str) or _HEX_SIGNATURE.fullmatch(value) is None:
        raise InputError("signature must be '0x' followed by 130 hex digits")
    return check_signature(bytes.fromhex(value[2:]))


def message_to_json(message: Message) -> dict[str, int | str]:
    """Return a message as JSON-ready data with its ``kind`` (request, assignment, ...)."""
    return {"kind": message.kind(), **message.to_json()}


def message_from_json(data: object) -> Message:
    """Rebuild any message from :func:`message_to_json` output; raise InputError if malformed."""
    kind = data.get("kind") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(kind, str) or kind not in MESSAGE_TYPES:
        raise InputError(f"a message needs a 'kind' among {', '.join(MESSAGE_TYPES)}")
    fields = {key: value for key, value in data.items() if key != "kind"}
    return MESSAGE_TYPES[kind].from_json(fields)


def encode_array(array: ArrayLike) -> bytes:
    """Return the canonical bytes of an array: magic, dtype, shape, then its C-order bytes.

    ``b"mercato/array/v1\\n" + dtype.str + b"\\n" + "d0,d1,..." + b"\\n" + data``, with
    multi-byte dtypes little-endian (``<f8``) so that equal arrays give equal bytes on any
    machine. Object, structured and time dtypes are refused.
    """
    try:
        values = np.asarray(array)
    except (ValueError, TypeError) as exc:
        raise InputError(f"not an array: {str(exc).splitlines()[0]}") from None
    dtype = values.dtype
    if dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise InputError(f"arrays of dtype {dtype} cannot be hashed: use numbers, bools or text")
    if dtype.str.startswith(">"):
        dtype = dtype.newbyteorder("<")
        values = values.astype(dtype)
    shape = ",".join(str(size) for size in values.shape)
    header = ARRAY_MAGIC + dtype.str.encode() + b"\n" + shape.encode() + b"\n"
    return header + np.ascontiguousarray(values).tobytes()


def decode_array(data: bytes) -> NDArray[Any]:
    """Read an array back from :func:`encode_array` bytes; only raw numbers are parsed."""
    if not isinstance(data, bytes | bytearray) or not data.startswith(ARRAY_MAGIC):
        raise InputError("not an encoded array: it must start with 'mercato/array/v1'")
    parts = bytes(data[len(ARRAY_MAGIC) :]).split(b"\n", 2)
    if len(parts) != 3 or len(parts[0]) > MAX_DTYPE_CHARS:
        raise InputError("encoded array header is malformed: expected a dtype and a shape line")
    dtype_text, shape_text, body = parts
    dtype = _parse_dtype(dtype_text)
    if len(shape_text) > MAX_SHAPE_CHARS:
        raise InputError(f"encoded array shape line is longer than {MAX_SHAPE_CHARS} characters")
    if shape_text and _SHAPE.fullmatch(shape_text.decode("ascii", "replace")) is None:
        raise InputError(f"encoded array shape {shape_text[:40]!r} is not comma-separated sizes")
    shape = tuple(int(size) for size in shape_text.split(b",")) if shape_text else ()
    if len(shape) > MAX_NDIM:
        raise InputError(f"encoded array has {len(shape)} dimensions; at most {MAX_NDIM} are read")
    expected = dtype.itemsize * _product(shape)
    if len(body) != expected:
        raise InputError(
            f"encoded array of shape {shape} and dtype {dtype.str} needs {expected} data bytes, "
            f"got {len(body)}"
        )
    return np.frombuffer(body, dtype=dtype).reshape(shape).copy()


def array_hash(array: ArrayLike) -> bytes:
    """Return the 32-byte keccak256 of :func:`encode_array` bytes: a call's input or output hash."""
    return keccak(encode_array(array))


def abi_type(annotation: object) -> str:
    """Return the ABI type of a record field declared ``int``, ``str`` or ``bytes``."""
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    if name not in _ABI_TYPES:
        raise TypeError(f"record fields are int, str or bytes, not {annotation!r}")
    return _ABI_TYPES[name]


def check_word(name: str, kind: str, value: object) -> Any:
    """Return ``value`` checked and normalised as an ABI word of type ``kind``.

    ``uint256``: an int in range (not a bool); ``address``: an address string, returned
    checksummed; ``bytes32``: 32 bytes, returned as plain bytes.
    """
    if kind == "uint256":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= UINT256_MAX:
            raise InputError(f"{name} must be an integer from 0 to 2**256 - 1, got {value!r}")
        return value
    if kind == "address":
        if not isinstance(value, str) or not value.startswith("0x") or not is_address(value):
            raise InputError(f"{name} must be an Ethereum address, got {_shown(value)}")
        checksummed = to_checksum_address(value)
        digits = value[2:]
        if digits not in (digits.lower(), digits.upper()) and value != checksummed:
            raise InputError(
                f"{name} must be an Ethereum address, got {value} whose checksum is wrong "
                f"(a typo?): write it in lower case or as {checksummed}"
            )
        return checksummed
    if kind == "bytes32":
        if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
            got = f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else _shown(value)
            raise InputError(f"{name} must be a {HASH_SIZE}-byte hash, got {got}")
        return bytes(value)
    raise TypeError(f"unknown ABI word type {kind!r}")


def _json_word(value: object) -> int | str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    assert isinstance(value, int | str)
    return value


def _parse_json_word(name: str, kind: str, value: object) -> Any:
    if kind == "bytes32":
        if not isinstance(value, str) or _HEX_HASH.fullmatch(value) is None:
            raise InputError(f"{name} must be '0x' followed by 64 hex digits, got {_shown(value)}")
        return bytes.fromhex(value[2:])
    return check_word(name, kind, value)


def _parse_dtype(text: bytes) -> np.dtype[Any]:
    try:
        dtype = np.dtype(text.decode("ascii"))
    except (UnicodeDecodeError, TypeError, ValueError):
        raise InputError(f"encoded array dtype {text!r} is not a dtype") from None
    canonical = dtype.kind in ARRAY_KINDS and dtype.fields is None and dtype.subdtype is None
    if not canonical or dtype.str.startswith(">") or dtype.str.encode() != text:
        raise InputError(f"encoded array dtype {text!r} is not a canonical little-endian dtype")
    return dtype


def _product(shape: tuple[int, ...]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
