"""Blobs as an auditor reads them: the blob a bytes32 on chain names, or why it cannot be had."""

from __future__ import annotations

from dataclasses import dataclass

from mercato.errors import BlobNotFound, IntegrityError
from mercato.storage.base import BlobStore, hash_hex


@dataclass(frozen=True)
class Opened:
    """A blob (opened with the viewer's key where sealed), or why not."""

    content: bytes | None
    problem: str = ""


def fetch(store: BlobStore, value: bytes) -> Opened:
    """The blob named by ``value`` (a bytes32 from the chain), or why it cannot be had:
    missing from the store, or not the bytes its hash names."""
    blob_hash = hash_hex(bytes(value))
    try:
        return Opened(store.get(blob_hash))
    except BlobNotFound:
        return Opened(None, f"the store has no blob {blob_hash}")
    except IntegrityError as exc:
        return Opened(None, f"blob {blob_hash} is corrupt: {exc}")
