"""Starting and stopping anvil: the binary, persistence, block time, cleanup."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest

from mercato.chain import Anvil, RpcChain, TxRequest
from mercato.chain.anvil import (
    BINARY_ENV,
    OWNER_FILE,
    WORKDIR_PREFIX,
    _remove_orphaned_workdirs,
    find_anvil,
)
from mercato.errors import ChainError, ConfigError

# tests marked rpc use the session's `anvil` fixture: skipped without anvil, failed in CI


def test_binary_from_environment_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BINARY_ENV, "/nonexistent/anvil")

    with pytest.raises(ConfigError, match=BINARY_ENV):
        find_anvil()


@pytest.mark.rpc
@pytest.mark.usefixtures("anvil")
def test_binary_is_the_real_one_not_the_node_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BINARY_ENV, raising=False)

    assert not find_anvil().name.endswith(".mjs")
    assert find_anvil().read_bytes()[:4] in (b"\x7fELF", b"\xcf\xfa\xed\xfe", b"MZ\x90\x00")


def test_folders_of_killed_owners_are_removed() -> None:
    orphan = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))
    (orphan / OWNER_FILE).write_text(str(_dead_pid()))
    foreign = Path(tempfile.mkdtemp(prefix=WORKDIR_PREFIX))  # no owner file: not ours

    _remove_orphaned_workdirs()

    assert not orphan.exists()
    assert foreign.is_dir()
    foreign.rmdir()


@pytest.mark.rpc
@pytest.mark.usefixtures("anvil")
def test_stop_ends_the_process_and_removes_the_cache() -> None:
    node = Anvil().start()
    workdir = node._workdir
    assert node.running and workdir is not None and workdir.is_dir()

    node.stop()

    assert not node.running
    assert not workdir.exists()
    with pytest.raises(ChainError, match="not running"):
        _ = node.url


@pytest.mark.rpc
@pytest.mark.usefixtures("anvil")
def test_state_file_persists_the_chain(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with Anvil(state=state) as node:
        chain = RpcChain(node.url)
        alice, bob = chain.dev_accounts(2)
        chain.send(TxRequest(alice, bob.address, b"", value=12345))
        expected = chain.balance(bob.address)
        chain.close()
    assert state.is_file()

    with Anvil(state=state) as node:
        chain = RpcChain(node.url)
        assert chain.balance(bob.address) == expected
        chain.close()


@pytest.mark.rpc
@pytest.mark.usefixtures("anvil")
def test_block_time_mines_on_a_clock() -> None:
    with Anvil(block_time=1, free_gas=False) as node:
        chain = RpcChain(node.url)
        alice, bob = chain.dev_accounts(2)
        before = chain.balance(alice.address)

        receipts = chain.send_many([TxRequest(alice, bob.address, b"", value=1)] * 3)

        assert len({r.block_number for r in receipts}) <= 2  # shared blocks, not one each
        assert chain.balance(alice.address) < before - 3  # real fees were paid
        chain.close()


def _dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
