"""The P5 API-market benchmark through the real command, small, on the embedded chain:
the JSON's shape and invariants (batched gas falls with the batch size, the failover run's
outputs equal the whole model's, no call charged twice); no timing is asserted."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mercato.bench.apimarket import run_apimarket_bench
from mercato.bench.apimarket_chain import BenchMarket
from mercato.bench.apimarket_gas import BATCH_SIZES, GAS_PER_CALL_GOAL, THREE, signed_call
from mercato.bench.apimarket_serving import ROWS_PER_CALL
from mercato.chain.embedded import EmbeddedChain
from mercato.cli.app import app, main
from mercato.errors import InputError
from mercato.ml.splitting.components import SplitModel
from mercato.protocols.apimarket.records import Batch

pytestmark = pytest.mark.slow  # vendor processes, a model trained and its leaks measured

CALLS = 6
REQUIRED_KEYS = {
    "backend",
    "latency_ms_whole",
    "latency_ms_split",
    "calls_per_s_split",
    "gas_per_call_onchain",
    "gas_per_call_batched",
    "gas_claim",
    "gas_dispute",
    "failover",
    "accuracy_whole",
    "accuracy_best_vendor",
    "accuracy_coalition",
    "anchors",
}


@pytest.fixture(autouse=True)
def _no_node_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MERCATO_RPC_URL", "MERCATO_BACKEND", "MERCATO_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def payload() -> Any:
    with pytest.MonkeyPatch.context() as patch:
        for name in ("MERCATO_RPC_URL", "MERCATO_BACKEND", "MERCATO_CONFIG"):
            patch.delenv(name, raising=False)
        result = CliRunner().invoke(app, ["bench", "apimarket", "--calls", str(CALLS), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_the_json_is_one_object_with_every_key(payload: Any) -> None:
    assert isinstance(payload, dict)
    assert set(payload) >= REQUIRED_KEYS
    assert (payload["backend"], payload["calls"]) == ("embedded", CALLS)
    assert payload["rows_per_call"] == ROWS_PER_CALL


def test_both_paths_are_timed(payload: Any) -> None:
    for path in ("whole", "split"):
        latency = payload[f"latency_ms_{path}"]
        assert 0 < latency["median"] <= latency["p99"]
        assert payload[f"calls_per_s_{path}"] > 0
    ratio = payload["latency_ratio"]
    whole, split = payload["latency_ms_whole"], payload["latency_ms_split"]
    assert ratio["median"] == pytest.approx(split["median"] / whole["median"], rel=1e-2)


def test_batched_gas_per_call_falls_with_the_batch_size_and_meets_the_goal(payload: Any) -> None:
    batched = {int(size): gas for size, gas in payload["gas_per_call_batched"].items()}
    onchain = payload["gas_per_call_onchain"]

    assert list(batched) == list(BATCH_SIZES)
    assert [batched[n] for n in BATCH_SIZES] == sorted(batched.values(), reverse=True)
    assert batched[BATCH_SIZES[-1]] < GAS_PER_CALL_GOAL < onchain
    assert payload["batched_under_goal"] is True
    for batch in payload["gas_batches"]:
        total = batch["commit_batch"] + batch["finalize_batch"]
        assert batch["gas_per_call"] == pytest.approx(total / batch["calls"], abs=0.1)
        assert batch["gas_per_call"] < onchain


def test_base_mode_is_every_step_on_chain(payload: Any) -> None:
    onchain = payload["gas_onchain"]

    assert list(onchain) == ["call_onchain", "record_step", "acknowledge"]
    assert payload["gas_per_call_onchain"] == sum(onchain.values())
    assert payload["anchors"]["paper_base_mode"]["gas_per_call"] == sum(onchain.values())
    assert payload["anchors"]["singularitynet_channels"]["gas_per_call"] == 0


def test_a_claim_and_a_dispute_have_their_gas(payload: Any) -> None:
    claims, disputes = payload["gas_claims"], payload["gas_disputes"]

    assert payload["gas_claim"] == claims["claim"] + claims["answer_claim"]
    assert claims["claim_left_out_paid_at_once"] > 0
    assert list(disputes) == ["dispute", "commit_output", "reveal_output", "resolve"]
    assert payload["gas_dispute"] == sum(disputes.values())
    assert all(gas > 0 for gas in disputes.values())


def test_a_killed_vendor_fails_over_with_identical_outputs_and_no_double_charge(
    payload: Any,
) -> None:
    failover = payload["failover"]

    assert failover["failovers"] >= 1
    assert failover["lost_calls"] == 0
    assert failover["outputs_equal_whole"] is True
    # every call of the split API: warm-up, timed and failover calls, each in the batch once
    assert failover["calls_made"] == 5 + CALLS + failover["calls"]
    assert failover["batch_calls"] == failover["calls_made"]
    assert failover["charged_wei"] == failover["calls_made"] * failover["price_wei"]
    assert failover["charged_once"] is True


def test_protection_puts_each_vendor_below_the_whole_model(payload: Any) -> None:
    vendors = payload["accuracy_vendor"]

    assert len(vendors) == payload["model"]["blocks"] == 3
    assert payload["accuracy_best_vendor"] == max(vendors)
    assert payload["accuracy_best_vendor"] <= payload["accuracy_coalition"]
    assert payload["accuracy_best_vendor"] < payload["accuracy_whole"]
    assert 0 < payload["accuracy_known_only"] < payload["accuracy_whole"]


def test_the_batches_records_are_signed_by_the_parties_keys() -> None:
    from mercato.bench.apimarket import digits_model

    model: SplitModel = digits_model().split
    chain = EmbeddedChain()
    try:
        with tempfile.TemporaryDirectory() as folder:
            bench = BenchMarket.deploy(chain, Path(folder))
            api, _ = bench.live_api(model, THREE, deposit=0)
            vendors = bench.cast.vendors[:3]
            calls = [signed_call(bench, model, api, seq, THREE, vendors) for seq in (1, 2)]
    finally:
        chain.close()
    market = bench.market.api_market.address
    batch = Batch.build([r for c in calls for r in c.records], len(THREE))

    assert batch.calls == [2] and batch.steps == [2, 2, 2]
    for call in calls:
        assert call.request.signer(market, call.request_sig) == bench.cast.consumer.address
        for receipt, signature, vendor in zip(
            call.receipts, call.receipt_sigs, vendors, strict=True
        ):
            assert receipt.signer(market, signature) == vendor.address
        for assignment, signature in zip(call.assignments, call.assignment_sigs, strict=True):
            assert assignment.signer(market, signature) == bench.cast.orchestrator.address


@pytest.mark.parametrize(
    ("options", "problem"),
    [({"calls": 3}, "calls must be an integer of at least 4"), ({"sizes": [0]}, "batch sizes")],
)
def test_bad_input_is_refused_before_anything_runs(options: Any, problem: str) -> None:
    with pytest.raises(InputError, match=problem):
        run_apimarket_bench(**options)


@pytest.mark.parametrize(
    ("args", "status", "line"),
    [
        (("--calls", "0"), 2, "Error: Invalid value for '--calls'"),
        (("--anvil", "--rpc-url", "http://127.0.0.1:1"), 1, "error: pass either an RPC URL"),
    ],
    ids=["calls 0", "anvil and a url"],
)
def test_a_bad_option_is_one_line(
    args: tuple[str, ...],
    status: int,
    line: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "argv", ["mercato", "bench", "apimarket", *args, "--json"])
    with pytest.raises(SystemExit) as exit_info:
        main()

    lines = capsys.readouterr().err.splitlines()
    errors = [text for text in lines if text.lower().startswith("error")]
    assert exit_info.value.code == status
    assert len(errors) == 1 and errors[0].startswith(line), lines
    assert not any("Traceback" in text for text in lines)
