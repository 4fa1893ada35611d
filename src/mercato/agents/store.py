"""The agent store: cursors, handled events and key-value state in one SQLite file.

Several agents may share a file; every row is keyed by the agent's name. A handler runs
inside :meth:`AgentStore.transaction`, so whatever it writes to the key-value state commits
together with the mark that it handled the event, or not at all. Effects outside the store
(transactions on the chain, blobs) cannot join that transaction: handlers make them
idempotent, because after a crash between the effect and the commit the event is handled
again.

The file holds secrets (a participant's private weights, keys, salts): it is created readable
by its owner only (0600, in a folder made 0700), and SQLite gives its ``-wal`` and ``-shm``
files the same mode.

WAL mode with ``synchronous=NORMAL`` survives a crash of the process; a power cut may lose
the last commits, which only means re-handling events, never skipping one.
"""

from __future__ import annotations

import enum
import json
import sqlite3
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mercato.chain.contract import Event
from mercato.errors import ConfigError, InputError
from mercato.user_files import create_secret

SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 5.0
"""How long a write waits for another connection to the same file before failing."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cursors (
    agent TEXT PRIMARY KEY,
    next_block INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS handled (
    agent TEXT NOT NULL,
    handler TEXT NOT NULL,
    tx_hash TEXT NOT NULL,
    log_index INTEGER NOT NULL,
    event TEXT NOT NULL,
    block_number INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (agent, handler, tx_hash, log_index)
);
CREATE INDEX IF NOT EXISTS handled_retry ON handled (agent, status, block_number);
CREATE TABLE IF NOT EXISTS kv (
    agent TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (agent, key)
);
"""


class HandlerStatus(enum.Enum):
    """Where one handler stands with one event."""

    DONE = "done"
    RETRY = "retry"
    """Failed with a MercatoError; tried again at the next step."""
    FAILED = "failed"
    """Failed as many times as allowed; skipped from now on."""


@dataclass(frozen=True)
class Failure:
    """A handler that failed on an event, with its last error."""

    agent: str
    handler: str
    event: str
    tx_hash: str
    log_index: int
    block_number: int
    status: HandlerStatus
    attempts: int
    error: str


