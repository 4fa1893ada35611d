"""A participant's own data file as P3 records it between commands.

``datamarket join --data`` and ``post --data`` record where the file is, how it is read
(its label column or its schema file) and the digest of the data set read from it
(:class:`DataFile`, kept in :mod:`~mercato.protocols.datamarket.state_files`). Later
commands and agents read it again with :meth:`DataFile.load`, which refuses in one line a
file whose data changed since: an update trained on other rows than the ones a data owner
joined with, or a head tuned on other rows than the model owner posted with, is not what
the task was posted or joined with.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mercato.errors import InputError

if TYPE_CHECKING:
    from mercato.ml.data_files import DataSource
    from mercato.ml.datasets import Dataset


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
        data = _source(Path(path), label, None if schema is None else Path(schema)).load()
        record = cls(
            path=str(Path(path).resolve()),
            label=label,
            schema=None if schema is None else str(Path(schema).resolve()),
            digest=_digest(data),
        )
        return record, data

    def load(self, used: str) -> Dataset:
        """The data set, as it was when the participant ``used`` it (e.g. ``joined task 3``);
        InputError if the file cannot be read or its data changed since."""
        schema = None if self.schema is None else Path(self.schema)
        data = _source(Path(self.path), self.label, schema).load()
        now = _digest(data)
        if now != self.digest:
            raise InputError(
                f"{self.path} changed since you {used}: its data hashes to {now[:10]}.., "
                f"not {self.digest[:10]}..; put back the file you {used} with"
            )
        return data

    @property
    def name(self) -> str:
        return Path(self.path).name


def _source(path: Path, label: str | None, schema: Path | None) -> DataSource:
    from mercato.ml.data_files import DataSource

    return DataSource(path=path, label=label, schema=schema)


def _digest(data: Dataset) -> str:
    return "0x" + data.digest().hex()
