"""``mercato bench chain|gas --json`` through the real command line app."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mercato.chain import Anvil, RpcChain
from mercato.cli import bench
from mercato.cli.app import app
from mercato.errors import ConfigError


@pytest.fixture(autouse=True)
def _no_node_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MERCATO_RPC_URL", "MERCATO_BACKEND", "MERCATO_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def run_json(*args: str) -> Any:
    result = CliRunner().invoke(app, ["bench", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def gas_by_name(payload: dict[str, Any]) -> dict[str, int]:
    return {op["name"]: op["gas"] for op in payload["operations"]}


def test_gas_json_on_the_embedded_chain() -> None:
    payload = run_json("gas")

    assert list(payload)[:3] == ["scenario", "backend", "total_gas"]
    assert (payload["scenario"], payload["backend"]) == ("saiaas", "embedded")
    assert payload["total_gas"] == sum(gas_by_name(payload)[n] for n in payload["total_covers"])
    assert all(isinstance(op["gas"], int) and op["gas"] > 0 for op in payload["operations"])


def test_chain_json_on_the_embedded_chain() -> None:
    rows = run_json("chain", "--transactions", "10")

    assert [(r["backend"], r["mode"], r["workload"]) for r in rows] == [
        ("embedded", "sequential", "probe"),
        ("embedded", "sequential", "bid"),
    ]
    assert all(r["transactions"] == 10 for r in rows)
    assert all(r["tx_per_s"] > 0 and r["seconds"] > 0 for r in rows)


def test_the_tables_print_without_json() -> None:
    result = CliRunner().invoke(app, ["bench", "gas"])

    assert result.exit_code == 0, result.output
    assert "3,180,058" in result.stdout and "Escrow" in result.stdout


def test_every_protocol_brings_its_benchmarks_from_its_unit() -> None:
    # prepare
    from mercato.protocols.catalog import units

    own = ["chain", "serve", "soak", "chaos"]
    expected = [*own, *(ref.rpartition(":")[2] for u in units() for ref in u.bench)]

    # act
    commands = [command.name for command in typer.main.get_group(bench.app).commands.values()]

    # assert: Mercato's own first, then each protocol's, in the catalog's order
    assert commands == expected == [
        *own, "gas", "training", "datamarket", "modelmarket", "apimarket"
    ]  # fmt: skip


def test_a_url_and_anvil_together_are_refused() -> None:
    result = CliRunner().invoke(
        app, ["bench", "chain", "--rpc-url", "http://127.0.0.1:1", "--anvil", "--json"]
    )

    assert isinstance(result.exception, ConfigError)


@pytest.mark.rpc
def test_chain_json_on_a_node(rpc_chain: RpcChain) -> None:  # the fixture reverts the node
    rows = run_json("chain", "--transactions", "10", "--batch", "4", "--rpc-url", rpc_chain.url)

    assert [(r["backend"], r["mode"]) for r in rows] == 2 * [
        ("embedded", "sequential"),
        ("rpc", "sequential"),
        ("rpc", "pipelined"),
    ]
    assert all(r["tx_per_s"] > 0 and r["transactions"] == 10 for r in rows)


@pytest.mark.rpc
def test_anvil_charges_the_gas_the_embedded_chain_charges(anvil: Anvil) -> None:
    # `anvil` only skips this test where anvil is missing; --anvil starts a fresh node, so the
    # deployer's nonce, hence every address in calldata, is the embedded chain's
    node = run_json("gas", "--anvil")
    embedded = run_json("gas")

    assert node["backend"] == "rpc"
    assert gas_by_name(node) == gas_by_name(embedded)
    assert node["total_gas"] == embedded["total_gas"]
