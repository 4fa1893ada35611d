"""The P4 model-market benchmark: a whole market's gas, the honest swap, the complaint by
model size, the anchors and the scores, through the real command on the embedded chain (no
timings asserted)."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from mercato.bench.modelmarket_complaint import COMPLAINT_GAS_GOAL, forged_swap, merkle_gas
from mercato.chain import Anvil
from mercato.cli.app import app, main
from mercato.crypto.fairswap import CHUNK_SIZE, check_complaint, max_proof_hashes

REQUIRED_KEYS = {
    "backend",
    "gas_market",
    "swap_transactions",
    "gas_complaint_by_size",
    "anchors",
    "chain_seconds",
    "executor_seconds",
    "scores_agree",
}
SIZES = {"10 kB": 10_000, "1 MB": 1_000_000, "100 MB": 100_000_000}
SELLERS, EXECUTORS, BOUGHT = 4, 3, 2
MARKET_STEPS = {
    "post_request": 1,
    "advance (draw sample)": 1,
    "reveal_sample": 1,
    "submit": SELLERS,
    "volunteer": EXECUTORS,
    "advance (close submissions)": 1,
    "advance (draw executors)": 1,
    "seal": 1 + SELLERS,
    "commit_scores": EXECUTORS,
    "reveal_scores": EXECUTORS,
    "tally": 1,
    "reveal_key": BOUGHT,
    "finish": BOUGHT,
    "withdraw": 1 + SELLERS + EXECUTORS,  # everyone is owed something back
}
"""Every transaction of a whole market, in order of first use, and how many of each."""


@pytest.fixture(autouse=True)
def _no_node_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MERCATO_RPC_URL", "MERCATO_BACKEND", "MERCATO_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def run_json(*args: str) -> Any:
    result = CliRunner().invoke(app, ["bench", "modelmarket", "--repeats", "1", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def payload() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MERCATO_RPC_URL", raising=False)
        patch.delenv("MERCATO_BACKEND", raising=False)
        patch.delenv("MERCATO_CONFIG", raising=False)
        return run_json()


# a whole market -----------------------------------------------------------------------------
def test_the_json_is_one_object_with_every_key(payload: Any) -> None:
    assert isinstance(payload, dict)
    assert set(payload) >= REQUIRED_KEYS
    assert payload["backend"] == "embedded"
    assert payload["repeats"] == 1


def test_every_transaction_of_a_whole_market_has_its_gas(payload: Any) -> None:
    market = payload["gas_market"]
    operations = market["operations"]

    assert {name: row["count"] for name, row in market["by_name"].items()} == MARKET_STEPS
    assert list(market["by_name"]) == list(MARKET_STEPS)  # in the protocol's order
    assert market["transactions"] == len(operations) == sum(MARKET_STEPS.values())
    assert all(isinstance(op["gas"], int) and op["gas"] > 21_000 for op in operations)
    assert market["total"] == sum(op["gas"] for op in operations)
    assert {op["sender"] for op in operations if op["name"] == "submit"} == {
        f"developer-{i}" for i in range(1, SELLERS + 1)
    }


def test_the_honest_swap_is_three_transactions_by_each_seller_paid(payload: Any) -> None:
    swap = payload["swap_transactions"]
    sales = swap["by_seller"]

    assert swap["transactions"] == 3
    assert swap["operations"] == ["reveal_key", "finish", "withdraw"]
    assert len(sales) == BOUGHT
    for steps in sales.values():
        assert all(steps[name] > 0 for name in swap["operations"])
        assert steps["gas"] == sum(steps[name] for name in swap["operations"])
    assert swap["gas"] == max(steps["gas"] for steps in sales.values())


def test_the_buyer_measures_each_model_it_bought_at_the_agreed_score(payload: Any) -> None:
    scores = payload["scores"]
    bought = [s for s in scores if s["measured"] is not None]

    assert payload["scores_agree"] is True
    assert len(scores) == SELLERS
    assert {s["seller"] for s in bought} == set(payload["swap_transactions"]["by_seller"])
    assert all(s["measured"] == s["agreed"] and s["state"] == "paid" for s in bought)
    assert all(s["state"] == "lost" for s in scores if s["measured"] is None)
    assert min(s["agreed"] for s in bought) >= max(
        s["agreed"] for s in scores if s["measured"] is None
    )  # the best two were bought


def test_the_times_are_measured(payload: Any) -> None:
    assert payload["chain_seconds"] > 0 and payload["chain_seconds_runs"] == [
        payload["chain_seconds"]
    ]
    assert 0 < payload["transaction_seconds"] <= payload["chain_seconds"]
    assert payload["executor_seconds"] > 0
    assert len(payload["executor_seconds_runs"][0]) == EXECUTORS


# the complaint ------------------------------------------------------------------------------
def test_the_complaint_grows_with_the_log_of_the_size_and_stays_under_the_goal(
    payload: Any,
) -> None:
    rows = payload["gas_complaint_by_size"]
    gas = [rows[label]["gas"] for label in SIZES]
    depths = [rows[label]["proof_depth"] for label in SIZES]

    assert list(rows) == list(SIZES)
    for label, size in SIZES.items():
        chunks = math.ceil(size / CHUNK_SIZE)
        assert (rows[label]["bytes"], rows[label]["chunks"]) == (size, chunks)
        assert (
            rows[label]["proof_depth"] == max_proof_hashes(chunks) == math.ceil(math.log2(chunks))
        )
    assert depths == [4, 10, 17]
    assert gas[0] < gas[1] < gas[2] < COMPLAINT_GAS_GOAL == payload["complaint_gas_goal"]
    assert payload["complaint_under_goal"] is True
    # 10,000 times the size costs under 1.2 times the gas: the proofs grow, nothing else
    assert gas[2] < 1.2 * gas[0]
    per_level = payload["complaint_gas_per_proof_level"]
    assert per_level == round((gas[2] - gas[0]) / (depths[2] - depths[0]), 1)
    assert 0 < per_level < 3_000


def test_the_anchors_carry_their_numbers_and_sources(payload: Any) -> None:
    anchors = payload["anchors"]
    rows = payload["gas_complaint_by_size"]

    assert set(anchors) == {"fairswap_complaint", "danku_evaluation", "merkle_proof"}
    assert all(anchor["source"] for anchor in anchors.values())
    for label, row in rows.items():
        depth = row["proof_depth"]
        assert anchors["merkle_proof"]["gas_by_size"][label] == 134 * depth + 115
        fairswap = 21_000 + 16 * (1_024 + 64 * depth) + 2 * (134 * depth + 115)
        assert anchors["fairswap_complaint"]["gas_by_size"][label] == fairswap
    danku = anchors["danku_evaluation"]
    assert danku["gas_per_kb_stored"] == 6_068_352
    assert danku["test_set_bytes"] == 640 * 64 * 4 + 640 * 8  # float32 rows, int64 labels
    assert danku["test_set_gas"] == math.ceil(danku["test_set_bytes"] / 1_000 * 6_068_352)
    assert danku["test_set_gas"] > 100 * payload["gas_market"]["total"]  # ours: no data on chain


@pytest.mark.parametrize("size", [1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * CHUNK_SIZE + 7])
def test_a_forged_swap_holds_a_complaint_of_the_trees_full_depth(size: int) -> None:
    swap = forged_swap(size, seed=size)

    assert check_complaint(swap.commitments, swap.key, swap.complaint)
    assert swap.chunks == math.ceil(size / CHUNK_SIZE)
    assert swap.depth == len(swap.complaint.plain_proof) == max_proof_hashes(swap.chunks)
    assert merkle_gas(swap.depth) == 134 * swap.depth + 115


# the command line ---------------------------------------------------------------------------
def test_the_tables_print_without_json() -> None:
    result = CliRunner().invoke(app, ["bench", "modelmarket", "--repeats", "1"])

    assert result.exit_code == 0, result.output
    assert "P4 model market (Golden Grain)" in result.output
    assert "100 MB" in result.output and "6,068,352" in result.output


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, list[str]]:
    """``mercato *args`` through the installed entry point: exit status and stderr lines."""
    monkeypatch.setattr(sys, "argv", ["mercato", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    code = exit_info.value.code
    return code if isinstance(code, int) else 1, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    ("args", "status", "line"),
    [
        (("--repeats", "0"), 2, "Error: Invalid value for '--repeats'"),
        (("--anvil", "--rpc-url", "http://127.0.0.1:1"), 1, "error: pass either an RPC URL"),
    ],
    ids=["repeats 0", "anvil and a url"],
)
def test_a_bad_option_is_one_line(
    args: tuple[str, ...],
    status: int,
    line: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, lines = run_main(monkeypatch, capsys, "bench", "modelmarket", *args, "--json")

    errors = [text for text in lines if text.lower().startswith("error")]
    assert code == status
    assert len(errors) == 1 and errors[0].startswith(line), lines
    assert not any("Traceback" in text for text in lines)


@pytest.mark.rpc
def test_on_anvil_a_market_costs_what_it_costs_embedded(anvil: Anvil, payload: Any) -> None:
    # `anvil` only skips this test where anvil is missing; --anvil starts a fresh node
    node = run_json("--anvil")

    def by_name(report: Any) -> dict[str, int]:
        return {n: row["gas_each"] for n, row in report["gas_market"]["by_name"].items()}

    assert node["backend"] == "anvil"
    assert node["scores_agree"] is True
    assert list(by_name(node)) == list(by_name(payload))
    # salts, keys and draws differ from run to run: calldata and loops move gas a little
    embedded = by_name(payload)
    assert all(abs(gas - embedded[n]) <= 0.05 * embedded[n] for n, gas in by_name(node).items())
    complaints = node["gas_complaint_by_size"]
    assert all(row["gas"] < COMPLAINT_GAS_GOAL for row in complaints.values())
    assert [row["proof_depth"] for row in complaints.values()] == [4, 10, 17]
