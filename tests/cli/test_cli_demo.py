"""`mercato demo`: the whole P1 flow from one command, on both backends."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mercato.chain import RpcChain
from mercato.cli.app import app


def check_report(report: dict[str, object]) -> None:
    assert report["status"] == "confirmed"
    winners = report["winners"]
    assert isinstance(winners, dict)
    assert {w["provider"] for w in winners.values()} == {
        "digits-lab", "linear-labs", "enclave-cloud"
    }  # fmt: skip
    metrics = report["metrics"]
    assert isinstance(metrics, dict) and metrics["accuracy"] >= 0.9
    withdrawn = report["withdrawn"]
    assert isinstance(withdrawn, dict)
    prices = sum(w["price"] for w in winners.values())
    assert withdrawn["client"] == 3 * 10**18 - prices  # the unspent reserve came back
    gas = report["gas"]
    assert isinstance(gas, dict) and {"create_auction", "bid", "adjudicate", "confirm"} <= set(gas)


def test_demo_on_the_embedded_chain() -> None:
    result = CliRunner().invoke(app, ["demo", "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["backend"] == "embedded"
    check_report(report)


@pytest.mark.rpc
def test_demo_on_a_node(rpc_chain: RpcChain) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--backend", "rpc", "--rpc-url", rpc_chain.url, "--json"]
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["backend"] == "rpc"
    check_report(report)


def test_demo_prints_a_readable_report() -> None:
    result = CliRunner().invoke(app, ["demo"])

    assert result.exit_code == 0, result.output
    for heading in ("Requirements", "SLA (winners)", "Withdrawn", "Gas per operation"):
        assert heading in result.stdout
