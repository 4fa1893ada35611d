"""The blob store interface: content-addressed bytes, keyed by their keccak256 hash.

A blob's key is ``"0x" + 64 lowercase hex digits`` of keccak256(data), the same bytes32 the
chain records. Every store verifies the hash on read, so a corrupted or substituted blob is
never returned.
"""

from __future__ import annotations

import hmac
import os
import re
import threading
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from eth_hash.auto import keccak

from mercato.errors import ConfigError, InputError, IntegrityError, StorageError

HASH_PREFIX = "0x"
HASH_HEX_DIGITS = 64
S3_ENDPOINT_ENV = "MERCATO_S3_ENDPOINT"
"""Environment variable holding the S3 endpoint URL used by :func:`open_store`."""

_HASH_PATTERN = re.compile(r"0x[0-9a-f]{64}")
_unreachable = threading.local()


class StoreUnreachable(StorageError):
    """The blob store cannot be reached now (its server is down or does not answer in time):
    an outage to wait out, not a fault of the blob or of the caller.

    Each one raised is counted in its thread (:func:`unreachable_count`), so that an agent
    notices an outage even when a handler caught the error and carried on.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        _unreachable.count = unreachable_count() + 1


def unreachable_count() -> int:
    """How many :class:`StoreUnreachable` errors this thread has made so far."""
    count: int = getattr(_unreachable, "count", 0)
    return count


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed storage of immutable blobs."""

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its blob hash; storing the same bytes again is a no-op."""
        ...

    def get(self, blob_hash: str) -> bytes:
        """Return the blob; raise BlobNotFound if absent, IntegrityError if corrupted."""
        ...

    def has(self, blob_hash: str) -> bool:
        """Tell whether a blob is stored under ``blob_hash`` (without verifying it)."""
        ...

    def uri(self, blob_hash: str) -> str:
        """Return where the blob lives (``file:///...`` or ``s3://bucket/key``)."""
        ...


def blob_hash(data: bytes) -> str:
    """Return the blob hash of ``data``: ``"0x"`` + hex of keccak256(data)."""
    return HASH_PREFIX + keccak(data).hex()


def hash_hex(value: bytes) -> str:
    """A bytes32 from the chain as a blob hash string."""
    return HASH_PREFIX + bytes(value).hex()


def hash_bytes(blob_hash: str) -> bytes:
    """A blob hash string as the bytes32 the chain takes."""
    return bytes.fromhex(validate_blob_hash(blob_hash)[2:])


def validate_blob_hash(value: object) -> str:
    """Return ``value`` as a canonical (lowercase) blob hash, or raise InputError."""
    if not isinstance(value, str):
        raise InputError(
            f"blob hash must be a string like '0x' + {HASH_HEX_DIGITS} hex digits, "
            f"got {type(value).__name__}"
        )
    canonical = value.lower()
    if _HASH_PATTERN.fullmatch(canonical) is None:
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise InputError(
            f"bad blob hash {shown!r}: expected '0x' followed by {HASH_HEX_DIGITS} hex digits "
            "(the keccak256 of the blob)"
        )
    return canonical


def verify_blob(expected_hash: str, data: bytes) -> bytes:
    """Return ``data`` if it hashes to ``expected_hash``; raise IntegrityError otherwise."""
    actual = blob_hash(data)
    if not hmac.compare_digest(actual, expected_hash):
        raise IntegrityError(
            f"blob {expected_hash} is corrupted: its stored bytes hash to {actual}. "
            "Delete it and store the original again."
        )
    return data


def open_store(uri: str) -> BlobStore:
    """Open the blob store named by ``uri``: a folder path, ``file:///path`` or ``s3://bucket/prefix``.

    For ``s3://`` the endpoint comes from the ``MERCATO_S3_ENDPOINT`` environment variable if
    set (for MinIO, moto and other S3-compatible servers), else from boto3's usual settings.
    The bucket is not created here; call ``ensure_bucket()`` on the store once.
    """
    # Stores import this module, so they are imported here; s3 also pulls in boto3.
    if not uri:
        raise ConfigError("empty blob store URI: give a folder path, file:///path or s3://bucket")
    parts = urlsplit(uri)
    if parts.scheme == "s3":
        from mercato.storage.s3 import S3BlobStore

        if not parts.netloc:
            raise ConfigError(f"blob store URI {uri!r} names no bucket: use s3://bucket/prefix")
        return S3BlobStore(
            parts.netloc,
            prefix=parts.path.strip("/"),
            endpoint_url=os.environ.get(S3_ENDPOINT_ENV) or None,
        )

    from mercato.storage.local import LocalBlobStore

    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(
                f"blob store URI {uri!r} names host {parts.netloc!r}: file URIs must be local "
                "(file:///absolute/path)"
            )
        return LocalBlobStore(Path(url2pathname(unquote(parts.path))))
    if parts.scheme and len(parts.scheme) > 1:  # one letter is a Windows drive, a plain path
        raise ConfigError(
            f"unknown blob store scheme {parts.scheme!r} in {uri!r}: use a folder path, "
            "file:///path or s3://bucket/prefix"
        )
    return LocalBlobStore(Path(uri).expanduser())
