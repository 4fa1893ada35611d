"""A blob store in an S3-compatible bucket (AWS S3, MinIO, moto, ...), through boto3.

Objects are stored under ``<prefix>/<blob hash>``. Every botocore error is translated to a
Mercato error in :func:`_translate_errors`, the one place where boto3 calls are made: a server
that cannot be reached, does not answer in time or answers that it is unavailable (HTTP 5xx)
becomes :class:`~mercato.storage.base.StoreUnreachable`, an outage to wait out.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from mercato.errors import BlobNotFound, StorageError
from mercato.storage.base import StoreUnreachable, blob_hash, validate_blob_hash, verify_blob

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

DEFAULT_REGION = "us-east-1"
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_CONNECT_TIMEOUT_S = 10.0
DEFAULT_READ_TIMEOUT_S = 60.0
SERVER_ERROR_STATUS = 500
"""An answer with this HTTP status or above says the server cannot serve now."""

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_BUCKET_CODES = frozenset({"NoSuchBucket"})
_BUCKET_EXISTS_CODES = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})


class S3BlobStore:
    """Blobs as objects in ``bucket`` under ``prefix``.

    ``endpoint_url`` selects an S3-compatible server (path-style addressing is then used, as
    MinIO and moto expect); ``client`` replaces the boto3 client altogether.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        client: S3Client | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self._client: S3Client = client if client is not None else _make_client(endpoint_url)

    def __repr__(self) -> str:
        return f"S3BlobStore({self.bucket!r}, prefix={self.prefix!r})"

    def ensure_bucket(self) -> None:
        """Create the bucket unless it already exists."""
        with _translate_errors(f"bucket {self.bucket}"):
            try:
                self._client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if _error_code(exc) not in _NOT_FOUND_CODES | _NO_BUCKET_CODES:
                    raise
            region = self._client.meta.region_name or DEFAULT_REGION
            try:
                if region == DEFAULT_REGION:
                    self._client.create_bucket(Bucket=self.bucket)
                else:
                    # S3-compatible servers accept region names the stubs' Literal lacks
                    config: Any = {"LocationConstraint": region}
                    self._client.create_bucket(Bucket=self.bucket, CreateBucketConfiguration=config)
            except ClientError as exc:
                if _error_code(exc) not in _BUCKET_EXISTS_CODES:  # lost a creation race: fine
                    raise

    def put(self, data: bytes) -> str:
        """Store ``data`` and return its blob hash; an existing blob is not uploaded again."""
        key = blob_hash(data)
        if self.has(key):
            return key
        with _translate_errors(self.uri(key)):
            self._client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)
        return key

    def get(self, blob_hash: str) -> bytes:
        """Return the verified blob stored under ``blob_hash``."""
        key = validate_blob_hash(blob_hash)
        with _translate_errors(self.uri(key)):
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            data = response["Body"].read()
        return verify_blob(key, data)

    def has(self, blob_hash: str) -> bool:
        """Tell whether an object exists for ``blob_hash``."""
        key = validate_blob_hash(blob_hash)
        try:
            with _translate_errors(self.uri(key)):
                self._client.head_object(Bucket=self.bucket, Key=self._key(key))
        except BlobNotFound:
            return False
        return True

    def uri(self, blob_hash: str) -> str:
        """Return the blob's ``s3://bucket/key`` URI."""
        return f"s3://{self.bucket}/{self._key(validate_blob_hash(blob_hash))}"

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key


def _make_client(endpoint_url: str | None) -> S3Client:
    """Build a boto3 S3 client with bounded retries and timeouts."""
    config = Config(
        retries={"max_attempts": DEFAULT_MAX_ATTEMPTS, "mode": "standard"},
        connect_timeout=DEFAULT_CONNECT_TIMEOUT_S,
        read_timeout=DEFAULT_READ_TIMEOUT_S,
        s3={"addressing_style": "path"} if endpoint_url else None,
    )
    with _translate_errors("S3 client"):
        return boto3.client("s3", endpoint_url=endpoint_url, config=config)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _http_status(exc: ClientError) -> int:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status if isinstance(status, int) else 0


@contextmanager
def _translate_errors(what: str) -> Iterator[None]:
    """Turn botocore errors raised inside the block into StorageError or BlobNotFound."""
    try:
        yield
    except ClientError as exc:
        code = _error_code(exc)
        if code in _NOT_FOUND_CODES:
            raise BlobNotFound(f"no blob at {what}") from None
        if code in _NO_BUCKET_CODES:
            raise StorageError(
                f"{what}: the bucket does not exist; create it with ensure_bucket()"
            ) from exc
        if _http_status(exc) >= SERVER_ERROR_STATUS:
            raise StoreUnreachable(f"{what}: S3 is unavailable: {code or '(no code)'}") from exc
        raise StorageError(f"{what}: S3 error {code or '(no code)'}: {exc}") from exc
    except (BotoConnectionError, HTTPClientError) as exc:
        raise StoreUnreachable(f"{what}: cannot reach S3: {exc}") from exc
    except BotoCoreError as exc:
        raise StorageError(f"{what}: S3 failed: {exc}") from exc
