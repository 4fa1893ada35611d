"""Sealed envelopes: data encrypted for a set of secp256k1 public keys.

The plaintext is encrypted once with AES-256-GCM under a fresh random content key. The
content key is wrapped once per recipient: ECDH between a fresh ephemeral key and the
recipient's key, HKDF-SHA256 (info = label || ephemeral public key || recipient public key)
to a key-encryption key, and AES-256-GCM over the content key.

Byte format, version 1 (all integers big-endian)::

    offset  size   field
    0       4      magic b"MCEV"
    4       1      version = 1
    5       33     ephemeral public key, compressed SEC1
    38      2      n = number of recipients (1..65535)
    40      60*n   n slots: 12-byte nonce || 48-byte wrapped content key (32 + 16-byte tag)
    40+60n  12     content nonce
    52+60n  rest   AES-256-GCM ciphertext of the plaintext || 16-byte tag

The slots carry no recipient identifiers and are shuffled, so a recipient finds its slot by
trial decryption and learns only how many recipients there are. The content is
authenticated together with everything before it and the caller's associated data, so any
altered byte, a swapped slot or different associated data fails to open.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from mercato.errors import InputError, IntegrityError

MAGIC = b"MCEV"
VERSION = 1
HKDF_INFO_LABEL = b"mercato/envelope/v1"
PRIVATE_KEY_SIZE = 32
PUBLIC_KEY_SIZE = 33
KEY_SIZE = 32  # AES-256
NONCE_SIZE = 12
TAG_SIZE = 16
WRAPPED_KEY_SIZE = KEY_SIZE + TAG_SIZE
SLOT_SIZE = NONCE_SIZE + WRAPPED_KEY_SIZE
MAX_RECIPIENTS = 0xFFFF

_COUNT = struct.Struct(">H")
_PREAMBLE_SIZE = len(MAGIC) + 1 + PUBLIC_KEY_SIZE  # magic, version, ephemeral key
_HEADER_FIXED_SIZE = _PREAMBLE_SIZE + _COUNT.size
_CURVE = ec.SECP256K1()


def generate_keypair() -> tuple[bytes, bytes]:
    """Return a new (32-byte private key, 33-byte compressed public key) pair."""
    private = ec.generate_private_key(_CURVE)
    return _private_bytes(private), _public_bytes(private.public_key())


def public_key_of(private_key: bytes) -> bytes:
    """Return the 33-byte compressed public key of a 32-byte secp256k1 private key.

    An Ethereum account key works too: the result is the key a participant registers on chain.
    """
    return _public_bytes(_load_private(private_key).public_key())


def seal(plaintext: bytes, recipients: Sequence[bytes], associated_data: bytes = b"") -> bytes:
    """Encrypt ``plaintext`` so that each recipient's private key, and only those, can open it.

    ``associated_data`` is authenticated, not encrypted, and must be given again to open.
    A key listed twice gets one slot (one address may hold several roles).
    """
    keys = list(dict.fromkeys(_check_public_bytes(key) for key in recipients))
    if not keys:
        raise InputError("seal needs at least one recipient public key")
    if len(keys) > MAX_RECIPIENTS:
        raise InputError(f"an envelope holds at most {MAX_RECIPIENTS} recipients, got {len(keys)}")
    ephemeral = ec.generate_private_key(_CURVE)
    ephemeral_public = _public_bytes(ephemeral.public_key())
    preamble = MAGIC + bytes([VERSION]) + ephemeral_public
    content_key = AESGCM.generate_key(bit_length=KEY_SIZE * 8)

    slots = []
    for key in keys:
        kek = _derive_kek(ephemeral, ephemeral_public, _load_public(key), key)
        nonce = secrets.token_bytes(NONCE_SIZE)
        slots.append(nonce + AESGCM(kek).encrypt(nonce, content_key, preamble))
    secrets.SystemRandom().shuffle(slots)  # slot order must not reveal the recipient order

    header = preamble + _COUNT.pack(len(slots)) + b"".join(slots)
    nonce = secrets.token_bytes(NONCE_SIZE)
    ciphertext = AESGCM(content_key).encrypt(nonce, plaintext, header + associated_data)
    return header + nonce + ciphertext


def open_envelope(envelope: bytes, private_key: bytes, associated_data: bytes = b"") -> bytes:
    """Decrypt an envelope with one recipient's private key; raise IntegrityError if it cannot."""
    private = _load_private(private_key)
    own_public = _public_bytes(private.public_key())
    header, body = _split(envelope)
    preamble = header[:_PREAMBLE_SIZE]
    ephemeral_public = preamble[len(MAGIC) + 1 :]
    try:
        ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, ephemeral_public)
    except ValueError:
        raise IntegrityError(
            "envelope is corrupted: its ephemeral key is not a curve point"
        ) from None
    kek = AESGCM(_derive_kek(private, ephemeral_public, ephemeral, own_public))

    content_key: bytes | None = None
    for start in range(_HEADER_FIXED_SIZE, len(header), SLOT_SIZE):
        nonce = header[start : start + NONCE_SIZE]
        wrapped = header[start + NONCE_SIZE : start + SLOT_SIZE]
        try:
            content_key = kek.decrypt(nonce, wrapped, preamble)
            break
        except InvalidTag:
            continue
    if content_key is None:
        raise IntegrityError(
            "cannot open envelope: this key is not one of its recipients, "
            "or the envelope was altered"
        )
    try:
        return AESGCM(content_key).decrypt(
            body[:NONCE_SIZE], body[NONCE_SIZE:], header + associated_data
        )
    except InvalidTag:
        raise IntegrityError(
            "cannot open envelope: its ciphertext or the associated data "
            "does not match what was sealed"
        ) from None


