"""Versioned JSON files of entries by key, kept in the agent state folder (``--state-dir``).

A file holds ``{"version": N, "<field>": {key: entry, ...}}``. It is read whole (a missing
file has no entries) and written whole to a temporary file readable by its owner only, then
renamed (:func:`mercato.user_files.write_secret`): a reader never sees half a file, and nobody
else reads it (what a participant keeps may be a secret: a private model head, its data's
whereabouts).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from mercato.errors import ConfigError, InputError
from mercato.user_files import write_secret

Entry = TypeVar("Entry")


@dataclass(frozen=True)
class EntryFile(Generic[Entry]):
    """The format of one kind of file: what it is called in messages, and its entries."""

    kind: str
    """What messages call it, e.g. ``training plans``."""
    field: str
    """The key of the entries in the document, e.g. ``plans``."""
    version: int
    decode: Callable[[object], Entry]
    """An entry from its JSON value; InputError if it is malformed."""
    encode: Callable[[Entry], dict[str, Any]]

    def read(self, path: Path) -> dict[str, Entry]:
        """The entries by key (empty if the file does not exist); ConfigError if unreadable."""
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read the {self.kind} in {path}: {exc}") from None
        if not isinstance(document, dict) or document.get("version") != self.version:
            raise ConfigError(f"{path} is not a {self.kind} file of version {self.version}")
        entries = document.get(self.field)
        if not isinstance(entries, dict):
            raise ConfigError(f"{path}: '{self.field}' must be a JSON object")
        try:
            return {str(key): self.decode(value) for key, value in entries.items()}
        except InputError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    def record(self, path: Path, key: str, entry: Entry) -> Path:
        """Add or replace one entry, creating the folder and the file if missing."""
        entries = self.read(path)
        entries[key] = entry
        document = {
            "version": self.version,
            self.field: {k: self.encode(v) for k, v in sorted(entries.items())},
        }
        return write_secret(path, (json.dumps(document, indent=2) + "\n").encode())
