"""The SAIaaS gas scenario: its report's shape, our gas targets, and both backends agreeing."""

from __future__ import annotations

import pytest

from mercato.bench.gas import (
    PAPER_SCENARIO_TOTAL,
    TARGET_ADJUDICATION,
    TARGET_CREATION,
    TARGET_FIRST_BID,
    TARGET_MODIFY_BID,
    TARGET_TOTAL,
    GasReport,
    run_saiaas,
)
from mercato.chain import Chain, EmbeddedChain

BID_NAMES = [
    f"{kind}:{category}"
    for kind in ("first_bid", "modify_bid:undercut", "modify_bid:rebid")
    for category in ("data", "algorithm", "infrastructure")
]


@pytest.fixture(scope="module")
def embedded_report() -> GasReport:
    return run_saiaas(EmbeddedChain())


def test_report_has_the_papers_shape(embedded_report: GasReport) -> None:
    payload = embedded_report.as_dict()

    assert payload["scenario"] == "saiaas"
    assert payload["backend"] == "embedded"
    assert "escrow" in payload["escrow"]
    names = [op["name"] for op in payload["operations"]]
    assert {"name", "gas", "paper_gas"} <= set(payload["operations"][0])
    for part in ("deploy", "create", "first_bid", "modify_bid", "adjudicate"):
        assert any(part in name for name in names), part
    assert payload["total_covers"] == ["create_auction", *BID_NAMES, "adjudicate"]


def test_total_counts_what_the_paper_counts(embedded_report: GasReport) -> None:
    payload = embedded_report.as_dict()
    gas = {op["name"]: op["gas"] for op in payload["operations"]}

    assert payload["total_gas"] == sum(gas[name] for name in payload["total_covers"])
    # the paper's column of the covered rows adds up to the paper's scenario total
    assert payload["paper_total_gas"] == PAPER_SCENARIO_TOTAL
    assert "deploy:auction_house" not in payload["total_covers"]


def test_every_operation_is_within_its_target(chain: Chain) -> None:
    report = run_saiaas(chain)

    assert report.gas("create_auction") <= TARGET_CREATION
    for category in ("data", "algorithm", "infrastructure"):
        assert report.gas(f"first_bid:{category}") <= TARGET_FIRST_BID
        assert report.gas(f"modify_bid:undercut:{category}") <= TARGET_MODIFY_BID
        assert report.gas(f"modify_bid:rebid:{category}") <= TARGET_MODIFY_BID
    assert report.gas("adjudicate") <= TARGET_ADJUDICATION
    assert report.total_gas <= TARGET_TOTAL
    assert all(op.target is None or op.gas <= op.target for op in report.operations)


def test_backend_is_reported(chain: Chain) -> None:
    assert run_saiaas(chain).backend == chain.backend
