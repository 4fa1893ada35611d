"""LocalBlobStore specifics: layout, atomic writes, and open_store for folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mercato.errors import ConfigError, StorageError
from mercato.storage import LocalBlobStore, blob_hash, open_store
from mercato.storage.local import TEMP_PREFIX


def _all_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


def test_blob_lands_in_fanout_directory(tmp_path: Path) -> None:
    # prepare
    store = LocalBlobStore(tmp_path / "blobs")

    # act
    key = store.put(b"fan out")

    # assert
    assert _all_files(tmp_path) == [tmp_path / "blobs" / key[2:4] / key]


def test_put_leaves_no_temporary_files(tmp_path: Path) -> None:
    # prepare
    store = LocalBlobStore(tmp_path)

    # act
    for index in range(5):
        store.put(f"blob {index}".encode())

    # assert
    assert not [path for path in _all_files(tmp_path) if path.name.startswith(TEMP_PREFIX)]


def test_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prepare
    store = LocalBlobStore(tmp_path)

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)

    # act
    with pytest.raises(StorageError, match="disk full"):
        store.put(b"never lands")

    # assert
    assert _all_files(tmp_path) == []
    assert not store.has(blob_hash(b"never lands"))


def test_put_repairs_a_truncated_blob(tmp_path: Path) -> None:
    # prepare
    store = LocalBlobStore(tmp_path)
    key = store.put(b"complete blob")
    (tmp_path / key[2:4] / key).write_bytes(b"compl")

    # act
    store.put(b"complete blob")

    # assert
    assert store.get(key) == b"complete blob"


def test_uri_is_an_absolute_file_uri(tmp_path: Path) -> None:
    # prepare
    store = LocalBlobStore(tmp_path)
    key = store.put(b"x")

    # act
    uri = store.uri(key)

    # assert
    assert uri == (tmp_path / key[2:4] / key).as_uri()


@pytest.mark.parametrize("as_uri", [True, False], ids=["file-uri", "plain-path"])
def test_open_store_maps_folders_to_local_store(tmp_path: Path, as_uri: bool) -> None:
    # prepare
    location = tmp_path.as_uri() if as_uri else str(tmp_path)

    # act
    store = open_store(location)
    key = store.put(b"opened")

    # assert
    assert isinstance(store, LocalBlobStore)
    assert LocalBlobStore(tmp_path).get(key) == b"opened"


@pytest.mark.parametrize("uri", ["", "ftp://host/blobs", "file://otherhost/blobs", "s3://"])
def test_open_store_rejects_unusable_uris(uri: str) -> None:
    # act / assert
    with pytest.raises(ConfigError):
        open_store(uri)
