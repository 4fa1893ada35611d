"""Files a user names (command line or Python API), read and written with one-line errors.

A :class:`DataFile` is how a command records a participant's own data file for later
commands and agents (P2's data owner, P3's data owners and model owner): its path, how it
is read and the digest of its data, so that a file changed since it was offered, joined or
posted with is refused in one line. Light: the file is read only when asked.

Files that hold a secret (agent stores, state files, keys, shares, sealing keys) are made
here, by :func:`write_secret`, :func:`create_secret` and :func:`secret_folder`: readable by
their owner only from the first byte (created with the mode, never chmod-ed after writing).
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mercato.errors import ConfigError, InputError

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset

SECRET_FILE_MODE = 0o600
"""A file that holds a secret: read and written by its owner only."""
SECRET_FOLDER_MODE = 0o700
"""A folder that holds such files: listed and entered by its owner only."""


def read_user_file(path: Path, limit: int, *, keep: bool = True) -> bytes:
    """The bytes of ``path`` (b"" when ``keep`` is false: only checked); InputError when it is
    missing, a folder, larger than ``limit`` bytes or unreadable."""
    try:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        if not path.is_file():
            raise InputError(f"{path}: not a file")
        if path.stat().st_size > limit:
            raise InputError(f"{path}: larger than {limit // 2**20} MiB")
        return path.read_bytes() if keep else b""
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None


def write_user_file(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``, creating its folder; InputError when that cannot be done."""
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(f"{path}: cannot write: {exc.strerror or exc}") from None
    return path


def secret_folder(folder: Path, what: str = "folder") -> Path:
    """The folder, created with mode 0700 if missing (its missing parents too); ConfigError
    naming it ``what`` if it cannot be. A folder that exists keeps its mode: it is the
    user's."""
    try:
        for missing in reversed([folder, *folder.parents]):
            if not missing.is_dir():
                missing.mkdir(mode=SECRET_FOLDER_MODE, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the {what} {folder}: {exc.strerror or exc}") from None
    return folder


def write_secret(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` readable by its owner only, whole or not at all.

    The bytes go to a temporary file created with mode 0600 beside ``path``, which is then
    renamed over it: nobody else ever reads it, and no reader sees half of it.
    """
    secret_folder(path.parent)
    try:
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(handle, SECRET_FILE_MODE)  # mkstemp's mode already; said, not assumed
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def create_secret(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 if it does not exist (for a file another library
    then fills, such as an SQLite database); an existing file is left as it is."""
    secret_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, SECRET_FILE_MODE))
    except OSError as exc:
        raise ConfigError(f"cannot create {path}: {exc.strerror or exc}") from None
    return path


@dataclass(frozen=True)
class DataFile:
    """Where a participant's own data is and how to read it, and the digest it had."""

    path: str
    """Absolute path of the CSV, Parquet or .npz file."""
    label: str | None
    """The label column (the schema is inferred from the file), if given."""
    schema: str | None
    """Absolute path of the schema file, if given (a Mercato .npz archive needs neither)."""
    digest: str
    """0x-hex keccak-256 of the data set read from the file (:meth:`Dataset.digest`)."""

    @classmethod
    def read(
        cls, path: Path | str, label: str | None = None, schema: Path | str | None = None
    ) -> tuple[DataFile, Dataset]:
        """Read and check the file (one-line InputError otherwise); its record and its data."""
        from mercato.ml.data_files import DataSource

        data = DataSource(
            path=Path(path), label=label, schema=None if schema is None else Path(schema)
        ).load()
        record = cls(
            path=str(Path(path).resolve()),
            label=label,
            schema=None if schema is None else str(Path(schema).resolve()),
            digest="0x" + data.digest().hex(),
        )
        return record, data

    def load(self, used: str) -> Dataset:
        """The data set, as it was when the participant ``used`` it (e.g. ``joined task 3``);
        InputError if the file cannot be read or its data changed since."""
        from mercato.ml.data_files import DataSource

        schema = None if self.schema is None else Path(self.schema)
        data = DataSource(path=Path(self.path), label=self.label, schema=schema).load()
        now = "0x" + data.digest().hex()
        if now != self.digest:
            raise InputError(
                f"{self.path} changed since you {used}: its data hashes to {now[:10]}.., "
                f"not {self.digest[:10]}..; put back the file you {used} with"
            )
        return data

    @property
    def name(self) -> str:
        return Path(self.path).name
