"""The P3 flow through the command line: a robust task and a secure round step by step,
agents as separate processes, deadlines, and a wrong aggregate caught by ``check``."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mercato.chain.accounts import dev_account
from mercato.errors import IntegrityError
from mercato.ml.model_parts import apply_update
from mercato.ml.trainers.weights import weights_to_bytes
from mercato.protocols.datamarket import history
from mercato.protocols.datamarket.aggregation import secure_mean
from mercato.protocols.datamarket.data_owner import load_model
from mercato.storage.base import hash_bytes

from .datamarket_helpers import (
    DATA_OWNERS,
    PER_UPDATE,
    act_all,
    join_all,
    post,
    register_data_owners,
)
from .helpers import MODEL, Cli, address
from .training_helpers import agent_logs, spawn_daemon, stop_all

pytestmark = pytest.mark.rpc


def test_robust_task_pays_every_data_owner(market_cli: Cli) -> None:
    cli = market_cli
    register_data_owners(cli)
    posted = post(cli, 4, 2, "robust", "--rule", "multikrum", "--outlier-multiple", 12.5)
    task_id = posted["id"]
    owners = DATA_OWNERS[:4]

    joined = join_all(cli, task_id, 4)
    acted, aggregated = [], []
    for _ in range(2):
        acted.append(act_all(cli, task_id, 4))
        aggregated.append(cli.json("datamarket", "aggregate", task_id, "--account", MODEL))
    checked = cli.json("datamarket", "check", task_id, 2)
    finished = cli.json("datamarket", "finish", task_id, "--account", MODEL)
    chain = cli.market().chain
    before = {account: chain.balance(address(account)) for account in owners}
    withdrawn = {
        account: cli.json("datamarket", "withdraw", "--account", account)["withdrawn"]
        for account in owners
    }
    arrived = {account: chain.balance(address(account)) - before[account] for account in owners}
    shown = cli.json("datamarket", "show", task_id)

    # 2f + 3 <= 4 data owners: Multi-Krum may exclude none (f = 0) but still scores each
    assert (posted["status"], posted["mode"], posted["rule"], posted["max_excluded"]) == (
        "joining", "robust", "multikrum", 0
    )  # fmt: skip
    assert (posted["reward"], posted["per_update"]) == (8 * PER_UPDATE, PER_UPDATE)
    assert posted["outlier_multiple"] == shown["task"]["outlier_multiple"] == 12.5  # on chain
    assert 0.0 < posted["accuracy_before"] <= 1.0
    assert [j["index"] for j in joined] == [0, 1, 2, 3]
    assert (joined[-1]["task"]["status"], joined[-1]["task"]["phase"]) == ("running", "submit")
    assert {(a["phase"], a["posted"]) for r in acted for a in r} == {("submit", "update")}
    for number, result in enumerate(aggregated, start=1):
        assert (result["round"], result["used"], result["excluded"]) == (number, [0, 1, 2, 3], [])
        assert len(result["scores"]) == 4 and result["paid_each"] == PER_UPDATE
    assert aggregated[0]["task"]["round"] == 2 and aggregated[1]["task"]["status"] == "finished"
    assert (checked["ok"], checked["mode"]) == (True, "robust")
    assert finished["accuracy_before"] == posted["accuracy_before"]
    assert 0.0 < finished["accuracy_after"] <= 1.0 and finished["rounds_finalised"] == 2
    assert withdrawn == arrived == dict.fromkeys(owners, 2 * PER_UPDATE)  # anvil is gas-free
    assert shown["outcome"] == {"status": "finished", "paid": 8 * PER_UPDATE, "refund": 0}
    assert [r["finalised"]["paid_each"] for r in shown["rounds"]] == [PER_UPDATE] * 2
    assert [list(r["finalised"]["scores"]) for r in shown["rounds"]] == [["0", "1", "2", "3"]] * 2
    assert not any(shown["owed"].values())
    assert [m["address"] for m in shown["members"]] == [address(a) for a in owners]


def test_secure_round_is_checked_from_public_data(market_cli: Cli) -> None:
    cli = market_cli
    register_data_owners(cli)
    task_id = post(cli, 3, 1, "secure")["id"]

    joined = join_all(cli, task_id, 3)
    phases = [act_all(cli, task_id, 3) for _ in range(3)]
    aggregated = cli.json("datamarket", "aggregate", task_id, "--account", MODEL)
    checked = cli.json("datamarket", "check", task_id, 1)
    withdrawn = cli.json("datamarket", "withdraw", "--account", DATA_OWNERS[0])

    assert joined[-1]["task"]["phase"] == "shares"  # round 1's keys came with the joins
    assert [[a["posted"] for a in p] for p in phases] == [
        ["shares"] * 3, ["update"] * 3, ["reveal"] * 3
    ]  # fmt: skip
    assert phases[-1][-1]["task"]["phase"] == "aggregate"
    assert (aggregated["used"], aggregated["excluded"], aggregated["scores"]) == ([0, 1, 2], [], [])
    assert aggregated["task"]["status"] == "finished"
    assert (checked["ok"], checked["mode"]) == (True, "secure")
    assert withdrawn == {"address": address(DATA_OWNERS[0]), "withdrawn": PER_UPDATE}


COMPLETION_TIMEOUT_S = 120
POLL_S = 0.5


def test_agent_processes_run_a_task_and_exclude_the_poisoner(market_cli: Cli) -> None:
    cli = market_cli
    register_data_owners(cli)
    posted = post(cli, 6, 1, "robust", "--rule", "multikrum", "--max-excluded", 1)
    task_id = posted["id"]
    poisoner = 2
    roles = {
        f"data-owner-{part}": (
            "--role", "market-data-owner", "--dataset", "digits", "--data-owners", 6,
            "--part", part, *(("--poison", "scale") if part == poisoner else ()),
            "--account", account,
        )
        for part, account in enumerate(DATA_OWNERS)
    }  # fmt: skip
    roles["model-owner"] = ("--role", "market-model-owner", "--dataset", "digits",
                            "--account", MODEL)  # fmt: skip
    logs = cli.home / "logs"
    logs.mkdir()

    # one process per participant, each its own `mercato agent run`
    processes = {name: spawn_daemon(cli, logs / f"{name}.log", *a) for name, a in roles.items()}
    try:
        shown = _wait_until_withdrawn(cli, task_id, processes, logs)
        tuned = _wait_for_log(logs / "model-owner.log", "private head fine-tuned", processes)
    finally:
        codes = stop_all(processes)
    finished = cli.json("datamarket", "finish", task_id, "--account", MODEL)

    assert codes == dict.fromkeys(roles, 0), agent_logs(logs)
    [round_one] = shown["rounds"]
    assert shown["outcome"] == {"status": "finished", "paid": 6 * PER_UPDATE, "refund": 0}
    excluded = round_one["finalised"]["excluded"]
    members = [m["address"] for m in shown["members"]]  # in join order, not part order
    assert [members[i] for i in excluded] == [address(DATA_OWNERS[poisoner])]  # Multi-Krum
    assert round_one["finalised"]["paid_each"] == PER_UPDATE + PER_UPDATE // 5
    # the agent fine-tuned the head the post recorded: the command gets the same accuracy
    assert f"{finished['accuracy_after']:.1%}" in tuned


def _wait_until_withdrawn(
    cli: Cli, task_id: int, processes: dict[str, subprocess.Popen[str]], logs: Path
) -> dict[str, Any]:
    """``datamarket show --json`` once the task ended and every agent withdrew."""
    deadline = time.monotonic() + COMPLETION_TIMEOUT_S
    shown: dict[str, Any] = {}
    while time.monotonic() < deadline:
        shown = cli.json("datamarket", "show", task_id)
        if shown["outcome"] is not None and not any(shown["owed"].values()):
            return shown
        dead = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
        assert not dead, f"agents exited early: {dead}\n{agent_logs(logs)}"
        time.sleep(POLL_S)
    raise AssertionError(f"task {task_id} not paid out: {shown}\n{agent_logs(logs)}")


def _wait_for_log(log: Path, text: str, processes: dict[str, subprocess.Popen[str]]) -> str:
    """The first line of ``log`` holding ``text``, waiting for it to be written."""
    deadline = time.monotonic() + COMPLETION_TIMEOUT_S
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if text in line:
                return line
        time.sleep(POLL_S)
    raise AssertionError(f"{log.name} never said {text!r}:\n{log.read_text()}")


def test_deadlines_free_the_money_of_silent_parties(market_cli: Cli) -> None:
    cli = market_cli
    register_data_owners(cli)
    chain = cli.market().chain
    unfilled = post(cli, 3, 1, "robust", "--join-period", 600)["id"]
    cli.ok("datamarket", "join", unfilled, "--dataset", "digits", "--part", 0,
           "--account", DATA_OWNERS[0])  # fmt: skip
    silent_mo = post(cli, 3, 1, "robust", "--aggregate-period", 600)["id"]
    join_all(cli, silent_mo, 3)
    act_all(cli, silent_mo, 3)

    chain.time_travel(600)
    cancelled = cli.json("datamarket", "advance", unfilled, "--account", DATA_OWNERS[1])
    claimed = cli.json("datamarket", "claim", silent_mo, "--account", DATA_OWNERS[1])
    refunded = cli.json("datamarket", "withdraw", "--account", MODEL)
    paid = cli.json("datamarket", "withdraw", "--account", DATA_OWNERS[2])
    no_head_to_tune = cli("datamarket", "finish", unfilled, "--account", MODEL)

    assert (cancelled["status"], cancelled["locked"], cancelled["left_out"]) == (
        "cancelled", 0, []
    )  # fmt: skip
    assert (claimed["status"], claimed["paid"], claimed["paid_each"], claimed["refund"]) == (
        "expired", 3, PER_UPDATE, 0
    )  # fmt: skip
    assert refunded["withdrawn"] == 3 * PER_UPDATE  # the cancelled task's reward
    assert paid["withdrawn"] == PER_UPDATE
    assert no_head_to_tune.exit_code == 1
    assert "was cancelled before it started" in str(no_head_to_tune.exception)


def test_check_exposes_a_wrong_secure_aggregate(market_cli: Cli) -> None:
    cli = market_cli
    register_data_owners(cli)
    task_id = post(cli, 3, 1, "secure")["id"]
    join_all(cli, task_id, 3)
    for _ in range(3):
        act_all(cli, task_id, 3)
    # the model owner finalises the true mean shifted a little, bypassing the command
    market = cli.market()
    wrong = (secure_mean(market, task_id, 1).mean + np.float32(0.01)).astype(np.float32)
    before = load_model(market, history.model_before(market.data_market, task_id, 1))
    market.data_market.finalise_round(
        dev_account(MODEL),
        task_id,
        model_hash=hash_bytes(market.store.put(weights_to_bytes(apply_update(before, wrong)))),
        aggregate_hash=hash_bytes(market.store.put(weights_to_bytes(wrong))),
    )

    result = cli("datamarket", "check", task_id, 1)

    assert result.exit_code == 1
    assert isinstance(result.exception, IntegrityError)
    assert "the published aggregate is not the sum of the masked updates" in str(result.exception)
