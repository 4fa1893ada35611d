"""P3 from the command line with the participants' own files: the model owner posts from its
raw digits file, data owners join with theirs, ``datamarket model`` writes the final model
and its metrics; agents do the same with ``--data``; bad files are refused in one line."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from mercato.errors import MercatoError
from mercato.ml.model_files import read_model, write_model
from mercato.protocols.datamarket.owner_data import of_file
from mercato.user_files import DataFile

from .datamarket_helpers import DATA_OWNERS, PER_UPDATE, register_data_owners
from .helpers import MODEL, Cli, address
from .training_helpers import agent_logs, spawn_daemon, stop_all

pytestmark = pytest.mark.rpc

LABEL = "digit"
MO_ROWS = 400


def _write_csv(path: Path, X: np.ndarray, y: np.ndarray, names: list[str]) -> Path:
    np.savetxt(path, np.column_stack([X, y]), delimiter=",", header=",".join([*names, LABEL]),
               comments="", fmt="%d")  # fmt: skip
    return path


def _files(folder: Path, owners: int) -> tuple[Path, list[Path]]:
    """Raw digits: the MO's first 400 rows, then every DO's share of the rest."""
    X, y = load_digits(return_X_y=True)
    names = [f"pixel_{i}" for i in range(X.shape[1])]
    mo = _write_csv(folder / "mo.csv", X[:MO_ROWS], y[:MO_ROWS], names)
    dos = [
        _write_csv(
            folder / f"do-{i}.csv", X[MO_ROWS + i :: owners], y[MO_ROWS + i :: owners], names
        )
        for i in range(owners)
    ]
    return mo, dos


def _post(cli: Cli, mo: Path, owners: int, rounds: int, *extra: object) -> dict[str, Any]:
    reward = f"{PER_UPDATE * owners * rounds}wei"
    posted: dict[str, Any] = cli.json(
        "datamarket", "post", "--data", mo, "--label", LABEL, "--data-owners", owners,
        "--rounds", rounds, "--mode", "robust", "--reward", reward, "--account", MODEL, *extra,
    )  # fmt: skip
    return posted


def test_a_task_of_own_files_runs_and_exports_its_final_model(market_cli: Cli) -> None:
    cli = market_cli
    register_data_owners(cli)
    mo, dos = _files(cli.home, 3)
    owners = DATA_OWNERS[:3]
    posted = _post(cli, mo, 3, 2)
    task_id = posted["id"]
    joined = [
        cli.json(
            "datamarket", "join", task_id, "--data", csv, "--label", LABEL, "--account", account
        )
        for csv, account in zip(dos, owners, strict=True)
    ]
    for account in owners:
        cli.ok("datamarket", "act", task_id, "--account", account)
    cli.ok("datamarket", "aggregate", task_id, "--account", MODEL)
    kept = dos[0].read_bytes()
    dos[0].write_text("\n".join(dos[0].read_text().splitlines()[:-1]) + "\n")  # a row less
    changed = cli("datamarket", "act", task_id, "--account", owners[0])
    dos[0].write_bytes(kept)  # put back: the round goes on
    cli.ok("datamarket", "act", task_id, "--data", dos[0], "--label", LABEL,
           "--account", owners[0])  # fmt: skip
    for account in owners[1:]:
        cli.ok("datamarket", "act", task_id, "--account", account)
    cli.ok("datamarket", "aggregate", task_id, "--account", MODEL)
    finished = cli.json("datamarket", "finish", task_id, "--account", MODEL)
    out = cli.home / "final.skops"
    taken = cli.json("datamarket", "model", task_id, "--out", out, "--account", MODEL)
    shown = cli.ok("datamarket", "show", task_id).stdout
    text = cli.ok("datamarket", "model", task_id, "--out", cli.home / "again.skops",
                  "--account", MODEL).stdout  # fmt: skip

    assert posted["spec"]["model"]["n_features"] == 64
    assert [j["digest"] for j in joined] == [DataFile.read(d, LABEL)[0].digest for d in dos]
    assert changed.exit_code == 1 and "changed since you joined task" in str(changed.exception)
    assert "\n" not in str(changed.exception)
    # the export scales raw rows itself and scores what `finish` measured
    held_out = of_file(DataFile.read(mo, LABEL)[1], 0).test
    reloaded = read_model(out)
    accuracy = float(np.mean(reloaded.predict(held_out.X) == held_out.y))
    assert taken["metrics"]["accuracy"] == pytest.approx(finished["accuracy_after"])
    assert accuracy == pytest.approx(finished["accuracy_after"])
    metrics = json.loads((cli.home / "final.metrics.json").read_text())
    assert metrics["metrics"] == taken["metrics"] and metrics["protocol"] == "datamarket"
    assert [r["round"] for r in metrics["reported"]["rounds"]] == [1, 2]
    assert all(0 < r["accuracy"] <= 1 for r in metrics["reported"]["rounds"])
    assert taken["files"] == [str(out), str(cli.home / "final.metrics.json")]
    assert "round 2: public model accuracy" in text
    assert "64 named features, classes 0, 1, 2" in shown


@pytest.fixture
def own_task(market_cli: Cli) -> tuple[Cli, int, list[Path]]:
    """A task posted from the MO's file, waiting for its data owners."""
    cli = market_cli
    register_data_owners(cli)
    mo, dos = _files(cli.home, 3)
    return cli, _post(cli, mo, 3, 1)["id"], [mo, *dos]


