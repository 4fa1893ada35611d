"""The training benchmark: the paper flow, trainings in waves, accuracy, the CLI (no timings)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from mercato.bench.training import TrainingBenchReport
from mercato.bench.training_accuracy import (
    CKKS_GAP_GOAL,
    FEDERATED_GAP_GOAL,
    CkksAccuracy,
    FederatedAccuracy,
    ckks_accuracy,
    federated_accuracy,
)
from mercato.bench.training_flow import (
    DATA_PRICE,
    JOB_PRICE,
    PAPER_TRANSACTIONS,
    FlowReport,
    Step,
    timed_flow,
)
from mercato.bench.training_waves import STEPS, measure_waves
from mercato.chain import Anvil, Chain, RpcChain
from mercato.chain.anvil import find_anvil
from mercato.cli.app import app
from mercato.errors import ConfigError
from mercato.protocols.training.market import TrainingMarket, TrainingStatus

PROTOCOL_STEPS = [
    "register", "register", "register", "create_dataset", "create_instance", "join_instance",
    "verify_instance", "create_model", "request_training", "approve_training", "start_round",
    "draw_round", "submit_job", "complete",
]  # fmt: skip
REQUIRED_KEYS = {
    "backend",
    "tx_per_training",
    "chain_seconds_per_training",
    "trainings_per_s",
    "federated_accuracy",
    "centralised_accuracy",
    "ckks_accuracy",
    "plaintext_lr_accuracy",
    "ckks_overhead",
}
WAVE_TRAININGS = 5


def _skip_without_anvil(exc: ConfigError) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the rpc tier, but anvil is missing: {exc}", pytrace=False)
    pytest.skip(f"anvil not installed, rpc tier skipped: {exc}")


@pytest.fixture(scope="module")
def quiet_node() -> Iterator[Anvil]:
    """An anvil that mines only when asked (``evm_mine``), as the benchmark starts it."""
    try:
        node = Anvil(no_mining=True).start()
    except ConfigError as exc:
        _skip_without_anvil(exc)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(autouse=True)
def _no_node_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MERCATO_RPC_URL", "MERCATO_BACKEND", "MERCATO_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def run_json(*args: str) -> Any:
    result = CliRunner().invoke(app, ["bench", "training", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# the paper's flow ---------------------------------------------------------------------------
def test_the_paper_flow_counts_14_protocol_transactions_and_2_withdrawals(chain: Chain) -> None:
    report = timed_flow(chain)

    assert [step.name for step in report.protocol_steps()] == PROTOCOL_STEPS
    assert len(report.protocol_steps()) == PAPER_TRANSACTIONS - 1
    assert [step.name for step in report.steps[len(PROTOCOL_STEPS) :]] == ["withdraw"] * 2
    assert all(step.gas > 0 for step in report.steps)


# trainings in waves -------------------------------------------------------------------------
@pytest.mark.rpc
def test_waves_complete_every_training_and_owe_its_do_and_co(quiet_node: Anvil) -> None:
    chain = RpcChain(quiet_node.url)
    ticks: list[int] = []

    report = measure_waves(chain, WAVE_TRAININGS, progress=ticks.append)

    assert [wave.step for wave in report.waves] == list(STEPS)
    assert [wave.transactions for wave in report.waves] == [3 * WAVE_TRAININGS] + [
        WAVE_TRAININGS
    ] * (len(STEPS) - 1)
    assert report.transactions == (PAPER_TRANSACTIONS - 1) * WAVE_TRAININGS
    assert sum(ticks) == len(STEPS)
    market = TrainingMarket(chain, report.market)
    assert len(set(report.training_ids)) == WAVE_TRAININGS
    for training_id in report.training_ids:
        training = market.training(training_id)
        dataset = market.dataset(training.dataset_id)
        instance_id = market.instance_at(training.dataset_id, 0, 0)
        assert instance_id is not None
        assert training.status is TrainingStatus.COMPLETED
        assert market.owed(dataset.owner) == DATA_PRICE
        assert market.owed(market.instance(instance_id).co) == JOB_PRICE
    # the calibration training and the waves' own, none withdrawn yet
    assert chain.balance(market.address) == (WAVE_TRAININGS + 1) * (DATA_PRICE + JOB_PRICE)
    assert chain.rpc("anvil_getAutomine") is False  # mining on request again, as it started


# accuracy -----------------------------------------------------------------------------------
def test_federated_training_is_within_two_points_of_centralised() -> None:
    result = federated_accuracy()

    assert 0.0 <= result.federated <= 1.0 and 0.0 <= result.centralised <= 1.0
    assert abs(result.gap) <= FEDERATED_GAP_GOAL
    assert result.federated > 0.9


def test_ckks_and_plaintext_logistic_regression_are_scored_alike() -> None:
    result = ckks_accuracy(examples=60, epochs=1)

    assert 0.0 <= result.ckks <= 1.0 and 0.0 <= result.plaintext <= 1.0
    assert abs(result.gap) <= CKKS_GAP_GOAL
    assert (result.train_examples, result.features, result.epochs) == (60, 30, 1)


def test_the_report_carries_accuracy_under_the_issue_keys() -> None:
    steps = [Step(name, "DO", 50_000, 0.01) for name in PROTOCOL_STEPS]
    flow = FlowReport(1, (*steps, Step("withdraw", "DO", 30_000, 0.01)))
    federated = FederatedAccuracy(0.95, 0.96, train_examples=1347, test_examples=450)
    ckks = CkksAccuracy(0.92, 0.93, 8.0, 0.002, 1.0, 200, 369, 30, 3)

    payload = TrainingBenchReport("embedded", flow, federated=federated, ckks=ckks).as_dict()

    assert set(payload) >= REQUIRED_KEYS
    assert (payload["federated_accuracy"], payload["centralised_accuracy"]) == (0.95, 0.96)
    assert (payload["ckks_accuracy"], payload["plaintext_lr_accuracy"]) == (0.92, 0.93)
    assert payload["ckks_overhead"] == 4000
    assert payload["goals"]["federated_within_2_points"] is True
    assert payload["trainings_per_s"] is None


# the command line ---------------------------------------------------------------------------
def test_json_on_the_embedded_chain_leaves_throughput_to_a_node() -> None:
    payload = run_json("--skip-accuracy")

    assert set(payload) >= REQUIRED_KEYS
    assert payload["backend"] == "embedded"
    assert payload["tx_per_training"] == PAPER_TRANSACTIONS - 1
    assert payload["tx_per_training_with_withdrawals"] == PAPER_TRANSACTIONS + 1
    assert payload["paper"]["tx_per_training"] == PAPER_TRANSACTIONS
    assert payload["trainings_per_s"] is None and payload["throughput"] is None
    assert any("--anvil" in note for note in payload["notes"])


@pytest.mark.rpc
def test_json_with_its_own_anvil_runs_the_waves() -> None:
    try:
        find_anvil()
    except ConfigError as exc:
        _skip_without_anvil(exc)

    payload = run_json("--anvil", "--trainings", "2", "--skip-accuracy")

    assert set(payload) >= REQUIRED_KEYS
    assert payload["backend"] == "rpc"
    assert payload["throughput"]["trainings"] == 2
    assert payload["throughput"]["transactions"] == 2 * (PAPER_TRANSACTIONS - 1)
    assert isinstance(payload["trainings_per_s"], float)
    assert payload["federated_accuracy"] is None  # skipped
