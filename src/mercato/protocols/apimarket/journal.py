"""An append-only journal of JSON lines, synced to disk before a service answers.

A vendor journals each receipt it signs and an orchestrator each step it routes, then
answers: what a party has answered is on disk, so a restarted process reads it back and
neither loses a step (a vendor can still claim it, an orchestrator still batches it) nor runs
one twice (a replayed step gets its journaled answer).

A crash while writing leaves at most a torn last line, which was never answered: reading
drops it (and truncates it away, so the next entry starts on a line of its own). A damaged
line anywhere else is not a crash's trace, and the journal refuses to open.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mercato.errors import IntegrityError


class Journal:
    """Entries (JSON objects) appended to one file, each synced to disk before returning."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries = _read(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        created = not self.path.exists()
        self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the journal's life
        if created:
            _sync_directory(self.path.parent)

    def append(self, entry: Mapping[str, Any]) -> None:
        """Write ``entry`` as one line and sync it to disk."""
        line = json.dumps(dict(entry), sort_keys=True, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line.encode())
            self._file.flush()
            os.fsync(self._file.fileno())
            self._entries.append(json.loads(line))

    def entries(self) -> list[dict[str, Any]]:
        """Return every entry so far, oldest first (copies of the list, not of the entries)."""
        with self._lock:
            return list(self._entries)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.entries())

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def close(self) -> None:
        """Close the file; appending afterwards fails."""
        with self._lock:
            self._file.close()


def read_entries(path: Path) -> list[dict[str, Any]]:
    """A journal's whole entries, read without opening it for appending: a line its service
    is still writing is left alone (another process may read a live journal this way)."""
    if not path.exists():
        return []
    return _parse(path, path.read_bytes())[0]


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    data = path.read_bytes()
    entries, torn = _parse(path, data)
    if torn:
        # a crash mid-write: the entry was never synced whole, so nobody was answered from it
        with open(path, "r+b") as file:
            file.truncate(len(data) - len(torn))
            file.flush()
            os.fsync(file.fileno())
    return entries


def _parse(path: Path, data: bytes) -> tuple[list[dict[str, Any]], bytes]:
    """The entries of the whole lines of ``data``, and the torn tail after the last one."""
    *complete, torn = data.split(b"\n")
    entries = []
    for number, line in enumerate(complete, start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            raise IntegrityError(f"journal {path}: line {number} is damaged; refusing to go on")
        entries.append(entry)
    return entries, torn


def _sync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open a directory; the file itself is synced
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
