"""Fixtures for the agent runtime: an embedded chain, a tiny event emitter, a store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import vyper
from eth_account.signers.local import LocalAccount

from mercato.agents import AgentStore
from mercato.chain.contract import ABI, Contract
from mercato.chain.embedded import EmbeddedChain

EMITTER_SOURCE = Path(__file__).with_name("Emitter.vy")


@pytest.fixture(scope="session")
def emitter_artifact() -> dict[str, Any]:
    source = EMITTER_SOURCE.read_text()
    artifact: dict[str, Any] = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    return artifact


@pytest.fixture
def chain() -> Iterator[EmbeddedChain]:
    chain = EmbeddedChain()
    yield chain
    chain.close()


@pytest.fixture
def accounts(chain: EmbeddedChain) -> list[LocalAccount]:
    return chain.dev_accounts(3)


@pytest.fixture
def deploy_emitter(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter_artifact: dict[str, Any]
) -> Callable[[], Contract]:
    """Deploy a fresh Emitter (call it again for a second contract)."""

    def deploy() -> Contract:
        bytecode = bytes.fromhex(emitter_artifact["bytecode"].removeprefix("0x"))
        receipt = chain.deploy(accounts[0], bytecode)
        assert receipt.contract_address is not None
        return Contract(chain, receipt.contract_address, ABI(emitter_artifact["abi"]))

    return deploy


@pytest.fixture
def emitter(deploy_emitter: Callable[[], Contract]) -> Contract:
    return deploy_emitter()


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "agents.sqlite"


@pytest.fixture
def store(store_path: Path) -> Iterator[AgentStore]:
    with AgentStore(store_path) as store:
        yield store
