"""Files a user names (command line or Python API), read and written with one-line errors.

A :class:`DataFile` is how a command records a participant's own data file for later
commands and agents (P2's data owner, P3's data owners and model owner): its path, how it
is read and the digest of its data, so that a file changed since it was offered, joined or
posted with is refused in one line. Light: the file is read only when asked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mercato.errors import InputError

if TYPE_CHECKING:
    from mercato.ml.datasets import Dataset


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