def _state(cli: Cli) -> tuple[Any, ...]:
    market = cli.market()
    dm = market.data_market
    files = sorted((p.name, p.read_bytes()) for p in (cli.home / "agents").iterdir())
    tasks = [dm.task(i) for i in range(1, dm.next_task_id())]
    return market.chain.block_number(), tasks, files


def test_bad_own_data_changes_nothing(own_task: tuple[Cli, int, list[Path]]) -> None:
    cli, task_id, (mo, do, *_) = own_task
    X, y = load_digits(return_X_y=True)
    narrow = _write_csv(cli.home / "narrow.csv", X[:50, :10], y[:50], [f"p{i}" for i in range(10)])
    renamed = _write_csv(cli.home / "renamed.csv", X[:50], y[:50], [f"q{i}" for i in range(64)])
    linear = write_model(
        cli.home / "linear.skops", LogisticRegression(max_iter=2000).fit(X[:300], y[:300])
    )
    join = ("datamarket", "join", task_id, "--account", DATA_OWNERS[0])
    cases = {
        "features that do not fit": (
            (*join, "--data", narrow, "--label", LABEL),
            f"task {task_id}'s model takes 64 features; 'narrow' has 10",
        ),
        "columns the task does not take": (
            (*join, "--data", renamed, "--label", LABEL),
            "'renamed' has no column 'pixel_0'",
        ),
        "a label column the file lacks": ((*join, "--data", do, "--label", "y"), "no label column"),
        "a file and a part": (
            (*join, "--data", do, "--label", LABEL, "--dataset", "digits", "--part", 0),
            "pass --dataset and --part, or your own file (--data), not both",
        ),
        "no data": (join, "no data: pass your own file"),
        "a label without a file": (
            (*join, "--dataset", "digits", "--part", 0, "--label", LABEL),
            "--label and --schema describe a data file",
        ),
        "a cut of a task posted from a file": (
            (*join, "--dataset", "digits", "--part", 0),
            f"task {task_id} was posted from the model owner's own file",
        ),
        "posting from a sample set and a file": (
            (
                "datamarket",
                "post",
                "--dataset",
                "digits",
                "--data",
                mo,
                "--label",
                LABEL,
                "--data-owners",
                3,
                "--rounds",
                1,
                "--mode",
                "robust",
                "--reward",
                "0.003",
                "--account",
                MODEL,
            ),
            "pass --dataset or --data, not both",
        ),
        "a model with no hidden layer": (
            (
                "datamarket",
                "post",
                "--data",
                mo,
                "--label",
                LABEL,
                "--model",
                linear,
                "--data-owners",
                3,
                "--rounds",
                1,
                "--mode",
                "robust",
                "--reward",
                "0.003",
                "--account",
                MODEL,
            ),
            "a LogisticRegression has no hidden layers the data owners could train",
        ),
        "a model file type": (
            ("datamarket", "model", task_id, "--out", cli.home / "m.txt", "--account", MODEL),
            "name the model file *.skops",
        ),
        "the model of a task not over": (
            ("datamarket", "model", task_id, "--out", cli.home / "m.skops", "--account", MODEL),
            f"task {task_id} is joining",
        ),
        "the model by another account": (
            (
                "datamarket",
                "model",
                task_id,
                "--out",
                cli.home / "m.skops",
                "--account",
                DATA_OWNERS[0],
            ),
            f"only the model owner of task {task_id}",
        ),
        "an agent with a file and a part": (
            (
                "agent",
                "run",
                "--once",
                "--role",
                "market-data-owner",
                "--data",
                do,
                "--label",
                LABEL,
                "--data-owners",
                3,
                "--part",
                0,
                "--account",
                DATA_OWNERS[0],
            ),
            "your own file (--data) is used whole",
        ),
    }
    before = _state(cli)

    outcomes = {name: (cli(*args), message) for name, (args, message) in cases.items()}

    for name, (result, message) in outcomes.items():
        assert result.exit_code == 1, name
        assert isinstance(result.exception, MercatoError), (name, result.output)
        assert message in str(result.exception), (name, str(result.exception))
        assert "\n" not in str(result.exception), name
    assert _state(cli) == before


