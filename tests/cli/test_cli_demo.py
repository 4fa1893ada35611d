"""`mercato demo`: the whole P1 to P5 flows from one command, on both backends."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mercato.chain import RpcChain
from mercato.cli.app import app
from mercato.errors import InputError


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
    check_training(report["training"])
    check_datamarket(report["datamarket"])
    check_apimarket(report["apimarket"])


def check_training(training: object) -> None:
    assert isinstance(training, dict)
    assert training["status"] == "completed"
    rounds = training["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3, 4, 5, 6]
    # the lazy compute provider is caught, and each of its instances once only (a
    # reported instance gets no more jobs)
    frauds = training["frauds"]
    assert frauds and {fraud["co"] for fraud in frauds} == {"lazy-cloud"}
    instances = [fraud["instance"] for fraud in frauds]
    assert len(set(instances)) == len(instances)
    assert sorted(i for r in rounds for i in r["outvoted"]) == sorted(instances)
    # 6 short rounds over random draws of 3 skewed subsets: 1 to 4 points below centralised
    # (the benchmark's longer run is the 2-point comparison)
    assert rounds[-1]["accuracy"] >= 0.9
    assert rounds[-1]["accuracy"] >= training["centralised_accuracy"] - 0.05
    withdrawn = training["withdrawn"]
    assert withdrawn.get("lazy-cloud", 0) == 0
    assert withdrawn["data-owner"] == 10**17  # the data price
    stakes = training["stakes"]
    assert stakes["lazy-cloud"] < stakes["north-cloud"]  # slashed


def check_datamarket(market: object) -> None:
    assert isinstance(market, dict)
    assert market["status"] == "finished" and market["mode"] == "robust"
    poisoners = set(market["poisoners"])
    rounds = market["rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3, 4, 5, 6]
    assert all(set(r["excluded"]) == poisoners for r in rounds)  # Multi-Krum, every round
    withdrawn = market["withdrawn"]
    assert not poisoners & set(withdrawn)
    assert len(withdrawn) == 8 and len(set(withdrawn.values())) == 1
    assert sum(withdrawn.values()) == market["reward"]  # excluded shares went to the kept
    assert market["accuracy_after"] >= market["accuracy_before"] + 0.1


def check_apimarket(api: object) -> None:
    from mercato.protocols.apimarket import scenario

    assert isinstance(api, dict)
    assert api["status"] == "ended"
    assert api["benchmarked"] >= 0.9  # the P4 executors' score, shown by the registration
    calls = sum(api["calls"].values())
    # one batch of every call: two steps each (two layer blocks), each charged the price
    assert api["batches"] == [
        {"epoch": 0, "calls": calls, "steps": 2 * calls, "total": calls * scenario.OFFER.price}
    ]
    assert api["failovers"] >= 1  # vendor-1 was killed
    # the audit caught the cheater, and only it; the committee slashed it
    (dispute,) = api["disputes"]
    assert (dispute["accused"], dispute["outcome"], dispute["slashed"]) == (
        "vendor-5", "liar", ["vendor-5"]
    )  # fmt: skip
    withdrawn = api["withdrawn"]
    price, shares = scenario.OFFER.price, sum(scenario.OFFER.shares)
    assert withdrawn["hospital-1"] == scenario.DEPOSIT - api["calls"]["hospital-1"] * price
    assert withdrawn["hospital-2"] == (
        scenario.DEPOSIT - api["calls"]["hospital-2"] * price + dispute["to_consumer"]
    )
    assert withdrawn["mlaas-provider"] == calls * (price - shares)
    assert withdrawn["orchestrator"] == scenario.OFFER.orchestrator_stake
    assert withdrawn["vendor-5"] < scenario.OFFER.vendor_stake  # its stake is gone
    assert api["same_as_whole"] < 1.0 and api["accuracy_whole"] >= 0.9


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
    result = CliRunner().invoke(app, ["demo", "--only", "auction"])

    assert result.exit_code == 0, result.output
    for heading in ("Requirements", "SLA (winners)", "Withdrawn", "Gas per operation"):
        assert heading in result.stdout
    assert "collaborative training" not in result.stdout


def test_demo_prints_the_training_report() -> None:
    result = CliRunner().invoke(app, ["demo", "--only", "training"])

    assert result.exit_code == 0, result.output
    for heading in ("Rounds", "Fraud reported on chain", "lazy-cloud", "completed"):
        assert heading in result.stdout
    assert "SLA (winners)" not in result.stdout


def test_demo_prints_the_data_market_report() -> None:
    result = CliRunner().invoke(app, ["demo", "--only", "datamarket"])

    assert result.exit_code == 0, result.output
    for heading in ("Rounds as recorded on chain", "data-owner-4", "accuracy", "finished"):
        assert heading in result.stdout
    assert "Fraud reported on chain" not in result.stdout


def test_demo_refuses_an_unknown_part() -> None:
    result = CliRunner().invoke(app, ["demo", "--only", "everything"])

    assert result.exit_code == 1
    assert isinstance(result.exception, InputError)
    assert "--only must be one of all, auction, training" in str(result.exception)
