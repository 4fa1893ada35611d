"""AgentStore: cursors, handled marks, failures, key-value state, transactions."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from mercato.agents import AgentState, AgentStore, HandlerStatus
from mercato.agents.store import SCHEMA_VERSION
from mercato.chain.contract import Event
from mercato.errors import ConfigError, InputError

BIG_WEI = 10**30  # beyond 64 bits, as wei amounts often are


def make_event(block: int, log_index: int = 0, name: str = "Ping") -> Event:
    return Event(name, {"amount": block}, "0xabc", block, f"0x{block:064x}", log_index)


def test_cursor_is_none_until_set_and_survives_reopening(store_path: Path) -> None:
    with AgentStore(store_path) as store:
        assert store.cursor("alice") is None
        store.set_cursor("alice", 42)

    with AgentStore(store_path) as reopened:
        assert reopened.cursor("alice") == 42
        assert reopened.cursor("bob") is None


def test_store_uses_wal(store: AgentStore, store_path: Path) -> None:
    with closing(sqlite3.connect(store_path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_key_value_state_round_trips_json_per_agent(store: AgentStore) -> None:
    alice = AgentState(store, "alice")

    alice.put("bid/1", {"amount": BIG_WEI, "ok": True})
    alice.put("bid/2", [1, 2])
    alice.put("other", None)

    assert alice.get("bid/1") == {"amount": BIG_WEI, "ok": True}
    assert alice.keys("bid/") == ["bid/1", "bid/2"]
    assert "other" in alice and "missing" not in alice
    assert AgentState(store, "bob").get("bid/1", "absent") == "absent"
    alice.delete("bid/1")
    assert alice.get("bid/1") is None


def test_state_that_is_not_json_is_refused_and_nothing_is_written(store: AgentStore) -> None:
    with pytest.raises(InputError, match="JSON"):
        store.put("alice", "blob", b"\x00")

    assert store.keys("alice") == []


def test_transaction_rolls_back_on_exception_and_nests(store: AgentStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.put("alice", "a", 1)
        raise RuntimeError("crash")
    assert store.get("alice", "a") is None

    with store.transaction():
        store.put("alice", "outer", 1)
        with pytest.raises(RuntimeError), store.transaction():
            store.put("alice", "inner", 2)
            raise RuntimeError("inner only")
    assert store.get("alice", "outer") == 1
    assert store.get("alice", "inner") is None


def test_handled_marks_are_per_agent_and_handler(store: AgentStore) -> None:
    event = make_event(5)

    store.mark_handled("alice", "h1", event)

    assert store.status("alice", "h1", event) is HandlerStatus.DONE
    assert store.status("alice", "h2", event) is None
    assert store.status("bob", "h1", event) is None


def test_failures_are_counted_then_given_up(store: AgentStore) -> None:
    event = make_event(7, name="Pong")

    first = store.record_failure("alice", "h", event, "nope", max_attempts=2)
    block_to_retry = store.first_retry_block("alice", ["h"])
    second = store.record_failure("alice", "h", event, "still nope", max_attempts=2)

    assert (first.status, first.attempts) == (HandlerStatus.RETRY, 1)
    assert block_to_retry == 7
    assert (second.status, second.attempts) == (HandlerStatus.FAILED, 2)
    assert store.first_retry_block("alice", ["h"]) is None
    [failure] = store.failures("alice")
    assert (failure.event, failure.error, failure.block_number) == ("Pong", "still nope", 7)


def test_retry_blocks_of_unregistered_handlers_are_ignored(store: AgentStore) -> None:
    store.record_failure("alice", "old_handler", make_event(3), "nope", max_attempts=3)

    assert store.first_retry_block("alice", ["new_handler"]) is None
    assert store.first_retry_block("alice", []) is None


def test_a_newer_schema_is_refused(store_path: Path) -> None:
    with closing(sqlite3.connect(store_path)) as conn:
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")

    with pytest.raises(ConfigError, match="schema version"):
        AgentStore(store_path)


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.sqlite"
    path.write_bytes(b"this is not a database" * 100)

    with pytest.raises(ConfigError, match="cannot open agent store"):
        AgentStore(path)


KILLED_CHILD = """
import os, sys
from pathlib import Path
from mercato.agents import AgentStore
from mercato.chain.contract import Event

store = AgentStore(Path(sys.argv[1]))
event = Event("Ping", {}, "0xabc", 1, "0x" + format(1, "064x"), 0)
store.put("alice", "committed", True)
with store.transaction():
    store.put("alice", "effect", 1)
    store.mark_handled("alice", "h", event)
    os._exit(1)  # killed before the commit: no cleanup, no rollback
"""


def test_a_killed_process_leaves_no_half_written_handling(store_path: Path) -> None:
    child = subprocess.run([sys.executable, "-c", KILLED_CHILD, str(store_path)], check=False)

    with AgentStore(store_path) as store:
        assert child.returncode == 1
        assert store.get("alice", "committed") is True
        assert store.get("alice", "effect") is None
        assert store.status("alice", "h", make_event(1)) is None
