"""Content-addressed blob storage (local folder or S3) and sealed envelopes.

Every name is loaded on first use, so importing this package imports neither boto3 nor the
cryptography behind envelopes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato._lazy import lazy_package

if TYPE_CHECKING:
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

lazy_package(
    __name__,
    {
        "BlobStore": "base",
        "LocalBlobStore": "local",
        "S3BlobStore": "s3",
        "blob_hash": "base",
        "generate_keypair": "envelope",
        "open_envelope": "envelope",
        "open_store": "base",
        "public_key_of": "envelope",
        "recipient_count": "envelope",
        "seal": "envelope",
        "validate_blob_hash": "base",
        "verify_blob": "base",
    },
)
