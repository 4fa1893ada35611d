"""An append-only journal of JSON lines, synced to disk before a service answers.

A vendor journals each receipt it signs and an orchestrator each step it routes, then
answers: what a party has answered is on disk, so a restarted process reads it back and
neither loses a step (a vendor can still claim it, an orchestrator still batches it) nor runs
one twice (a replayed step gets its journaled answer).

A crash while writing leaves at most a torn last line, which was never answered: reading
drops it (and truncates it away, so the next entry starts on a line of its own). A damaged
line anywhere else is not a crash's trace, and the journal refuses to open.

What a party answered is its own (a vendor's outputs, who asked what): journals are
created readable by their owner only (0600).

A service may :meth:`~Journal.rotate` entries it no longer needs into an archive file.
Another process follows a live journal with a :class:`JournalReader`: it keeps its byte
offset and reads only what was appended since (a line still being written is read next
time, whole).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mercato.errors import IntegrityError
from mercato.user_files import create_secret, secret_folder


class Journal:
    """Entries (JSON objects) appended to one file, each synced to disk before returning."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._entries = _read(self.path)
        secret_folder(self.path.parent, "journal's folder")
        created = not self.path.exists()
        self._file = open(create_secret(self.path), "ab")  # noqa: SIM115 - held open for its life
        if created:
            _sync_directory(self.path.parent)

    def append(self, entry: Mapping[str, Any]) -> None:
        """Write ``entry`` as one line and sync it to disk."""
        line = _encode_line(entry)
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

    def rotate(self, leaving: Callable[[dict[str, Any]], bool], archive: Path) -> int:
        """Move the entries ``leaving`` picks out of the journal into ``archive``; how many.

        The archive (replaced if it exists) is synced first, then the journal is rewritten
        with the rest and swapped in atomically: a crash leaves either journal whole, and
        at worst the moved entries in both places.
        """
        with self._lock:
            moved = [entry for entry in self._entries if leaving(entry)]
            if not moved:
                return 0
            kept = [entry for entry in self._entries if not leaving(entry)]
            _write_synced(archive, moved)
            _write_synced(self.path, kept)
            self._file.close()
            self._file = open(self.path, "ab")  # noqa: SIM115 - held open for the journal's life
            self._entries = kept
            return len(moved)

    def close(self) -> None:
        """Close the file; appending afterwards fails."""
        with self._lock:
            self._file.close()


class JournalReader:
    """A journal followed without opening it for appending, read incrementally: each
    :meth:`read_new` reads only the bytes appended since the last one.

    A line its service is still writing is left for the next read, whole. A journal that
    was replaced or shrank (not something an append-only journal does by itself) is read
    again from its start: :meth:`read_new` then returns its entries again.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._offset = 0
        self._line = 1
        self._inode: int | None = None
        self._entries: list[dict[str, Any]] = []

    def read_new(self) -> list[dict[str, Any]]:
        """The entries appended since the last read (every entry on the first)."""
        try:
            file = open(self.path, "rb")  # noqa: SIM115 - closed below, after the stat
        except FileNotFoundError:
            return []
        with file:
            status = os.fstat(file.fileno())
            if status.st_ino != self._inode or status.st_size < self._offset:
                self._offset, self._line, self._inode = 0, 1, status.st_ino
                self._entries = []
            file.seek(self._offset)
            data = file.read()
        entries, torn = _parse(self.path, data, self._line)
        self._offset += len(data) - len(torn)
        self._line += len(entries)
        self._entries.extend(entries)
        return entries

    def entries(self) -> list[dict[str, Any]]:
        """Every entry so far, oldest first, after reading what was appended."""
        self.read_new()
        return list(self._entries)


def read_entries(path: Path) -> list[dict[str, Any]]:
    """A journal's whole entries, read once without opening it for appending (a line its
    service is still writing is left alone); to follow a live journal, keep a
    :class:`JournalReader`."""
    return JournalReader(path).read_new()


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


def _parse(path: Path, data: bytes, first: int = 1) -> tuple[list[dict[str, Any]], bytes]:
    """The entries of the whole lines of ``data`` (line ``first`` of the file onwards), and
    the torn tail after the last one."""
    *complete, torn = data.split(b"\n")
    entries = []
    for number, line in enumerate(complete, start=first):
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict):
            raise IntegrityError(f"journal {path}: line {number} is damaged; refusing to go on")
        entries.append(entry)
    return entries, torn


def _encode_line(entry: Mapping[str, Any]) -> str:
    return json.dumps(dict(entry), sort_keys=True, separators=(",", ":")) + "\n"


def _write_synced(path: Path, entries: list[dict[str, Any]]) -> None:
    """Replace ``path`` atomically by a synced file of ``entries``."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)  # a crash's leftover: created anew, 0600
    with open(create_secret(partial), "wb") as file:
        file.write("".join(_encode_line(entry) for entry in entries).encode())
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open a directory; the file itself is synced
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
