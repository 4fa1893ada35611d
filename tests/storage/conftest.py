"""Fixtures for blob store tests: a real S3-compatible server (moto) on loopback."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mercato.storage import BlobStore, LocalBlobStore

LOOPBACK = "127.0.0.1"
S3_TEST_PREFIX = "blobs/test"
DUMMY_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # keep a developer's real AWS settings out of the tests
    "AWS_CONFIG_FILE": "/nonexistent/mercato-test-aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/mercato-test-aws-credentials",
}
UNSET_AWS_ENV = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


def free_port() -> int:
    """Return a TCP port on loopback that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """Run moto's S3-compatible server on loopback for the session; yield its URL."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as env:
        for name, value in DUMMY_AWS_ENV.items():
            env.setenv(name, value)
        for name in UNSET_AWS_ENV:
            env.delenv(name, raising=False)
        port = free_port()
        server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
        server.start()
        try:
            yield f"http://{LOOPBACK}:{port}"
        finally:
            server.stop()


def new_bucket_name() -> str:
    """Return a bucket name no other test uses."""
    return f"mercato-test-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def bucket_name() -> str:
    """A bucket name no other test uses."""
    return new_bucket_name()


@pytest.fixture
def dead_endpoint() -> str:
    """The URL of a loopback port on which nothing listens."""
    return f"http://{LOOPBACK}:{free_port()}"


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
