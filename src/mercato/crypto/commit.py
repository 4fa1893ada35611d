"""Hash + nonce commitments: ``keccak256(data || nonce)`` with a 32-byte random nonce.

The nonce has a fixed size so that ``data || nonce`` can be split only one way: with a
variable nonce, ``commit(b"ab", b"c")`` would equal ``commit(b"a", b"bc")``. A contract
recomputes the same value with ``keccak256(concat(data, nonce))``.
"""

from __future__ import annotations

import hmac
import secrets

from eth_hash.auto import keccak as _keccak

from mercato.errors import InputError

NONCE_SIZE = 32
HASH_SIZE = 32


def keccak(data: bytes) -> bytes:
    """Return the 32-byte keccak256 digest of ``data`` (Ethereum's hash, not SHA3-256)."""
    return _keccak(data)


def new_nonce() -> bytes:
    """Return a fresh 32-byte nonce from the operating system's CSPRNG."""
    return secrets.token_bytes(NONCE_SIZE)


def commit(data: bytes, nonce: bytes) -> bytes:
    """Return the 32-byte commitment ``keccak256(data || nonce)``."""
    _check_size("nonce", nonce, NONCE_SIZE)
    return keccak(data + nonce)


def verify_commitment(commitment: bytes, data: bytes, nonce: bytes) -> bool:
    """Tell whether ``commitment`` opens to ``data`` with ``nonce``."""
    _check_size("commitment", commitment, HASH_SIZE)
    return hmac.compare_digest(commit(data, nonce), commitment)


def _check_size(name: str, value: bytes, size: int) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != size:
        got = (
            f"{len(value)} bytes" if isinstance(value, bytes | bytearray) else type(value).__name__
        )
        raise InputError(f"{name} must be {size} bytes, got {got}")