COMPLETION_TIMEOUT_S = 120
POLL_S = 0.5


def test_agents_with_own_files_run_a_task_and_write_the_final_model(
    own_task: tuple[Cli, int, list[Path]],
) -> None:
    cli, task_id, (mo, *dos) = own_task
    roles = {
        f"data-owner-{i}": (
            "--role",
            "market-data-owner",
            "--data",
            csv,
            "--label",
            LABEL,
            "--account",
            account,
        )
        for i, (csv, account) in enumerate(zip(dos, DATA_OWNERS, strict=False))
    }
    roles["model-owner"] = ("--role", "market-model-owner", "--data", mo, "--label", LABEL,
                            "--account", MODEL)  # fmt: skip
    logs = cli.home / "logs"
    logs.mkdir()
    final = cli.home / "agents" / f"task-{task_id}" / "final.skops"

    processes = {name: spawn_daemon(cli, logs / f"{name}.log", *a) for name, a in roles.items()}
    try:
        _wait_for(final.with_name("final.metrics.json"), processes, logs)
        shown = _wait_until_withdrawn(cli, task_id, processes, logs)
        kept = f"task {task_id} round 1: update kept"
        _wait_for_line(logs / "data-owner-0.log", kept, processes, logs)
    finally:
        codes = stop_all(processes)
    finished = cli.json("datamarket", "finish", task_id, "--account", MODEL)

    assert codes == dict.fromkeys(roles, 0), agent_logs(logs)
    assert shown["outcome"] == {"status": "finished", "paid": 3 * PER_UPDATE, "refund": 0}
    metrics = json.loads(final.with_name("final.metrics.json").read_text())
    assert metrics["metrics"]["accuracy"] == pytest.approx(finished["accuracy_after"])
    assert read_model(final).predict(np.zeros((1, 64))).shape == (1,)
    do_log = (logs / "data-owner-0.log").read_text()
    assert f"task {task_id} round 1: submitted update (reward 0.001000 ETH if kept)" in do_log
    assert f"task {task_id} round 1: update kept" in do_log
    mo_log = (logs / "model-owner.log").read_text()
    assert f"task {task_id} round 1: aggregated 3 update(s), excluded none, accuracy 0." in mo_log
    assert "0.001000 ETH owed to each kept data owner" in mo_log
    assert f"{finished['accuracy_after']:.1%} right on" in mo_log
    assert str(final) in mo_log
    assert address(DATA_OWNERS[0]) in [m["address"] for m in shown["members"]]


def _wait_for(path: Path, processes: dict[str, subprocess.Popen[str]], logs: Path) -> None:
    _wait_until(path.exists, f"{path} never written", processes, logs)


def _wait_for_line(
    log: Path, line: str, processes: dict[str, subprocess.Popen[str]], logs: Path
) -> None:
    """Until ``log`` says ``line``: an agent may withdraw (a tick) before it has logged the
    event that paid it, when the event's block is not yet confirmed to its poller."""
    _wait_until(lambda: line in log.read_text(), f"{log} never said {line!r}", processes, logs)


def _wait_until(
    ready: Callable[[], bool], failure: str, processes: dict[str, subprocess.Popen[str]], logs: Path
) -> None:
    deadline = time.monotonic() + COMPLETION_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready():
            return
        dead = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
        assert not dead, f"agents exited early: {dead}\n{agent_logs(logs)}"
        time.sleep(POLL_S)
    raise AssertionError(f"{failure}\n{agent_logs(logs)}")


def _wait_until_withdrawn(
    cli: Cli, task_id: int, processes: dict[str, subprocess.Popen[str]], logs: Path
) -> dict[str, Any]:
    deadline = time.monotonic() + COMPLETION_TIMEOUT_S
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        shown = cli.json("datamarket", "show", task_id)
        if shown["outcome"] is not None and not any(shown["owed"].values()):
            return shown
        time.sleep(POLL_S)
    raise AssertionError(f"task {task_id} not paid out: {shown}\n{agent_logs(logs)}")
