"""Model weights as bytes: a flat float vector behind a 16-byte header, so hashes are stable.

Layout (all little-endian)::

    offset 0   4 bytes   magic b"MCWT"
    offset 4   1 byte    format version (1)
    offset 5   1 byte    bytes per value: 4 (float32) or 8 (float64)
    offset 6   2 bytes   zero
    offset 8   8 bytes   number of values, unsigned
    offset 16  ...       the values, IEEE 754 little-endian

Equal vectors of equal dtype give equal bytes, so ``keccak(weights_to_bytes(w) || nonce)`` is
the model commitment a compute provider posts on chain.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mercato.errors import InputError

MAGIC = b"MCWT"
VERSION = 1
HEADER = struct.Struct("<4sBBxxQ")
MAX_WEIGHTS_BYTES = 256 * 1024 * 1024
Weights = NDArray[np.floating[Any]]

_DTYPES: dict[int, np.dtype[np.floating[Any]]] = {4: np.dtype("<f4"), 8: np.dtype("<f8")}


def weights_to_bytes(weights: Weights) -> bytes:
    """Serialise a 1-D float32 or float64 vector of finite values."""
    array = np.asarray(weights)
    if array.ndim != 1 or array.dtype not in (np.float32, np.float64):
        raise InputError(
            f"weights must be a 1-D float32 or float64 vector, got {array.dtype} {array.shape}"
        )
    if not np.isfinite(array).all():
        raise InputError("weights hold NaN or infinite values")
    dtype = _DTYPES[array.dtype.itemsize]
    return (
        HEADER.pack(MAGIC, VERSION, dtype.itemsize, len(array))
        + array.astype(dtype, copy=False).tobytes()
    )


def weights_from_bytes(data: bytes) -> Weights:
    """Read :func:`weights_to_bytes` output; raises InputError on anything else."""
    if not isinstance(data, bytes | bytearray) or len(data) < HEADER.size:
        raise InputError(f"weights: need at least a {HEADER.size}-byte header")
    if len(data) > MAX_WEIGHTS_BYTES:
        raise InputError(f"weights: larger than {MAX_WEIGHTS_BYTES} bytes")
    magic, version, itemsize, count = HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION:
        raise InputError(f"weights: not a {MAGIC.decode()} v{VERSION} vector")
    if itemsize not in _DTYPES:
        raise InputError(f"weights: {itemsize} bytes per value is neither 4 nor 8")
    if len(data) != HEADER.size + count * itemsize:
        raise InputError(
            f"weights: header promises {count} values of {itemsize} bytes, "
            f"body has {len(data) - HEADER.size} bytes"
        )
    array = np.frombuffer(bytes(data), dtype=_DTYPES[itemsize], offset=HEADER.size)
    if not np.isfinite(array).all():
        raise InputError("weights hold NaN or infinite values")
    native: Weights = array.astype(array.dtype.newbyteorder("="))
    return native
