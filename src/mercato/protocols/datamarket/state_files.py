"""What P3's participants keep between commands, in the agent state folder (``--state-dir``).

One JSON file per account and kind:

- ``datamarket-heads-<address>.json``: the model owner's private head of each task it
  posted (the chain only ever sees the public part), where its own data came from (the cut
  of a sample dataset, or its own file), and the accuracy before and after;
  ``datamarket finish`` and ``model`` and the ``market-model-owner`` agent read it;
- ``datamarket-parts-<address>.json``: which part of which cut, or which file of its own, a
  data owner joined each task with, so ``datamarket act`` finds its data again.

A file is recorded as a :class:`~mercato.user_files.DataFile`: its path,
how it is read and the digest of its data, so a file changed since is refused.

Entries are keyed by ``<data market address>/<task id>`` (:func:`task_key`); a head also
names the public model it was trained with, so a head of another deployment at the same
address is refused. Each file is written whole to a temporary file readable by its owner
only (0600), then renamed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from mercato.agents.files import EntryFile
from mercato.errors import InputError
from mercato.user_files import DataFile, secret_folder

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace

HEADS_FILE = "datamarket-heads-{address}.json"
PARTS_FILE = "datamarket-parts-{address}.json"
FILES_VERSION = 1


def _data_file(entry: object) -> None:
    """Turn an entry's ``data`` read from JSON back into a DataFile (TypeError if malformed)."""
    data = getattr(entry, "data", None)
    if isinstance(data, dict):
        object.__setattr__(entry, "data", DataFile(**data))
    elif data is not None and not isinstance(data, DataFile):
        raise TypeError(f"data must be a data file's record, got {data!r}")


@dataclass(frozen=True)
class OwnerHead:
    """What a model owner keeps of a task it posted; weights are hex of MCWT bytes.

    Its own data is the cut of the sample ``dataset`` with ``seed`` (its slice and the test
    split), or its own file ``data`` (split with ``seed`` into training and test rows).
    """

    dataset: str | None
    seed: int
    model_hash: str
    """The task's public model when posted: the head was pretrained with it."""
    pretrained: str
    accuracy_before: float
    tuned: str | None = None
    accuracy_after: float | None = None
    data: DataFile | None = None

    def __post_init__(self) -> None:
        _data_file(self)

    @property
    def source(self) -> str:
        """The data it was trained on, for messages."""
        return self.data.path if self.data is not None else f"the cut of {self.dataset}"


@dataclass(frozen=True)
class JoinedPart:
    """What a data owner joined a task with: part ``part`` of the task's cut of the sample
    ``dataset``, or its own file ``data`` (then ``dataset`` and ``part`` are None)."""

    dataset: str | None
    part: int | None
    data_owners: int
    seed: int
    data: DataFile | None = None

    def __post_init__(self) -> None:
        _data_file(self)


Entry = TypeVar("Entry", OwnerHead, JoinedPart)


def task_key(market: Marketplace, task_id: int) -> str:
    """The key of a task's entry in the files."""
    return f"{market.data_market.address.lower()}/{task_id}"


def task_of(market: Marketplace, key: str) -> int | None:
    """The task id of an entry key if the entry belongs to this market, else None."""
    prefix, _, task = key.rpartition("/")
    same = prefix == market.data_market.address.lower() and task.isdigit()
    return int(task) if same else None


def heads_file(folder: Path, address: str) -> Path:
    return folder / HEADS_FILE.format(address=address.lower())


def parts_file(folder: Path, address: str) -> Path:
    return folder / PARTS_FILE.format(address=address.lower())


def _entries(kind: Callable[..., Entry]) -> Callable[[object], Entry]:
    """Reads a ``kind`` from its JSON object; InputError if the object does not fit it."""

    def decode(value: object) -> Entry:
        try:
            return kind(**cast("dict[str, object]", value))
        except TypeError as exc:
            raise InputError(f"malformed entry: {exc}") from None

    return decode


_HEADS: EntryFile[OwnerHead] = EntryFile(
    "data market heads", "heads", FILES_VERSION, _entries(OwnerHead), asdict
)
_PARTS: EntryFile[JoinedPart] = EntryFile(
    "data market parts", "parts", FILES_VERSION, _entries(JoinedPart), asdict
)


def read_heads(folder: Path, address: str) -> dict[str, OwnerHead]:
    """The model owner's heads by task key (empty if it recorded none)."""
    return _HEADS.read(heads_file(folder, address))


def read_parts(folder: Path, address: str) -> dict[str, JoinedPart]:
    """The data owner's parts by task key (empty if it recorded none)."""
    return _PARTS.read(parts_file(folder, address))


def record_head(folder: Path, address: str, key: str, head: OwnerHead) -> Path:
    return _HEADS.record(heads_file(folder, address), key, head)


def record_part(folder: Path, address: str, key: str, part: JoinedPart) -> Path:
    return _PARTS.record(parts_file(folder, address), key, part)


def make_folder(folder: Path) -> Path:
    """The state folder, created (0700) if missing; ConfigError if it cannot be."""
    return secret_folder(folder, "state folder")
