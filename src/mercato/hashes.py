"""32-byte hashes that read the same everywhere: on chain, in the blob store and on screen.

The contracts hold keccak256 hashes as ``bytes32``; the blob store names blobs by the same
hash written ``"0x" + 64 hex digits``. :class:`Hash` is the bytes a contract returns,
printed as that string, and every contract call takes either form.
"""

from __future__ import annotations

import re

from mercato.errors import InputError

HASH_BYTES = 32
_HEX = re.compile(r"0x[0-9a-fA-F]{64}")


class Hash(bytes):
    """A ``bytes32`` that prints as ``0x`` + hex (equal to, and usable as, plain bytes)."""

    def __new__(cls, value: bytes | str) -> Hash:
        if isinstance(value, str):
            if _HEX.fullmatch(value) is None:
                raise InputError(f"bad hash {value[:80]!r}: expected '0x' and 64 hex digits")
            return super().__new__(cls, bytes.fromhex(value[2:]))
        if len(value) != HASH_BYTES:
            raise InputError(f"a hash has {HASH_BYTES} bytes, got {len(value)}")
        return super().__new__(cls, value)

    def __str__(self) -> str:
        return "0x" + self.hex()

    def __repr__(self) -> str:
        return f"Hash('{self}')"
