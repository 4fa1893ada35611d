"""The throughput benchmark: rows of the right shape, bids that really land (no timings)."""

from __future__ import annotations

import pytest

from mercato.bench.chain import (
    PIPELINED,
    REFERENCE_TX_PER_S,
    SEQUENTIAL,
    BidWorkload,
    Plan,
    measure_pipelined,
    measure_sequential,
    plan,
)
from mercato.chain import Chain, RpcChain
from mercato.ontology.category import Category

ROW_KEYS = {
    "workload",
    "backend",
    "mode",
    "tx_per_s",
    "transactions",
    "seconds",
    "reference_tx_per_s",
}


def test_sequential_row_counts_every_transaction(chain: Chain) -> None:
    done: list[int] = []

    row = measure_sequential(chain, 12, progress=done.append)

    payload = row.as_dict()
    assert set(payload) == ROW_KEYS
    assert (payload["backend"], payload["mode"]) == (chain.backend, SEQUENTIAL)
    assert payload["transactions"] == 12 == sum(done)
    assert payload["seconds"] > 0
    assert payload["tx_per_s"] > 0


@pytest.mark.rpc
def test_pipelined_row_counts_every_transaction(rpc_chain: RpcChain) -> None:
    done: list[int] = []

    row = measure_pipelined(rpc_chain, 20, batch=7, progress=done.append)

    assert (row.backend, row.mode, row.transactions) == ("rpc", PIPELINED, 20)
    assert done == [7, 7, 6]
    assert row.seconds > 0
    assert row.tx_per_s > 0


def test_bids_of_the_workload_land_in_order(chain: Chain) -> None:
    workload = BidWorkload(chain)
    before = workload.house.auction(workload.auction_id).bids

    chain.send_many(workload.requests(3, 9, workload.gas * 2))

    after = workload.house.auction(workload.auction_id)
    # every category's best bid is its bidder's last, lower than before
    assert after.bidders == tuple(b.address for b in workload.bidders)
    assert all(a < b for a, b in zip(after.bids, before, strict=True))
    assert after.bids[Category.INFRASTRUCTURE] == min(after.bids)


def test_plan_adds_the_rpc_rows_only_with_a_node() -> None:
    assert plan(None, 5) == [
        Plan("embedded", SEQUENTIAL, 5, "probe"),
        Plan("embedded", SEQUENTIAL, 5, "bid"),
    ]
    assert [(p.backend, p.mode, p.workload) for p in plan("http://127.0.0.1:8545")] == [
        ("embedded", SEQUENTIAL, "probe"),
        ("rpc", SEQUENTIAL, "probe"),
        ("rpc", PIPELINED, "probe"),
        ("embedded", SEQUENTIAL, "bid"),
        ("rpc", SEQUENTIAL, "bid"),
        ("rpc", PIPELINED, "bid"),
    ]


def test_only_the_probe_rows_compare_with_the_reference_figures(chain: Chain) -> None:
    probe = measure_sequential(chain, 7, workload_name="probe")
    bid = measure_sequential(chain, 3, workload_name="bid")

    assert (probe.workload, probe.transactions) == ("probe", 7)
    assert probe.reference == REFERENCE_TX_PER_S[(chain.backend, SEQUENTIAL)]
    assert bid.reference is None
