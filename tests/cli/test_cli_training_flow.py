"""The P2 flow through the command line: commands, and agents as separate processes."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from mercato.protocols.training.market import TrainingStatus

from .helpers import COMPUTE, DATA, MODEL, Cli, address
from .training_helpers import (
    COMPUTE_2,
    COMPUTE_3,
    COMPUTES,
    DATA_PRICE,
    JOB_PRICE,
    agent_logs,
    create_model,
    list_digits,
    register_computes,
    spawn_daemon,
    stop_all,
)

pytestmark = pytest.mark.rpc

COMPLETION_TIMEOUT_S = 240
"""A ceiling for a loaded machine; idle, the agents finish within seconds of starting."""
POLL_S = 1.0


def _wait_until_paid(
    cli: Cli, training_id: int, processes: dict[str, subprocess.Popen[str]], logs: Path
) -> dict[str, Any]:
    """``training show --json`` once the training completed and its agents withdrew all."""
    deadline = time.monotonic() + COMPLETION_TIMEOUT_S
    while time.monotonic() < deadline:
        shown: dict[str, Any] = cli.json("training", "show", training_id)
        if shown["training"]["status"] == "completed" and not any(shown["owed"].values()):
            return shown
        dead = {name: p.returncode for name, p in processes.items() if p.poll() is not None}
        assert not dead, f"agents exited early: {dead}\n{agent_logs(logs)}"
        time.sleep(POLL_S)
    raise AssertionError(f"training {training_id} not paid: {shown}\n{agent_logs(logs)}")


def test_p2_flow_with_agent_processes(market_cli: Cli) -> None:
    cli = market_cli
    register_computes(cli)
    # one process per participant, started first: they load while the commands below run
    logs = cli.home / "logs"
    logs.mkdir()
    roles = {
        "data-owner": ("--role", "data-owner", "--account", DATA),
        "model-owner": ("--role", "model-owner", "--dataset", "digits", "--account", MODEL),
        **{
            f"compute-{index}": ("--role", "compute-provider", "--account", index)
            for index in COMPUTES
        },
    }
    processes = {name: spawn_daemon(cli, logs / f"{name}.log", *a) for name, a in roles.items()}
    try:
        # the DO's agent rebuilds its private listing from the plan `dataset offer` records
        listed = list_digits(cli, 2, 2)
        model_id = create_model(cli)
        requested = cli.json("training", "request", "--model", model_id, "--dataset",
                             listed["id"], "--subsets-per-round", 1, "--rounds", 2,
                             "--account", MODEL)  # fmt: skip
        shown = _wait_until_paid(cli, requested["id"], processes, logs)
    finally:
        codes = stop_all(processes)
    assert codes == dict.fromkeys(roles, 0), agent_logs(logs)

    assert requested["status"] == "requested"
    assert requested["escrowed"] == DATA_PRICE + JOB_PRICE * 1 * 2 * 2
    training = shown["training"]
    assert (training["status"], training["round"], training["jobs"]) == ("completed", 2, 4)
    # the second round draws the subset the first did not (a cycle uses every subset)
    assert sorted(s for r in shown["rounds"] for s in r["subsets"]) == [0, 1]
    assert [(len(r["jobs"]), r["missing"]) for r in shown["rounds"]] == [(2, 0), (2, 0)]
    assert shown["frauds"] == []
    # holders round robin: subset 0 -> COMPUTE, COMPUTE_2; subset 1 -> COMPUTE_3, COMPUTE
    assert shown["payments"] == {
        "data_owner": address(DATA),
        "paid_owner": DATA_PRICE,
        "paid_compute": 4 * JOB_PRICE,
        "compute": {
            address(COMPUTE): 2 * JOB_PRICE,
            address(COMPUTE_2): JOB_PRICE,
            address(COMPUTE_3): JOB_PRICE,
        },
        "refund": 0,
    }
    withdrawn: dict[str, int] = {}
    market = cli.market()
    for event in market.training_market.events(from_block=market.deployment.block):
        if event.name == "Withdrawn":
            withdrawn[event["account"]] = withdrawn.get(event["account"], 0) + event["amount"]
    assert withdrawn == {address(DATA): DATA_PRICE, **shown["payments"]["compute"]}
    assert market.training_market.training(1).status is TrainingStatus.COMPLETED


def test_cancel_refunds_the_model_owner(market_cli: Cli) -> None:
    cli = market_cli
    register_computes(cli)
    listed = list_digits(cli, 2, 3)
    model_id = create_model(cli)
    requested = cli.json("training", "request", "--model", model_id, "--dataset", listed["id"],
                         "--subsets-per-round", 2, "--rounds", 3, "--account", MODEL)  # fmt: skip

    cancelled = cli.json("training", "cancel", requested["id"], "--account", MODEL)
    withdrawn = cli.json("training", "withdraw", "--account", MODEL)

    escrow = DATA_PRICE + JOB_PRICE * 2 * 3 * 3
    assert (cancelled["status"], cancelled["locked"]) == ("cancelled", 0)
    assert withdrawn == {"address": address(MODEL), "withdrawn": escrow}
    shown = cli.json("training", "show", requested["id"])
    assert shown["payments"] == {"refund": escrow, "paid_owner": 0, "paid_compute": 0,
                                 "compute": {}}  # fmt: skip
    assert [e["name"] for e in shown["events"]] == ["TrainingRequested", "TrainingCancelled"]


MAX_AGENT_PASSES = 8


def test_a_lazy_compute_provider_is_outvoted_reported_and_slashed(market_cli: Cli) -> None:
    cli = market_cli
    cli.ok("register", "--roles", "compute-provider", "--account", COMPUTE_2)
    cli.ok("register", "--roles", "compute-provider", "--stake", "0.05", "--account", COMPUTE_3)
    listed = list_digits(cli, 2, 3)  # every provider holds one replica of each subset
    model_id = create_model(cli)
    training_id = cli.json("training", "request", "--model", model_id, "--dataset", listed["id"],
                           "--subsets-per-round", 1, "--rounds", 1,
                           "--account", MODEL)["id"]  # fmt: skip
    agents = [
        ("--role", "compute-provider", "--account", COMPUTE),
        ("--role", "compute-provider", "--account", COMPUTE_2),
        ("--role", "compute-provider", "--lazy", "--account", COMPUTE_3),
        ("--role", "data-owner", "--account", DATA),
        ("--role", "model-owner", "--dataset", "digits", "--account", MODEL),
    ]

    # each agent in turn, in-process with --once, until the training is over
    for _ in range(MAX_AGENT_PASSES):
        for args in agents:
            cli.agent(*args)
        shown = cli.json("training", "show", training_id)
        if shown["training"]["status"] == "completed" and not any(shown["owed"].values()):
            break

    assert shown["training"]["status"] == "completed"
    [fraud] = shown["frauds"]
    assert (fraud["co"], fraud["forfeited"], fraud["slashed"]) == (
        address(COMPUTE_3), JOB_PRICE, 10**16
    )  # fmt: skip
    assert len(fraud["honest"]) == 2
    # the lazy job's pay and the slashed stake go to the two honest replicas of its subset
    assert shown["payments"]["compute"] == {
        address(COMPUTE): JOB_PRICE + JOB_PRICE,
        address(COMPUTE_2): JOB_PRICE + JOB_PRICE,
    }
    assert shown["payments"]["refund"] == 0
    assert cli.market().registry.stake_of(address(COMPUTE_3)) == 5 * 10**16 - 10**16
