"""After each action the CLI prints one line saying what happened, in ETH, with its transaction."""

from __future__ import annotations

import re

import pytest

from mercato.chain import RpcChain

from .datamarket_helpers import DATA_OWNERS, register_data_owners
from .helpers import (
    ARBITER,
    CLIENT,
    COMPUTE,
    COMPUTE_AGENT,
    DATA,
    DATA_AGENT,
    MODEL,
    MODEL_AGENT,
    Cli,
    address,
    requirements,
)
from .training_helpers import COMPUTES, register_computes

pytestmark = pytest.mark.rpc

TX = r"\(tx 0x[0-9a-f]{4}…[0-9a-f]{4}\)"


def line(cli: Cli, *args: object) -> str:
    """The one line ``mercato ARGS`` prints (it must print exactly one)."""
    lines = cli.ok(*args).stdout.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_p1_actions_say_what_happened(market_cli: Cli) -> None:
    cli = market_cli
    path = cli.home / "requirements.json"
    path.write_bytes(requirements().to_json_bytes())

    opened = line(cli, "auction", "create", "--requirements", path, "--max-prices", "1,1,1",
                  "--arbiter", address(ARBITER), "--account", CLIENT)  # fmt: skip
    offers = (
        ("data", "0.6", DATA),
        ("algorithm", "0.5", MODEL),
        ("infrastructure", "0.4", COMPUTE),
    )
    bids = [
        line(cli, "auction", "bid", 1, "--category", kind, "--amount", amount, "--account", who)
        for kind, amount, who in offers
    ]
    adjudicated = line(cli, "auction", "adjudicate", 1, "--account", CLIENT)
    for agent in (DATA_AGENT, MODEL_AGENT, COMPUTE_AGENT):
        cli.agent(*agent)
    confirmed = line(cli, "auction", "confirm", 1, "--account", CLIENT)
    withdrawn = line(cli, "auction", "withdraw", "--account", DATA)

    assert re.fullmatch(
        rf"auction 1 opened: 3 categories, reserve 3 ETH locked, arbiter 0x\w{{4}}…\w{{4}}, "
        rf"bidding until \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC {TX}",
        opened,
    )
    assert bids[0].startswith("auction 1: your data bid of 0.6 ETH leads (maximum 1 ETH)")
    assert all(re.search(TX + "$", bid) for bid in bids)
    assert re.fullmatch(
        rf"auction 1 adjudicated: data 0x\w{{4}}…\w{{4}} at 0.6 ETH, algorithm 0x\w{{4}}…\w{{4}} "
        rf"at 0.5 ETH, infrastructure 0x\w{{4}}…\w{{4}} at 0.4 ETH; 1.5 ETH refundable to the "
        rf"client; delivery due by [\d: -]+UTC {TX}",
        adjudicated,
    )
    assert confirmed.startswith("auction 1 confirmed: the 3 winners are owed 1.5 ETH")
    assert re.fullmatch(
        rf"withdrew 0.6 ETH from the auction house to {address(DATA)} {TX}", withdrawn
    )


def test_p2_actions_say_what_happened(market_cli: Cli) -> None:
    cli = market_cli
    register_computes(cli)
    holders = [arg for index in COMPUTES for arg in ("--compute-provider", address(index))]

    offered = line(cli, "training", "dataset", "offer", "--dataset", "digits", "--subsets", 2,
                   "--replicas", 2, *holders, "--data-price", "0.1", "--job-price", "0.01",
                   "--account", DATA)  # fmt: skip
    created = line(cli, "training", "model", "--trainer", "numpy-logreg", "--dataset-name",
                   "digits", "--account", MODEL)  # fmt: skip
    requested = line(cli, "training", "request", "--model", 1, "--dataset", 1,
                     "--subsets-per-round", 1, "--rounds", 2, "--account", MODEL)  # fmt: skip
    cancelled = line(cli, "training", "cancel", 1, "--account", MODEL)

    assert re.fullmatch(
        r"dataset 1 offered: digits in 2 subsets x 2 replicas held by 3 compute providers, "
        r"data price 0.1 ETH, job price 0.01 ETH; split plan in \S+training-plans-0x\w+\.json "
        r"\(5 transactions, first 0x[0-9a-f]{4}…[0-9a-f]{4}\)",
        offered,
    )
    assert re.fullmatch(
        rf"model 1 created: numpy-logreg for digits \(64 features, 10 classes\), 1 local "
        rf"epoch\(s\) a round, seed 0 {TX}",
        created,
    )
    # escrow: data price + job price x k x n x rounds = 0.1 + 0.01 x 1 x 2 x 2
    assert requested.startswith(
        "training 1 requested: model 1 on dataset 1, 1 of 2 subsets a round for up to 2 "
        "round(s), 0.14 ETH locked; dataset 1 is not ready yet:"
    )
    assert re.fullmatch(
        rf"training 1 cancelled: 0.14 ETH refundable to you, to withdraw with "
        rf"`mercato training withdraw` {TX}",
        cancelled,
    )


def test_p3_actions_say_what_happened(market_cli: Cli) -> None:
    cli = market_cli
    register_data_owners(cli)

    posted = line(cli, "datamarket", "post", "--dataset", "digits", "--data-owners", 3,
                  "--rounds", 1, "--mode", "robust", "--reward", "0.003", "--join-period", 60,
                  "--account", MODEL)  # fmt: skip
    joined = line(cli, "datamarket", "join", 1, "--dataset", "digits", "--part", 0,
                  "--account", DATA_OWNERS[0])  # fmt: skip
    RpcChain(cli.url).time_travel(61)
    advanced = line(cli, "datamarket", "advance", 1, "--account", DATA_OWNERS[1])
    withdrawn = line(cli, "datamarket", "withdraw", "--account", MODEL)

    assert re.match(
        r"task 1 posted: 3 data owners, 1 round\(s\), robust \(multikrum\), 0.003 ETH locked, "
        r"joining until [\d: -]+UTC; accuracy before",
        posted,
    )
    assert re.search(TX + "$", posted)
    assert re.fullmatch(
        rf"joined task 1 as data owner 0 with part 0 of digits \(\d+ examples\); it waits for "
        rf"2 more data owner\(s\) to join {TX}",
        joined,
    )
    assert re.fullmatch(
        rf"task 1 cancelled with 1 of 3 joined; 0.003 ETH refundable to the model owner {TX}",
        advanced,
    )
    assert withdrawn.startswith(f"withdrew 0.003 ETH from the data market to {address(MODEL)}")
