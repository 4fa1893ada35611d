"""Files that hold a secret are their owner's alone from the first byte: the helpers of
mercato.user_files, and the writers of agent state that use them."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from mercato.agents.store import AgentStore
from mercato.errors import ConfigError
from mercato.protocols.apimarket.journal import Journal
from mercato.protocols.datamarket.state_files import JoinedPart, record_part
from mercato.user_files import create_secret, secret_folder, write_secret


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that lets everyone read what is created (the helpers must not rely on one)."""
    previous = os.umask(0o000)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_secret_is_written_0600_in_new_folders_0700(tmp_path: Path, open_umask: None) -> None:
    # prepare
    path = tmp_path / "a" / "b" / "key.json"

    # act
    write_secret(path, b"secret")

    # assert
    assert path.read_bytes() == b"secret"
    assert mode(path) == 0o600
    assert mode(tmp_path / "a") == mode(tmp_path / "a" / "b") == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["key.json"]  # no temporary left


def test_a_secret_replaces_a_file_readable_by_others(tmp_path: Path, open_umask: None) -> None:
    # prepare: an older file anyone could read
    path = tmp_path / "key.json"
    path.write_text("old")
    path.chmod(0o644)

    # act
    write_secret(path, b"new")

    # assert
    assert (path.read_bytes(), mode(path)) == (b"new", 0o600)


def test_an_existing_folder_keeps_its_mode(tmp_path: Path, open_umask: None) -> None:
    tmp_path.chmod(0o755)

    secret_folder(tmp_path)

    assert mode(tmp_path) == 0o755


def test_create_secret_makes_an_empty_0600_file_and_keeps_content(
    tmp_path: Path, open_umask: None
) -> None:
    path = tmp_path / "state" / "db"

    create_secret(path)
    path.write_bytes(b"rows")
    create_secret(path)

    assert (path.read_bytes(), mode(path), mode(path.parent)) == (b"rows", 0o600, 0o700)


def test_a_folder_that_cannot_be_made_is_one_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    with pytest.raises(ConfigError, match=r"^cannot create the state folder .*file/x"):
        secret_folder(blocker / "x", "state folder")


def test_an_agent_store_and_its_wal_are_0600(tmp_path: Path, open_umask: None) -> None:
    # act
    with AgentStore(tmp_path / "agents" / "alice.sqlite") as store:
        with store.transaction():
            store.put("alice", "key", "0xsecret")
        files = sorted((tmp_path / "agents").iterdir())

        # assert (while open: the -wal and -shm files exist)
        assert [p.name for p in files] == ["alice.sqlite", "alice.sqlite-shm", "alice.sqlite-wal"]
        assert {mode(p) for p in files} == {0o600}
        assert mode(tmp_path / "agents") == 0o700


def test_state_files_and_journals_are_0600(tmp_path: Path, open_umask: None) -> None:
    # act
    parts = record_part(tmp_path / "state", "0xabc", "0x1/1", JoinedPart("iris", 0, 3, 7))
    journal = Journal(tmp_path / "vendor" / "api-1.journal")
    journal.append({"kind": "step", "output": "secret"})
    journal.rotate(lambda entry: True, tmp_path / "vendor" / "api-1.epoch-0.journal")
    journal.close()

    # assert
    written = [parts, *sorted((tmp_path / "vendor").iterdir())]
    assert len(written) == 3
    assert {mode(p) for p in written} == {0o600}
