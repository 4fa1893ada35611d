"""S3BlobStore specifics, against moto's S3-compatible server on loopback."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest

from mercato.errors import StorageError
from mercato.storage import blob_hash, open_store
from mercato.storage.base import S3_ENDPOINT_ENV
from mercato.storage.s3 import S3BlobStore


def test_ensure_bucket_creates_it_once(s3_endpoint: str, bucket_name: str) -> None:
    # prepare
    store = S3BlobStore(bucket_name, endpoint_url=s3_endpoint)

    # act
    store.ensure_bucket()
    store.ensure_bucket()

    # assert
    buckets = boto3.client("s3", endpoint_url=s3_endpoint).list_buckets()["Buckets"]
    assert bucket_name in [bucket["Name"] for bucket in buckets]


def test_objects_live_under_the_prefix(s3_endpoint: str, bucket_name: str) -> None:
    # prepare
    store = S3BlobStore(bucket_name, prefix="/team/blobs/", endpoint_url=s3_endpoint)
    store.ensure_bucket()

    # act
    key = store.put(b"over http")

    # assert
    listing = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket=bucket_name)
    assert [item["Key"] for item in listing["Contents"]] == [f"team/blobs/{key}"]
    assert store.uri(key) == f"s3://{bucket_name}/team/blobs/{key}"


def test_missing_bucket_says_to_create_it(s3_endpoint: str, bucket_name: str) -> None:
    # prepare
    store = S3BlobStore(bucket_name, endpoint_url=s3_endpoint)

    # act / assert
    with pytest.raises(StorageError, match="ensure_bucket"):
        store.put(b"nowhere to go")


def test_unreachable_endpoint_raises_storage_error(s3_endpoint: str, dead_endpoint: str) -> None:
    # prepare: s3_endpoint only supplies the dummy credentials
    store = S3BlobStore("any-bucket", endpoint_url=dead_endpoint)

    # act / assert
    with pytest.raises(StorageError, match="cannot reach S3"):
        store.get(blob_hash(b"x"))


def test_open_store_reads_endpoint_from_environment(
    s3_endpoint: str, bucket_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prepare
    monkeypatch.setenv(S3_ENDPOINT_ENV, s3_endpoint)
    bucket = bucket_name

    # act
    store = open_store(f"s3://{bucket}/run-7")
    assert isinstance(store, S3BlobStore)
    store.ensure_bucket()
    key = store.put(b"via uri")

    # assert
    assert store.get(key) == b"via uri"
    assert store.uri(key) == f"s3://{bucket}/run-7/{key}"


def test_importing_storage_does_not_import_boto3() -> None:
    # act
    result = subprocess.run(
        [sys.executable, "-c", "import sys, mercato.storage; print('boto3' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    )

    # assert
    assert result.stdout.strip() == "False"
