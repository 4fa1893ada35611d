"""What P3's participants keep between commands, in the agent state folder (``--state-dir``).

One JSON file per account and kind:

- ``datamarket-heads-<address>.json``: the model owner's private head of each task it
  posted (the chain only ever sees the public part), the cut of the sample dataset its own
  slice came from, and the accuracy before and after; ``datamarket finish`` and the
  ``market-model-owner`` agent read it;
- ``datamarket-parts-<address>.json``: which part of which cut a data owner joined each task
  with, so ``datamarket act`` finds its data again.

Entries are keyed by ``<data market address>/<task id>`` (:func:`task_key`); a head also
names the public model it was trained with, so a head of another deployment at the same
address is refused. Each file is written whole to a temporary file, then renamed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from mercato.errors import ConfigError

if TYPE_CHECKING:
    from mercato.protocols.marketplace import Marketplace

HEADS_FILE = "datamarket-heads-{address}.json"
PARTS_FILE = "datamarket-parts-{address}.json"
FILES_VERSION = 1


@dataclass(frozen=True)
class OwnerHead:
    """What a model owner keeps of a task it posted; weights are hex of MCWT bytes."""

    dataset: str
    seed: int
    model_hash: str
    """The task's public model when posted: the head was pretrained with it."""
    pretrained: str
    accuracy_before: float
    tuned: str | None = None
    accuracy_after: float | None = None


@dataclass(frozen=True)
class JoinedPart:
    """The part of a cut a data owner joined a task with."""

    dataset: str
    part: int
    data_owners: int
    seed: int


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


def read_heads(folder: Path, address: str) -> dict[str, OwnerHead]:
    """The model owner's heads by task key (empty if it recorded none)."""
    return _read(heads_file(folder, address), "heads", OwnerHead)


def read_parts(folder: Path, address: str) -> dict[str, JoinedPart]:
    """The data owner's parts by task key (empty if it recorded none)."""
    return _read(parts_file(folder, address), "parts", JoinedPart)


def record_head(folder: Path, address: str, key: str, head: OwnerHead) -> Path:
    return _record(heads_file(folder, address), "heads", OwnerHead, key, head)


def record_part(folder: Path, address: str, key: str, part: JoinedPart) -> Path:
    return _record(parts_file(folder, address), "parts", JoinedPart, key, part)


def make_folder(folder: Path) -> Path:
    """The state folder, created if missing; ConfigError if it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the state folder {folder}: {exc}") from None
    return folder


def _read(path: Path, field: str, kind: Callable[..., Entry]) -> dict[str, Entry]:
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the data market {field} in {path}: {exc}") from None
    if not isinstance(document, dict) or document.get("version") != FILES_VERSION:
        raise ConfigError(f"{path} is not a data market {field} file of version {FILES_VERSION}")
    entries = document.get(field)
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: '{field}' must be a JSON object")
    try:
        return {str(key): kind(**value) for key, value in entries.items()}
    except TypeError as exc:
        raise ConfigError(f"{path}: malformed entry: {exc}") from None


def _record(path: Path, field: str, kind: Callable[..., Entry], key: str, entry: Entry) -> Path:
    """Add or replace one entry."""
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = _read(path, field, kind)
    entries[key] = entry
    document = {
        "version": FILES_VERSION,
        field: {k: asdict(v) for k, v in sorted(entries.items())},
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(json.dumps(document, indent=2) + "\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
