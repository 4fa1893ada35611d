"""Fixtures of the CLI tests: settings in a per-test folder, pointed at the session's anvil."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mercato.chain import Anvil, RpcChain

from .helpers import Cli, point_settings_at


@pytest.fixture
def cli(
    anvil: Anvil, rpc_chain: RpcChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cli]:
    """A CLI with its own settings; the chain is reverted after the test (``rpc_chain``)."""
    point_settings_at(monkeypatch, tmp_path, anvil.url)
    runner = Cli(anvil.url, tmp_path)
    yield runner
    runner.close()


@pytest.fixture
def market_cli(cli: Cli) -> Cli:
    """A CLI whose market is deployed and whose cast is registered."""
    cli.setup_market()
    return cli
