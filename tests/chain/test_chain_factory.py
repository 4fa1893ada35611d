"""Choosing a backend, and the errors a wrong choice gives."""

from __future__ import annotations

import socket

import pytest

from mercato.chain import Anvil, EmbeddedChain, RpcChain, compile_contract, connect
from mercato.chain.factory import RPC_URL_ENV
from mercato.errors import ChainError, ConfigError


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_default_backend_is_embedded() -> None:
    chain = connect()

    assert isinstance(chain, EmbeddedChain)
    assert chain.backend == "embedded"


def test_unknown_backend_suggests_a_known_one() -> None:
    with pytest.raises(ConfigError, match=r"no backend named 'x'\. Did you mean 'rpc'\?"):
        connect("x")
    with pytest.raises(ConfigError, match="Did you mean 'embedded'"):
        connect("embeded")


def test_rpc_backend_needs_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RPC_URL_ENV, raising=False)

    with pytest.raises(ConfigError, match=RPC_URL_ENV):
        connect("rpc")


def test_unreachable_node_is_a_clear_chain_error() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"

    with pytest.raises(ChainError, match=f"cannot reach the node at {url}"):
        connect("rpc", url)


@pytest.mark.rpc
def test_rpc_backend_from_environment(anvil: Anvil, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RPC_URL_ENV, anvil.url)

    chain = connect("rpc")

    assert isinstance(chain, RpcChain)
    assert chain.chain_id == 31337
    chain.close()


@pytest.mark.rpc
def test_rpc_backend_refuses_a_wrong_chain_id(anvil: Anvil) -> None:
    with pytest.raises(ConfigError, match="chain id 31337, not 1"):
        RpcChain(anvil.url, chain_id=1)


def test_unknown_contract_name() -> None:
    with pytest.raises(ConfigError, match="no contract named 'NoSuchContract'"):
        compile_contract("NoSuchContract")
