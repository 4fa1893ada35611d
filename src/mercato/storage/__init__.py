"""Content-addressed blob storage (local folder or S3) and sealed envelopes.

``S3BlobStore`` is loaded on first use, so importing this package does not import boto3.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato.storage.base import (
    BlobStore,
    blob_hash,
    open_store,
    validate_blob_hash,
    verify_blob,
)
from mercato.storage.envelope import (
    generate_keypair,
    open_envelope,
    public_key_of,
    recipient_count,
    seal,
)
from mercato.storage.local import LocalBlobStore

if TYPE_CHECKING:
    from mercato.storage.s3 import S3BlobStore

__all__ = [
    "BlobStore",
    "LocalBlobStore",
    "S3BlobStore",
    "blob_hash",
    "generate_keypair",
    "open_envelope",
    "open_store",
    "public_key_of",
    "recipient_count",
    "seal",
    "validate_blob_hash",
    "verify_blob",
]


def __getattr__(name: str) -> object:
    """Import ``S3BlobStore`` (and with it boto3) only when it is asked for."""
    if name == "S3BlobStore":
        from mercato.storage.s3 import S3BlobStore

        return S3BlobStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