class AgentStore:
    """SQLite persistence for agents: cursors, handled events, key-value state.

    One connection, guarded by a lock, so one store object may be handed between threads;
    separate store objects (or processes) may open the same file.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self._depth = 0
        try:
            create_secret(self.path)
            self._conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # we issue BEGIN/COMMIT ourselves
                check_same_thread=False,
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            version = int(self._conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"agent store {self.path} has schema version {version}; this Mercato "
                    f"reads up to {SCHEMA_VERSION}. Upgrade Mercato or use another file."
                )
            self._conn.executescript(_SCHEMA)
            self._conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(f"cannot open agent store {self.path}: {exc}") from exc

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AgentStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside commits together, or rolls back on an exception.

        Nests: an inner block is a savepoint that rolls back alone.
        """
        with self._lock:
            savepoint = f"sp{self._depth}"
            self._conn.execute("BEGIN" if self._depth == 0 else f"SAVEPOINT {savepoint}")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._conn.execute("ROLLBACK")
                else:
                    self._conn.execute(f"ROLLBACK TO {savepoint}")
                    self._conn.execute(f"RELEASE {savepoint}")
                raise
            self._depth -= 1
            self._conn.execute("COMMIT" if self._depth == 0 else f"RELEASE {savepoint}")

    # cursors ----------------------------------------------------------------------------
    def cursor(self, agent: str) -> int | None:
        """The next block ``agent`` reads, or ``None`` if it never ran."""
        with self._lock:
            row = self._conn.execute(
                "SELECT next_block FROM cursors WHERE agent = ?", (agent,)
            ).fetchone()
        return None if row is None else int(row[0])

    def set_cursor(self, agent: str, next_block: int) -> None:
        """Persist the next block ``agent`` reads."""
        if next_block < 0:
            raise InputError(f"a block number cannot be negative, got {next_block}")
        with self._lock:
            self._conn.execute(
                "INSERT INTO cursors (agent, next_block) VALUES (?, ?) "
                "ON CONFLICT (agent) DO UPDATE SET next_block = excluded.next_block",
                (agent, next_block),
            )

    # handled events ---------------------------------------------------------------------
    def status(self, agent: str, handler: str, event: Event) -> HandlerStatus | None:
        """How ``handler`` of ``agent`` stands with ``event`` (``None``: never tried)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT status FROM handled "
                "WHERE agent = ? AND handler = ? AND tx_hash = ? AND log_index = ?",
                (agent, handler, event.tx_hash, event.log_index),
            ).fetchone()
        return None if row is None else HandlerStatus(row[0])

    def mark_handled(self, agent: str, handler: str, event: Event) -> None:
        """Record that ``handler`` of ``agent`` handled ``event``."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO handled "
                "(agent, handler, tx_hash, log_index, event, block_number, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (agent, handler, tx_hash, log_index) "
                "DO UPDATE SET status = excluded.status",
                (agent, handler, *_event_key(event), HandlerStatus.DONE.value),
            )

    def record_failure(
        self, agent: str, handler: str, event: Event, error: str, max_attempts: int
    ) -> Failure:
        """Count one more failed attempt; after ``max_attempts`` the event is given up."""
        with self.transaction():
            row = self._conn.execute(
                "SELECT attempts FROM handled "
                "WHERE agent = ? AND handler = ? AND tx_hash = ? AND log_index = ?",
                (agent, handler, event.tx_hash, event.log_index),
            ).fetchone()
            attempts = (0 if row is None else int(row[0])) + 1
            status = HandlerStatus.RETRY if attempts < max_attempts else HandlerStatus.FAILED
            self._conn.execute(
                "INSERT INTO handled (agent, handler, tx_hash, log_index, event, block_number,"
                " status, attempts, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (agent, handler, tx_hash, log_index) DO UPDATE SET "
                "status = excluded.status, attempts = excluded.attempts, error = excluded.error",
                (agent, handler, *_event_key(event), status.value, attempts, error),
            )
        return Failure(
            agent,
            handler,
            event.name,
            event.tx_hash,
            event.log_index,
            event.block_number,
            status,
            attempts,
            error,
        )

    def failures(self, agent: str) -> list[Failure]:
        """Every failure of ``agent``'s handlers still on record, in chain order."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT handler, event, tx_hash, log_index, block_number, status, attempts,"
                " error FROM handled WHERE agent = ? AND status != ? "
                "ORDER BY block_number, log_index, handler",
                (agent, HandlerStatus.DONE.value),
            ).fetchall()
        return [
            Failure(agent, h, e, tx, int(i), int(b), HandlerStatus(s), int(n), err)
            for h, e, tx, i, b, s, n, err in rows
        ]

    def first_retry_block(self, agent: str, handlers: Collection[str]) -> int | None:
        """The lowest block holding an event one of ``handlers`` must try again."""
        if not handlers:
            return None
        marks = ",".join("?" * len(handlers))
        with self._lock:
            row = self._conn.execute(
                "SELECT MIN(block_number) FROM handled "
                f"WHERE agent = ? AND status = ? AND handler IN ({marks})",
                (agent, HandlerStatus.RETRY.value, *handlers),
            ).fetchone()
        return None if row[0] is None else int(row[0])

    # key-value state --------------------------------------------------------------------
    def get(self, agent: str, key: str, default: Any = None) -> Any:
        """The JSON value stored under ``key`` for ``agent``, or ``default``."""
        with self._lock:
            row = self._conn.execute(
                "SELECT value FROM kv WHERE agent = ? AND key = ?", (agent, key)
            ).fetchone()
        return default if row is None else json.loads(row[0])

    def put(self, agent: str, key: str, value: Any) -> None:
        """Store a JSON-serialisable ``value`` under ``key`` for ``agent``."""
        try:
            encoded = json.dumps(value, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"state '{key}' must be JSON-serialisable (hex-encode bytes): {exc}"
            ) from exc
        with self._lock:
            self._conn.execute(
                "INSERT INTO kv (agent, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT (agent, key) DO UPDATE SET value = excluded.value",
                (agent, key, encoded),
            )

    def delete(self, agent: str, key: str) -> None:
        """Forget ``key`` for ``agent`` (no error if it is absent)."""
        with self._lock:
            self._conn.execute("DELETE FROM kv WHERE agent = ? AND key = ?", (agent, key))

    def keys(self, agent: str, prefix: str = "") -> list[str]:
        """``agent``'s keys that start with ``prefix``, sorted."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key FROM kv WHERE agent = ? AND substr(key, 1, ?) = ? ORDER BY key",
                (agent, len(prefix), prefix),
            ).fetchall()
        return [str(row[0]) for row in rows]


class AgentState:
    """One agent's key-value state: a view on an :class:`AgentStore`."""

    def __init__(self, store: AgentStore, agent: str) -> None:
        self.store = store
        self.agent = agent

    def get(self, key: str, default: Any = None) -> Any:
        """The value under ``key``, or ``default``."""
        return self.store.get(self.agent, key, default)

    def put(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable ``value`` under ``key``."""
        self.store.put(self.agent, key, value)

    def delete(self, key: str) -> None:
        """Forget ``key``."""
        self.store.delete(self.agent, key)

    def keys(self, prefix: str = "") -> list[str]:
        """Keys that start with ``prefix``, sorted."""
        return self.store.keys(self.agent, prefix)

    def __contains__(self, key: str) -> bool:
        return self.store.get(self.agent, key, _MISSING) is not _MISSING


_MISSING = object()


def _event_key(event: Event) -> tuple[str, int, str, int]:
    return (event.tx_hash, event.log_index, event.name, event.block_number)