def recipient_count(envelope: bytes) -> int:
    """Return how many recipients an envelope was sealed for."""
    header, _ = _split(envelope)
    return (len(header) - _HEADER_FIXED_SIZE) // SLOT_SIZE


def _split(envelope: bytes) -> tuple[bytes, bytes]:
    """Check the framing of an envelope and return (header, content nonce || ciphertext)."""
    if not isinstance(envelope, bytes | bytearray | memoryview):
        raise InputError(f"envelope must be bytes, got {type(envelope).__name__}")
    envelope = bytes(envelope)
    if len(envelope) < _HEADER_FIXED_SIZE or envelope[: len(MAGIC)] != MAGIC:
        raise IntegrityError("not a Mercato envelope: missing or wrong magic bytes")
    version = envelope[len(MAGIC)]
    if version != VERSION:
        raise IntegrityError(
            f"unsupported envelope version {version}: this Mercato reads {VERSION}"
        )
    (count,) = _COUNT.unpack_from(envelope, _PREAMBLE_SIZE)
    header_size = _HEADER_FIXED_SIZE + count * SLOT_SIZE
    if count == 0 or len(envelope) < header_size + NONCE_SIZE + TAG_SIZE:
        raise IntegrityError(
            "envelope is truncated or corrupted: fewer bytes than its header declares"
        )
    return envelope[:header_size], envelope[header_size:]


def _derive_kek(
    private: ec.EllipticCurvePrivateKey,
    ephemeral_public: bytes,
    peer: ec.EllipticCurvePublicKey,
    recipient_public: bytes,
) -> bytes:
    """Derive the key-encryption key shared by the ephemeral key and one recipient."""
    shared = private.exchange(ec.ECDH(), peer)
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_SIZE,
        salt=None,
        info=HKDF_INFO_LABEL + ephemeral_public + recipient_public,
    )
    return hkdf.derive(shared)


def _check_public_bytes(key: bytes) -> bytes:
    """Return ``key`` as bytes if it is a 33-byte compressed SEC1 point, else raise InputError."""
    if not isinstance(key, bytes | bytearray | memoryview):
        raise InputError(f"recipient public key must be bytes, got {type(key).__name__}")
    key = bytes(key)
    if len(key) != PUBLIC_KEY_SIZE or key[0] not in (2, 3):
        raise InputError(
            f"recipient public key must be {PUBLIC_KEY_SIZE}-byte compressed SEC1 "
            f"(0x02 or 0x03 then 32 bytes), got {len(key)} bytes"
            + (" starting 0x04: compress it first" if key[:1] == b"\x04" else "")
        )
    return key


def _load_public(key: bytes) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(_CURVE, key)
    except ValueError:
        raise InputError(
            f"recipient public key 0x{key.hex()} is not a point on secp256k1"
        ) from None


def _load_private(private_key: bytes) -> ec.EllipticCurvePrivateKey:
    if not isinstance(private_key, bytes | bytearray) or len(private_key) != PRIVATE_KEY_SIZE:
        raise InputError(f"private key must be {PRIVATE_KEY_SIZE} bytes")
    try:
        return ec.derive_private_key(int.from_bytes(private_key, "big"), _CURVE)
    except ValueError:
        raise InputError("private key is out of range for secp256k1") from None


def _private_bytes(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_numbers().private_value.to_bytes(PRIVATE_KEY_SIZE, "big")


def _public_bytes(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
