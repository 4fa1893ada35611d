"""Fixtures for blob store tests: a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from mercato.storage import BlobStore, LocalBlobStore

S3_TEST_PREFIX = "blobs/test"


def new_bucket_name() -> str:
    """Return a bucket name no other test uses."""
    return f"mercato-test-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def bucket_name() -> str:
    """A bucket name no other test uses."""
    return new_bucket_name()


@dataclass(frozen=True)
class Backend:
    """A blob store under test plus a way to damage what it holds."""

    name: str
    store: BlobStore
    overwrite: Callable[[str, bytes], None]
    """Replace the stored bytes of a blob behind the store's back."""


def _local_backend(root: Path) -> Backend:
    store = LocalBlobStore(root)

    def overwrite(blob_hash: str, data: bytes) -> None:
        path = root / blob_hash[2:4] / blob_hash
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return Backend("local", store, overwrite)


def _s3_backend(endpoint: str) -> Backend:
    import boto3

    from mercato.storage.s3 import S3BlobStore

    store = S3BlobStore(new_bucket_name(), prefix=S3_TEST_PREFIX, endpoint_url=endpoint)
    store.ensure_bucket()
    raw = boto3.client("s3", endpoint_url=endpoint)

    def overwrite(blob_hash: str, data: bytes) -> None:
        raw.put_object(Bucket=store.bucket, Key=f"{S3_TEST_PREFIX}/{blob_hash}", Body=data)

    return Backend("s3", store, overwrite)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """Each blob store implementation in turn: a local folder, then S3 on moto."""
    if request.param == "local":
        return _local_backend(tmp_path / "blobs")
    return _s3_backend(request.getfixturevalue("s3_endpoint"))


@pytest.fixture
def store(backend: Backend) -> BlobStore:
    """The blob store of :func:`backend`."""
    return backend.store
