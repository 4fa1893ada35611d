"""A blob store in a local folder, one file per blob.

Layout: ``<root>/<first 2 hex digits>/<blob hash>``, e.g. ``root/ab/0xab12...``; the fan-out
keeps directories small. Writes go to a temporary file in the same directory and are moved
into place with ``os.replace``, so a reader never sees a half-written blob.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mercato.errors import BlobNotFound, StorageError
from mercato.storage.base import blob_hash, validate_blob_hash, verify_blob

FANOUT_DIGITS = 2
TEMP_PREFIX = ".tmp-"


class LocalBlobStore:
    """Blobs as files under ``root`` (created on first write)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self.root)!r})"

    def put(self, data: bytes) -> str:
        """Store ``data`` atomically and return its blob hash."""
        key = blob_hash(data)
        path = self._path(key)
        try:
            # Same name and size means the same bytes, barring corruption, which get() reports.
            if path.is_file() and path.stat().st_size == len(data):
                return key
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, data)
        except OSError as exc:
            raise StorageError(f"cannot write blob {key} to {path}: {exc}") from exc
        return key

    def get(self, blob_hash: str) -> bytes:
        """Return the verified blob stored under ``blob_hash``."""
        key = validate_blob_hash(blob_hash)
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {key} in {self.root}") from None
        except OSError as exc:
            raise StorageError(f"cannot read blob {key} from {path}: {exc}") from exc
        return verify_blob(key, data)

    def has(self, blob_hash: str) -> bool:
        """Tell whether a blob file exists for ``blob_hash``."""
        return self._path(validate_blob_hash(blob_hash)).is_file()

    def uri(self, blob_hash: str) -> str:
        """Return the blob's ``file://`` URI."""
        return self._path(validate_blob_hash(blob_hash)).absolute().as_uri()

    def _path(self, key: str) -> Path:
        hex_digits = key[2:]
        return self.root / hex_digits[:FANOUT_DIGITS] / key


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temporary file and an atomic rename."""
    fd, temp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
