"""P2 through the command line with own files: a data owner offers the clinic's CSV, the
model owner starts from its own .skops and measures on its hold-out, agents as processes;
the model owner's agent and `training export` write the same model, which scores as
reported. Bad files and options are refused in one line with the chain unchanged."""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sklearn.linear_model import LogisticRegression

from mercato.chain import Anvil
from mercato.ml.data_files import read_data
from mercato.ml.model_files import write_model
from mercato.ml.schema import DataSchema

from .helpers import DATA, MODEL, Cli, address, module_market, point_settings_at, run_main
from .training_helpers import COMPUTES, agent_logs, register_computes, spawn_daemon, stop_all

pytestmark = pytest.mark.rpc

CLINIC = Path(__file__).parents[2] / "examples" / "clinic"
PATIENTS, HOLDOUT, SCHEMA = (
    CLINIC / "patients.csv", CLINIC / "holdout.csv", CLINIC / "patients.schema.json"
)  # fmt: skip
ON_HOLDOUT = ("--data", HOLDOUT, "--schema", SCHEMA)
COMPLETION_TIMEOUT_S = 240


def offer_clinic(cli: Cli, *data: object) -> dict[str, Any]:
    cos = [arg for index in COMPUTES for arg in ("--compute-provider", address(index))]
    offered: dict[str, Any] = cli.json(
        "training", "dataset", "offer", *data, "--subsets", 2, "--replicas", 2,
        "--max-class-fraction", "0.8", "--min-missing-classes", 0, *cos,
        "--data-price", "0.1", "--job-price", "0.01", "--account", DATA,
    )  # fmt: skip
    return offered


def own_model(folder: Path) -> Path:
    """The MO's own logistic regression, fit on the first 100 rows of its hold-out."""
    rows = read_data(HOLDOUT, schema=DataSchema.read(SCHEMA))
    return write_model(folder / "own.skops", LogisticRegression(max_iter=2000).fit(
        rows.X[:100], rows.y[:100]))  # fmt: skip


def test_p2_with_own_files_from_offer_to_export(market_cli: Cli) -> None:
    cli = market_cli
    register_computes(cli)
    logs = cli.home / "logs"
    logs.mkdir()
    offered = offer_clinic(cli, "--data", PATIENTS, "--schema", SCHEMA)
    created = cli.json("training", "model", "--trainer", "numpy-logreg", *ON_HOLDOUT,
                       "--model", own_model(cli.home), "--learning-rate", "0.05",
                       "--account", MODEL)  # fmt: skip
    roles = {
        "data-owner": ("--role", "data-owner", "--account", DATA),
        "model-owner": ("--role", "model-owner", *ON_HOLDOUT, "--account", MODEL),
        **{f"compute-{i}": ("--role", "compute-provider", "--account", i) for i in COMPUTES},
    }
    processes = {name: spawn_daemon(cli, logs / f"{name}.log", *a) for name, a in roles.items()}
    try:
        cli.json("training", "request", "--model", created["id"], "--dataset", offered["id"],
                 "--subsets-per-round", 1, "--rounds", 2, "--account", MODEL)  # fmt: skip
        deadline = time.monotonic() + COMPLETION_TIMEOUT_S
        written: list[Path] = []
        while time.monotonic() < deadline and not written:
            written = list(cli.home.rglob("training-1/final.metrics.json"))
            time.sleep(1.0)
    finally:
        codes = stop_all(processes)
    assert written, agent_logs(logs)
    assert codes == dict.fromkeys(roles, 0), agent_logs(logs)

    # what was offered and created: the file's columns, classes and ontology term
    assert offered["manifest"]["features"][:2] == ["age", "bmi"]
    assert offered["manifest"]["labels"] == ["low", "high"]
    assert offered["plan"]["file"]["path"] == str(PATIENTS)
    assert created["start"]["path"].endswith("own.skops")
    assert created["inputs"]["features"] == offered["manifest"]["features"]  # same schema
    assert len(created["inputs"]["mean"]) == 6
    # the MO's agent logged its start, each round's accuracy and the payments in words
    log = (logs / "model-owner.log").read_text()
    assert "round 1 of 2 starts from own.skops" in log
    assert "training 1 round 2: subsets" in log and "accuracy" in log
    assert "ETH to the data owner" in log
    # `training export` rebuilds the model the agent wrote, and it scores as both reported
    agent_metrics = json.loads(written[0].read_text())
    exported = cli.json("training", "export", 1, "--out", cli.home / "final.safetensors",
                        *ON_HOLDOUT, "--account", MODEL)  # fmt: skip
    scored = cli.json("model", "score", cli.home / "final.safetensors", *ON_HOLDOUT)
    accuracy = exported["metrics"]["accuracy"]
    assert exported["model_hash"] == agent_metrics["model_hash"]
    assert agent_metrics["metrics"]["accuracy"] == accuracy
    assert exported["reported"]["rounds"][-1]["accuracy"] == accuracy
    assert f"accuracy {accuracy:.3f} on clinic-patients (200 rows)" in log
    assert scored["metrics"]["accuracy"] == accuracy
    assert accuracy >= 0.8  # the scaling the method publishes lets SGD learn raw columns
    assert exported["files"] == [
        str(cli.home / "final.safetensors"), str(cli.home / "final.metrics.json")
    ]  # fmt: skip


@pytest.fixture(scope="module")
def deployed(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """One market for the bad-input cases, its cast registered; reverted afterwards."""
    with module_market(anvil.url, tmp_path_factory, "cli-training-own-data") as cli:
        register_computes(cli)
        (cli.home / "m.pkl").write_bytes(pickle.dumps({"weights": [1, 2]}))
        yield cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("training", "dataset", "offer", "--dataset", "digits", "--data", PATIENTS,
          "--schema", SCHEMA), "not both"),
        (("training", "dataset", "offer", "--label", "risk"), "pass it with --data"),
        (("training", "dataset", "offer", "--data", HOLDOUT, "--label", "nope"),
         "no label column 'nope'"),
        (("training", "model", "--trainer", "numpy-logreg"), "name the data"),
        (("training", "model", "--trainer", "numpy-logreg", *ON_HOLDOUT, "--model", "m.pkl"),
         "pickles"),
        (("training", "export", 1, "--out", "m.skops"), "name it *.safetensors"),
        (("training", "export", 1, "--out", "m.safetensors"), "training 1"),
    ],
)  # fmt: skip
def test_bad_own_data_options_change_nothing(
    deployed: Cli,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[object, ...],
    message: str,
) -> None:
    # prepare
    cli = deployed
    point_settings_at(monkeypatch, cli.home, cli.url)
    monkeypatch.chdir(cli.home)
    account = MODEL
    if args[:2] == ("training", "dataset"):
        cos = [arg for index in COMPUTES for arg in ("--compute-provider", address(index))]
        args = (*args, "--subsets", 2, "--replicas", 2, *cos, "--data-price", "0.1",
                "--job-price", "0.01")  # fmt: skip
        account = DATA
    head = cli.market().chain.block_number()
    files = sorted(p.name for p in cli.home.rglob("*"))

    # act
    code, out, err = run_main(monkeypatch, capsys, *args, "--account", account)

    # assert
    lines = err.strip().splitlines()
    assert code == 1 and out == "", (code, out, err)
    assert len(lines) == 1 and message in lines[0], err
    assert cli.market().chain.block_number() == head
    assert sorted(p.name for p in cli.home.rglob("*")) == files
