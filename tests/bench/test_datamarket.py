"""The P3 data-market benchmark: chain flows and gas, secure aggregation, epochs, accuracy, the
report and the CLI, at small sizes on the embedded chain (no timings asserted)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from mercato.bench.datamarket import ChainPart, DataMarketBenchReport, dropouts_for, measure_chain
from mercato.bench.datamarket_accuracy import (
    DEMO,
    MarketAccuracy,
    market_accuracy,
    poisoner_indices,
)
from mercato.bench.datamarket_chain import (
    BLOCK_GAS_LIMIT,
    DO_ROUND_STEPS,
    bound_of,
    excluded_indices,
    update_on_chain_gas,
)
from mercato.bench.datamarket_secagg import (
    HIDDEN_100K,
    EpochCost,
    SecAggCost,
    epoch_cost,
    secagg_cost,
)
from mercato.chain import Anvil, EmbeddedChain, RpcChain
from mercato.cli.app import app
from mercato.errors import ConfigError, InputError
from mercato.protocols.datamarket.market import Mode

DATA_OWNERS = 5
"""Small, yet the robust rule may exclude one DO (the contract allows (n - 3) // 2)."""
ACCURACY_OWNERS = 7
"""The fewest DOs for which Multi-Krum tolerates the demo's two poisoners (n >= 2f + 3)."""
PARAMETERS = 3_000
REQUIRED_KEYS = {
    "backend",
    "chain_seconds",
    "chain_seconds_robust",
    "chain_seconds_waves",
    "paper_chain_seconds",
    "gas_per_do_round",
    "gas_per_do_round_robust",
    "gas_update_on_chain",
    "gas_update_on_chain_formula",
    "accuracy_before",
    "accuracy_after_honest",
    "accuracy_after_poisoned_robust",
    "accuracy_after_poisoned_undefended",
    "secagg_seconds",
    "secagg",
    "epoch_seconds",
}


def secure_transactions(n: int) -> int:
    """post_task, n joins, n posts in SHARES, SUBMIT and REVEAL, finalise, n withdrawals."""
    return 1 + n + 3 * n + 1 + n


def robust_transactions(n: int) -> int:
    """post_task, n joins, n submits, finalise, a withdrawal by each DO not excluded."""
    return 1 + n + n + 1 + (n - bound_of(Mode.ROBUST, n))


@pytest.fixture(autouse=True)
def _no_node_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MERCATO_RPC_URL", "MERCATO_BACKEND", "MERCATO_CONFIG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def chain_part() -> Iterator[ChainPart]:
    chain = EmbeddedChain()
    try:
        yield measure_chain(chain, DATA_OWNERS, repeats=1)
    finally:
        chain.close()


@pytest.fixture(scope="module")
def secagg() -> SecAggCost:
    return secagg_cost(DATA_OWNERS, PARAMETERS, dropouts=dropouts_for(DATA_OWNERS), repeats=1)


@pytest.fixture(scope="module")
def epochs() -> tuple[EpochCost, EpochCost]:
    return (
        epoch_cost(HIDDEN_100K, repeats=1),
        epoch_cost(None, repeats=1),
    )


@pytest.fixture(scope="module")
def accuracy() -> MarketAccuracy:
    return market_accuracy(
        ACCURACY_OWNERS, rounds=1, local_epochs=1, rules=("mean", "multikrum"), kinds=("scale",)
    )


# the chain ----------------------------------------------------------------------------------
def test_a_whole_market_sends_every_phase_of_one_round_and_pays(chain_part: ChainPart) -> None:
    secure, robust = chain_part.secure.flows[0], chain_part.robust.flows[0]

    assert secure.transactions == secure_transactions(DATA_OWNERS)
    assert robust.transactions == robust_transactions(DATA_OWNERS)
    assert [name for name in secure.by_name()] == [
        "post_task", "join", "post_shares", "submit", "reveal", "finalise_round", "withdraw",
    ]  # fmt: skip
    assert [name for name in robust.by_name()] == [
        "post_task", "join", "submit", "finalise_round", "withdraw",
    ]  # fmt: skip
    assert all(step.gas > 0 for step in (*secure.steps, *robust.steps))
    assert chain_part.waves_secure == () and chain_part.waves_robust == ()  # embedded: no waves


def test_a_secure_round_costs_a_do_more_gas_than_a_robust_one(chain_part: ChainPart) -> None:
    secure, robust = chain_part.gas_secure, chain_part.gas_robust

    assert list(secure.steps) == list(DO_ROUND_STEPS[Mode.SECURE])  # KEYS included
    assert list(robust.steps) == list(DO_ROUND_STEPS[Mode.ROBUST])
    assert all(gas > 0 for gas in (*secure.steps.values(), *robust.steps.values()))
    assert secure.total == sum(secure.steps.values()) + math.ceil(secure.finalise / DATA_OWNERS)
    assert secure.total > robust.total > 0


def test_storing_an_update_on_chain_costs_more_than_our_whole_round(
    chain_part: ChainPart, epochs: tuple[EpochCost, EpochCost]
) -> None:
    demo = update_on_chain_gas(epochs[1].parameters)
    large = update_on_chain_gas(100_000)

    assert large.gas == 21_000 + 16 * 400_000 + 20_000 * 12_500
    assert demo.gas > chain_part.gas_secure.total
    assert large.gas > demo.gas
    assert demo.fits_block and demo.gas <= BLOCK_GAS_LIMIT
    assert not large.fits_block and large.blocks_needed == math.ceil(large.gas / BLOCK_GAS_LIMIT)


def test_the_robust_market_excludes_the_demo_poisoners_that_exist() -> None:
    assert poisoner_indices(10) == (3, 8)  # data-owner-4 and data-owner-9
    assert excluded_indices(10) == (3, 8)
    assert excluded_indices(DATA_OWNERS) == (3,)  # the contract allows one exclusion of five
    assert excluded_indices(4) == ()


@pytest.mark.rpc
def test_on_anvil_the_markets_also_go_in_waves() -> None:
    try:
        node = Anvil(no_mining=True).start()
    except ConfigError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the rpc tier, but anvil is missing: {exc}", pytrace=False)
        pytest.skip(f"anvil not installed, rpc tier skipped: {exc}")
    chain = RpcChain(node.url)
    try:
        part = measure_chain(chain, DATA_OWNERS, repeats=1)

        assert [w.transactions for w in part.waves_secure] == [secure_transactions(DATA_OWNERS)]
        assert [w.transactions for w in part.waves_robust] == [robust_transactions(DATA_OWNERS)]
        assert [step for step, _, _ in part.waves_secure[0].waves] == [
            "post_task", "join", "post_shares", "submit", "reveal", "finalise_round", "withdraw",
        ]  # fmt: skip
        assert part.gas_secure.total > part.gas_robust.total
        assert chain.rpc("anvil_getAutomine") is False  # mining on request again
    finally:
        chain.close()
        node.stop()


# secure aggregation and training ------------------------------------------------------------
def test_secure_aggregation_unmasks_the_plain_sum_with_and_without_dropouts(
    secagg: SecAggCost,
) -> None:
    payload = secagg.as_dict()

    assert payload["sum_matches_plain_sum"] is True
    assert 0.0 <= payload["max_abs_error"] <= payload["error_bound"] + 1e-6
    assert (payload["data_owners"], payload["parameters"]) == (DATA_OWNERS, PARAMETERS)
    assert payload["dropouts"] == dropouts_for(DATA_OWNERS) == 2
    assert payload["threshold"] == DATA_OWNERS // 2 + 1
    assert secagg.seconds > 0 and secagg.seconds_dropouts > 0
    assert secagg.seconds_with_envelopes > secagg.seconds


def test_secure_aggregation_refuses_more_dropouts_than_the_threshold_survives() -> None:
    with pytest.raises(InputError, match="under the threshold"):
        secagg_cost(4, 100, dropouts=2, repeats=1)


def test_the_epoch_models_have_about_100k_and_the_demo_size_parameters(
    epochs: tuple[EpochCost, EpochCost],
) -> None:
    large, demo = epochs

    assert large.hidden == HIDDEN_100K and 95_000 <= large.parameters <= 105_000
    assert demo.parameters == 6_570  # the demo's 64 -> 64 -> 32 -> 10 public part
    assert large.examples > 0 and large.seconds > 0 and demo.seconds > 0


# accuracy -----------------------------------------------------------------------------------
def test_multikrum_excludes_both_scaling_poisoners_every_round(accuracy: MarketAccuracy) -> None:
    poisoners = poisoner_indices(ACCURACY_OWNERS)

    assert accuracy.f == 2
    assert accuracy.excluded["scale"] == (poisoners,)
    assert accuracy.excluded["honest"] == ((),)  # nobody poisons: nobody excluded
    assert accuracy.fairness()["scale"] == {
        "poisoners_caught": 2,
        "poisoner_rounds": 2,
        "honest_excluded": 0,
    }
    assert accuracy.fairness()["honest"]["honest_excluded"] == 0
    assert accuracy.poisoners["scale"] == {i: "scale" for i in poisoners}
    assert set(accuracy.poisoners[DEMO].values()) == {"scale", "noise"}
    values = [accuracy.before, *accuracy.honest.values()]
    values += [v for rules in accuracy.poisoned.values() for v in rules.values()]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert accuracy.poisoned["scale"]["multikrum"] > accuracy.poisoned["scale"]["mean"]


# the report and the command line ------------------------------------------------------------
def test_the_report_carries_every_key_as_json(
    chain_part: ChainPart,
    secagg: SecAggCost,
    epochs: tuple[EpochCost, EpochCost],
    accuracy: MarketAccuracy,
) -> None:
    report = DataMarketBenchReport(
        "embedded", DATA_OWNERS, chain_part, secagg, epochs[0], epochs[1], accuracy, repeats=1
    )

    payload = json.loads(json.dumps(report.as_dict()))

    assert set(payload) >= REQUIRED_KEYS | {"secagg_seconds_2_dropouts"}
    assert payload["paper_chain_seconds"] == 0.5
    assert (payload["paper_accuracy_before"], payload["paper_accuracy_after"]) == (0.62, 0.83)
    assert payload["accuracy_before"] == round(accuracy.before, 4)
    assert payload["accuracy_after_honest"] == round(accuracy.honest["mean"], 4)
    assert payload["accuracy_after_poisoned_robust"] == round(
        accuracy.poisoned[DEMO]["multikrum"], 4
    )
    assert payload["accuracy_after_poisoned_undefended"] == round(
        accuracy.poisoned[DEMO]["mean"], 4
    )
    assert payload["accuracy"]["fairness_multikrum"] == accuracy.fairness()
    assert payload["accuracy"]["outlier_multiple"] == 15
    assert payload["chain_seconds_waves"] is None
    assert payload["epoch_seconds"] == round(epochs[0].seconds, 4)


def run_json(*args: str) -> Any:
    result = CliRunner().invoke(app, ["bench", "datamarket", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_json_on_the_embedded_chain_without_accuracy() -> None:
    payload = run_json(
        "--skip-accuracy", "--data-owners", "4", "--parameters", "500", "--repeats", "1"
    )

    assert set(payload) >= REQUIRED_KEYS
    assert payload["backend"] == "embedded"
    assert payload["transactions"] == secure_transactions(4)
    assert payload["transactions_robust"] == robust_transactions(4)
    assert isinstance(payload["chain_seconds"], float) and payload["chain_seconds"] > 0
    assert isinstance(payload["gas_per_do_round"], int)
    assert payload["gas_per_do_round"] > payload["gas_per_do_round_robust"] > 0
    for update in payload["gas_update_on_chain"].values():
        assert update["gas"] > payload["gas_per_do_round"]
    assert payload["secagg"]["sum_matches_plain_sum"] is True
    assert payload["secagg"]["parameters"] == 500
    assert payload["accuracy_before"] is None and payload["accuracy"] is None  # skipped
    assert payload["chain_seconds_waves"] is None
    assert any("--anvil" in note for note in payload["notes"])


def test_the_command_refuses_too_few_data_owners() -> None:
    result = CliRunner().invoke(app, ["bench", "datamarket", "--data-owners", "2", "--json"])

    assert result.exit_code != 0
    assert "--data-owners" in result.output


def test_the_table_prints_the_chain_time_beside_the_papers() -> None:
    result = CliRunner().invoke(
        app,
        ["bench", "datamarket", "--skip-accuracy", "--data-owners", "4", "--parameters", "300",
         "--repeats", "1"],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "P3 secure data market (OmniLytics), 4 data owners, embedded" in result.output
    assert "< 0.5" in result.output
    assert "accuracy skipped" in result.output
