"""The P4 flow through the command line on anvil: a request from posting to the last
withdrawal step by step, a cheating seller caught by ``take``, the buyer's model scored on its
hidden groups as the executors scored it, and the same market run by ``agent run`` roles."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from mercato.chain.accounts import dev_account
from mercato.protocols.identity import Identity
from mercato.protocols.modelmarket import seller
from mercato.protocols.modelmarket.state_files import keep_offer

from .helpers import CLIENT, STRANGER, Cli, address
from .modelmarket_helpers import (
    EXECUTOR_FEE,
    EXECUTOR_STAKE,
    EXECUTORS,
    PERIOD,
    PRICES,
    SELLER_STAKE,
    SELLERS,
    model_files,
    post,
    register_cast,
)

pytestmark = pytest.mark.rpc


def _mode(path: str | Path) -> int:
    return stat.S_IMODE(Path(path).stat().st_mode)


def _cheat(cli: Cli, request_id: int, account: int, model: Path) -> None:
    """Seller ``account`` submits ``model`` but delivers a corrupted copy (bypassing the
    command), keeping its offer where ``reveal-key`` finds it."""
    market = cli.market()
    honest = model.read_bytes()
    corrupted = bytearray(honest)
    corrupted[len(honest) // 2 : len(honest) // 2 + 64] = bytes(64)
    me = Identity(dev_account(account))
    offer = seller.submit(market, me, request_id, honest, bytes(corrupted))
    keep_offer(cli.home / "agents", me.address, offer)


def test_a_request_from_posting_to_withdrawal(market_cli: Cli) -> None:
    cli = market_cli
    register_cast(cli)
    chain = cli.market().chain
    models = model_files(cli.home)
    cheater = SELLERS[2]

    # the buyer posts and reveals its sample; sellers submit, compute providers volunteer
    posted = cli.json("modelmarket", "show", post(cli))
    request_id = posted["request_id"]
    test_file = cli.home / "agents" / f"modelmarket-request-{request_id}.test"
    drawn = cli.json("modelmarket", "advance", request_id, "--account", STRANGER)
    revealed = cli.json("modelmarket", "reveal-sample", request_id, "--account", CLIENT)
    submitted = [
        cli.json("modelmarket", "submit", request_id, "--model", path, "--account", account)
        for account, path in zip(SELLERS[:2], models[:2], strict=True)
    ]
    _cheat(cli, request_id, cheater, models[2])
    volunteered = [
        cli.json("modelmarket", "volunteer", request_id, "--account", account)
        for account in EXECUTORS
    ]
    checked = cli.json("modelmarket", "check", request_id, "--account", CLIENT)

    # the executors are drawn, the blobs sealed, the models benchmarked and the scores tallied
    chain.time_travel(PERIOD)
    closed = cli.json("modelmarket", "advance", request_id, "--account", STRANGER)
    executors_drawn = cli.json("modelmarket", "advance", request_id, "--account", STRANGER)
    for account in (CLIENT, *SELLERS):
        cli.ok("modelmarket", "seal", request_id, "--account", account)
    benchmarked = [
        cli.json("modelmarket", "benchmark", request_id, "--account", account)
        for account in EXECUTORS
    ]
    for account in EXECUTORS:
        cli.ok("modelmarket", "reveal", request_id, "--account", account)
    tallied = cli.json("modelmarket", "tally", request_id, "--account", STRANGER)

    # the winners reveal their keys; the buyer takes one model and proves the other bad
    winners = tallied["tallied"]["winners"]
    for index in winners:
        cli.ok("modelmarket", "reveal-key", request_id, "--account", SELLERS[index])
    taken = cli.json(
        "modelmarket", "take", request_id, 0, "--out", cli.home / "bought.skops",
        "--account", CLIENT,
    )  # fmt: skip
    complained = cli.json(
        "modelmarket", "take", request_id, 2, "--out", cli.home / "cheat.skops",
        "--account", CLIENT,
    )  # fmt: skip
    chain.time_travel(PERIOD)
    finished = cli.json("modelmarket", "finish", request_id, 0, "--account", STRANGER)
    shown = cli.json("modelmarket", "show", request_id)
    owed = {a: cli.market().model_market.owed(address(a)) for a in (CLIENT, *SELLERS, *EXECUTORS)}
    withdrawn = {
        account: cli.json("modelmarket", "withdraw", "--account", account)["withdrawn"]
        for account, wei in owed.items()
        if wei
    }
    metrics = json.loads((cli.home / "bought.metrics.json").read_text())

    # posting kept the hidden test set, readable by its owner only
    assert (posted["status"], posted["k"], posted["executors"], posted["groups"]) == (
        "sampling", 2, 3, 32
    )  # fmt: skip
    assert posted["schedule"] == [{"score": 500_000, "price": PRICES[0]},
                                  {"score": 800_000, "price": PRICES[1]}]  # fmt: skip
    assert posted["task"]["features"] == 64 and len(posted["task"]["classes"]) == 10
    assert _mode(test_file) == 0o600
    assert drawn["request"]["sample_seed"] != "0x" + "00" * 32
    assert revealed["request"]["status"] == "submitting" and len(revealed["sample"]) == 4
    assert [s["index"] for s in submitted] == [0, 1]
    assert all(_mode(s["offer_file"]) == 0o600 for s in submitted)
    assert [v["index"] for v in volunteered] == [0, 1, 2]
    # the cheater's delivery matches its commitments: only its key will show the bad chunk
    assert [(c["index"], c["problem"], c["rejected"]) for c in checked["checked"]] == [
        (0, None, False), (1, None, False), (2, None, False)
    ]  # fmt: skip
    assert closed["request"]["status"] == "drawing"
    assert executors_drawn["request"]["status"] == "committing"
    scores = [b["scores"] for b in benchmarked]
    assert scores[0] == scores[1] == scores[2] and not any(b["flags"] for b in benchmarked)
    assert all(_mode(b["vote_file"]) == 0o600 for b in benchmarked)
    assert tallied["tallied"]["scores"] == scores[0]
    assert winners == [0, 2]  # the shallow tree scores least
    assert scores[0][0] >= 800_000 and scores[0][2] >= 800_000 and scores[0][1] < scores[0][0]
    assert tallied["tallied"]["agreed"] == [0, 1, 2]
    # the model bought scores on the buyer's hidden groups what the executors agreed
    assert taken["reported"]["measured_score"] == taken["reported"]["agreed_score"]
    assert taken["metrics"]["accuracy"] == pytest.approx(scores[0][0] / 1e6, abs=1e-6)
    assert metrics["model_hash"] == taken["model_hash"]
    assert metrics["measured_on"]["rows"] == 28 * 11  # 32 groups of 11, 4 revealed
    assert (cli.home / "bought.skops").read_bytes() == models[0].read_bytes()
    assert complained["complaint"]["refund"] == PRICES[1] + SELLER_STAKE
    assert not (cli.home / "cheat.skops").exists()
    assert (finished["state"], finished["paid"]) == ("paid", PRICES[1] + SELLER_STAKE)
    assert shown["status"] == "closed" and shown["locked"] == 0
    assert [s["state"] for s in shown["submissions"]] == ["paid", "lost", "cheated"]
    assert [c["index"] for c in shown["complaints"]] == [2]
    assert [e["agreed"] for e in shown["executors_detail"]] == [True, True, True]
    # budget 2 x 0.02 + 3 fees + bond; the buyer pays one price in the end
    escrowed = 2 * PRICES[1] + 3 * EXECUTOR_FEE + posted["bond"]
    assert withdrawn[CLIENT] == escrowed - PRICES[1] - 3 * EXECUTOR_FEE + SELLER_STAKE
    assert withdrawn[SELLERS[0]] == PRICES[1] + SELLER_STAKE
    assert withdrawn[SELLERS[1]] == SELLER_STAKE and cheater not in withdrawn
    assert {withdrawn[a] for a in EXECUTORS} == {EXECUTOR_STAKE + EXECUTOR_FEE}


def test_a_request_posted_from_the_buyers_own_file(market_cli: Cli) -> None:
    from mercato.ml.datasets import seller_and_buyer_parts
    from mercato.ml.schema import DEFAULT_ONTOLOGY_CLASS

    cli = market_cli
    _, held_out = seller_and_buyer_parts("digits")
    rows = cli.home / "rows.csv"
    header = ",".join([*(f"pixel{i}" for i in range(64)), "digit"])
    lines = [
        ",".join([*(f"{v:g}" for v in x), f"d{label}"])
        for x, label in zip(held_out.X[:320], held_out.y[:320], strict=True)
    ]
    rows.write_text("\n".join([header, *lines]) + "\n")

    posted = cli.json(
        "modelmarket", "post", "--data", rows, "--label", "digit", "--schedule", "0.8:0.01",
        "--groups", 40, "--sample", 5, "--account", CLIENT,
    )  # fmt: skip
    request_id = posted["request"]["request_id"]
    shown = cli.json("modelmarket", "show", request_id)

    assert posted["task"] == {"features": 64, "classes": [f"d{i}" for i in range(10)]}
    assert (shown["groups"], shown["sample"], shown["task"]["group_size"]) == (40, 5, 8)
    assert shown["task"]["data_class"] == DEFAULT_ONTOLOGY_CLASS  # the schema inferred
    assert _mode(posted["test_file"]) == 0o600


def _agents(cli: Cli, *roles: tuple[object, ...]) -> None:
    for args in roles:
        cli.agent(*args)


def test_agents_take_over_a_posted_request(market_cli: Cli) -> None:
    cli = market_cli
    register_cast(cli)
    chain = cli.market().chain
    models = model_files(cli.home)
    request_id = post(cli)
    buyer = ("--role", "buyer", "--account", CLIENT)
    sellers = [
        ("--role", "seller", "--model", path, "--account", account)
        for account, path in zip(SELLERS, models, strict=True)
    ]
    executors = [("--role", "executor", "--account", account) for account in EXECUTORS]
    everyone = (buyer, *sellers, *executors)

    # the buyer's agent draws and reveals the sample of the request the command posted
    _agents(cli, buyer, buyer)
    _agents(cli, *sellers, *executors)
    submitting = cli.json("modelmarket", "show", request_id)
    chain.time_travel(PERIOD)
    for _ in range(3):  # close, draw, seal, benchmark, reveal, tally, keys
        _agents(cli, *everyone)
    chain.time_travel(PERIOD)
    _agents(cli, *everyone, *everyone)
    shown = cli.json("modelmarket", "show", request_id)
    bought = sorted((cli.home / "agents").glob(f"buyer-*/request-{request_id}/model-*"))
    owed = [cli.market().model_market.owed(address(a)) for a in (CLIENT, *SELLERS, *EXECUTORS)]

    assert submitting["status"] == "submitting"
    assert [s["index"] for s in submitting["submissions"]] == [0, 1, 2]
    assert submitting["volunteers"] == 3
    assert shown["status"] == "closed"
    assert [s["state"] for s in shown["submissions"]] == ["paid", "lost", "paid"]
    assert [b.name for b in bought] == ["model-0.skops", "model-2.skops"]
    assert bought[1].read_bytes() == models[2].read_bytes()
    assert owed == [0] * 7  # every agent withdrew
