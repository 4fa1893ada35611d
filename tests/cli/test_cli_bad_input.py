"""Bad input: a non-zero exit, one line saying what is wrong, and nothing changed on chain.

One market serves the whole module (the commands change nothing, which is what is tested);
the chain is reverted to its snapshot afterwards.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mercato.chain import Anvil
from mercato.cli.app import main
from mercato.errors import MercatoError

from .helpers import (
    ARBITER,
    CLIENT,
    COMPUTE,
    DATA,
    DATA_2,
    MODEL,
    STRANGER,
    Cli,
    address,
    module_market,
)

pytestmark = pytest.mark.rpc


@pytest.fixture(scope="module")
def open_auction(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """Auction 1 is open with one data bid of 0.9 (account DATA); nothing else is bid."""
    with module_market(anvil.url, tmp_path_factory, "cli-bad-input") as cli:
        cli.create()
        cli.ok("auction", "bid", 1, "--category", "data", "--amount", "0.9", "--account", DATA)
        (cli.home / "broken.json").write_text('{"version": 1, "classes": {"data": "mc:Nope"}}')
        yield cli


BID = ("auction", "bid", 1, "--category", "data")
CREATE = ("auction", "create", "--requirements", "requirements-0.9.json", "--max-prices", "1,1,1",
          "--arbiter", address(ARBITER))  # fmt: skip

CASES = {
    "unknown auction": (
        ("auction", "bid", 7, "--category", "data", "--amount", "0.5", "--account", DATA),
        "no auction 7 (there are 1)",
    ),
    "auction unknown": (("auction", "show", 9), "no auction 9 (there are 1)"),
    "price above maximum": (
        (*BID, "--amount", "1.5", "--account", DATA_2),
        "above the data maximum 1.000000 ETH",
    ),
    "not below the best bid": (
        (*BID, "--amount", "0.95", "--account", DATA_2),
        "not below the best data bid 0.900000 ETH",
    ),
    "bidder lacks the role": (
        (*BID, "--amount", "0.5", "--account", MODEL),
        "needs the data-owner role",
    ),
    "unknown category": (
        ("auction", "bid", 1, "--category", "dta", "--amount", "0.5", "--account", DATA),
        "Did you mean 'data'?",
    ),
    "bad amount": ((*BID, "--amount", "half", "--account", DATA), "'half' is not an amount"),
    "zero amount": ((*BID, "--amount", "0", "--account", DATA), "--amount must be above 0"),
    "reference not a confirmed SLA": (
        (*BID, "--amount", "0.5", "--reference", 1, "--account", DATA_2),
        "auction 1 is no confirmed data SLA",
    ),
    "account and keystore": (
        (*BID, "--amount", "0.5", "--account", DATA, "--keystore", "key.json"),
        "either --account or --keystore",
    ),
    "malformed requirements": (
        (
            "auction",
            "create",
            "--requirements",
            "broken.json",
            "--max-prices",
            "1,1,1",
            "--arbiter",
            address(ARBITER),
            "--account",
            CLIENT,
        ),
        "broken.json: requirements:",
    ),
    "missing requirements file": (
        (
            "auction",
            "create",
            "--requirements",
            "absent.json",
            "--max-prices",
            "1,1,1",
            "--arbiter",
            address(ARBITER),
            "--account",
            CLIENT,
        ),
        "cannot read requirements file absent.json",
    ),
    "creator lacks the client role": (
        (*CREATE, "--account", DATA),
        "needs the client role",
    ),
    "arbiter not registered": (
        (
            "auction",
            "create",
            "--requirements",
            "requirements-0.9.json",
            "--max-prices",
            "1,1,1",
            "--arbiter",
            address(STRANGER),
            "--account",
            CLIENT,
        ),
        "is not a registered arbiter",
    ),
    "two maximum prices": (
        (
            "auction",
            "create",
            "--requirements",
            "requirements-0.9.json",
            "--max-prices",
            "1,1",
            "--arbiter",
            address(ARBITER),
            "--account",
            CLIENT,
        ),
        "--max-prices takes 3 comma-separated amounts",
    ),
    "duration out of range": (
        (*CREATE, "--duration", 0, "--account", CLIENT),
        "--duration must be 1 to",
    ),
    "adjudicate early by a stranger": (
        ("auction", "adjudicate", 1, "--account", STRANGER),
        "before that only its client may adjudicate",
    ),
    "adjudicate with categories missing": (
        ("auction", "adjudicate", 1, "--account", CLIENT),
        "has no algorithm or infrastructure bid yet",
    ),
    "confirm by another account": (
        ("auction", "confirm", 1, "--account", COMPUTE),
        "only the client of auction 1",
    ),
    "confirm with nothing delivered": (
        ("auction", "confirm", 1, "--account", CLIENT),
        "it is open, not delivered",
    ),
    "reject without a reason": (
        ("auction", "reject", 1, "--reason", " ", "--account", CLIENT),
        "--reason must say why",
    ),
    "reject with nothing delivered": (
        ("auction", "reject", 1, "--reason", "bad", "--account", CLIENT),
        "it is open, not delivered",
    ),
    "arbitrate by someone else": (
        ("auction", "arbitrate", 1, "--pay", "data", "--account", CLIENT),
        "only the auction's arbiter",
    ),
    "arbitrate with nothing disputed": (
        ("auction", "arbitrate", 1, "--pay", "data", "--account", ARBITER),
        "it is open, not disputed",
    ),
    "arbitrate an unknown category": (
        ("auction", "arbitrate", 1, "--pay", "dta", "--account", ARBITER),
        "Did you mean 'data'?",
    ),
    "claim an open auction": (
        ("auction", "claim", 1, "--account", STRANGER),
        "cannot claim auction 1: it is open",
    ),
    "withdraw with nothing owed": (
        ("auction", "withdraw", "--account", DATA),
        "owes " + address(DATA) + " nothing",
    ),
    "unknown agent role": (
        ("agent", "run", "--role", "provder", "--account", DATA, "--once"),
        "Did you mean 'provider'?",
    ),
    "provider without a category": (
        ("agent", "run", "--role", "provider", "--account", DATA, "--once"),
        "needs --category",
    ),
    "provider option on a client": (
        ("agent", "run", "--role", "client", "--dataset", "digits", "--account", CLIENT),
        "--dataset is a provider option",
    ),
    "unknown dataset": (
        (
            "agent",
            "run",
            "--role",
            "provider",
            "--category",
            "data",
            "--dataset",
            "digit",
            "--account",
            DATA,
            "--once",
        ),
        "Did you mean 'digits'?",
    ),
    "agent lacks the role": (
        (
            "agent",
            "run",
            "--role",
            "provider",
            "--category",
            "algorithm",
            "--algorithm",
            "random_forest",
            "--account",
            DATA,
            "--once",
        ),
        "needs the model-owner role",
    ),
    "asset class of another category": (
        (
            "agent",
            "run",
            "--role",
            "provider",
            "--category",
            "infrastructure",
            "--asset-class",
            "mc:TabularData",
            "--account",
            COMPUTE,
            "--once",
        ),
        "belongs to category 'data'",
    ),
}


@pytest.mark.parametrize(("args", "message"), CASES.values(), ids=CASES.keys())
def test_bad_input_changes_nothing(
    open_auction: Cli, args: tuple[object, ...], message: str
) -> None:
    cli = open_auction
    before = cli.state()

    result = cli(*args)

    assert result.exit_code == 1
    assert isinstance(result.exception, MercatoError), result.output
    assert message in str(result.exception)
    assert "\n" not in str(result.exception)
    assert cli.state() == before


def test_main_prints_one_line_and_exits_1(
    open_auction: Cli, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["mercato", *map(str, CASES["bidder lacks the role"][0])])

    with pytest.raises(SystemExit) as exit_info:
        main()

    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.startswith("error: bidding on data needs the data-owner role")
    assert err.count("\n") == 1


def test_json_outputs_parse(open_auction: Cli) -> None:
    cli = open_auction

    listed = cli.json("auction", "list")
    shown = cli.json("auction", "show", 1)

    assert [a["id"] for a in listed] == [1]
    assert listed[0]["best_bids"]["data"] == {"bidder": address(DATA), "amount": 9 * 10**17}
    assert shown["auction"] == listed[0]
    assert shown["requirements"]["metric"] == "accuracy"
    assert [e["name"] for e in shown["events"]] == ["AuctionCreated", "BidPlaced"]
    assert json.loads(Path(cli.home / "deployment.json").read_text())["chain_id"] == 31337


def test_show_without_the_requirements_blob_still_shows_the_chain(
    open_auction: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("MERCATO_STORE", str(tmp_path / "empty-store"))

    shown = open_auction.json("auction", "show", 1)

    assert shown["requirements"] is None
    assert "no blob" in shown["requirements_error"].lower()
    assert shown["auction"]["status"] == "open"
