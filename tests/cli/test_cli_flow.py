"""The P1 flow through the command line: commands, and agents as separate processes."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from eth_utils.crypto import keccak

from mercato.chain import RpcChain
from mercato.ontology.category import Category
from mercato.protocols.auction.house import Status
from mercato.protocols.deployment import DEFAULT_DELIVERY_PERIOD

from .helpers import (
    ARBITER,
    CLIENT,
    COMPUTE,
    COMPUTE_AGENT,
    DATA,
    DATA_2,
    DATA_AGENT,
    ETHER,
    MODEL,
    MODEL_AGENT,
    STRANGER,
    Cli,
    address,
    wait_all,
)

pytestmark = pytest.mark.rpc


def _deliver(cli: Cli, minimum: float = 0.9) -> int:
    """Open an auction, bid every category, adjudicate, and let the agents deliver a model."""
    auction_id = cli.create(minimum)
    cli.ok("auction", "bid", auction_id, "--category", "data", "--amount", "0.6", "--account", DATA)
    cli.ok("auction", "bid", auction_id, "--category", "algorithm", "--amount", "0.5",
           "--account", MODEL)  # fmt: skip
    cli.ok("auction", "bid", auction_id, "--category", "infrastructure", "--amount", "0.4",
           "--account", COMPUTE)  # fmt: skip
    cli.ok("auction", "adjudicate", auction_id, "--account", CLIENT)
    cli.agent(*DATA_AGENT)
    cli.agent(*MODEL_AGENT)
    cli.agent(*COMPUTE_AGENT)
    assert cli.auction(auction_id).status is Status.DELIVERED
    return auction_id


def test_p1_flow_with_agent_processes(market_cli: Cli) -> None:
    cli = market_cli
    auction_id = cli.create()
    assert auction_id == 1
    bid = cli.json("auction", "bid", auction_id, "--category", "data", "--amount", "0.95",
                   "--account", DATA_2)  # fmt: skip
    assert bid["amount"] == 95 * ETHER // 100

    # two agents, each its own process, react to the auction and to the rival's bid
    wait_all([cli.spawn_agent(*DATA_AGENT), cli.spawn_agent(*MODEL_AGENT)])
    auction = cli.auction(auction_id)
    undercut = 95 * ETHER // 100 - 95 * ETHER // 100 * 500 // 10_000
    assert auction.best(Category.DATA) == (address(DATA), undercut)
    assert auction.best(Category.ALGORITHM) == (address(MODEL), ETHER)

    cli.ok("auction", "bid", auction_id, "--category", "infrastructure", "--amount", "0.8",
           "--account", COMPUTE)  # fmt: skip
    adjudicated = cli.json("auction", "adjudicate", auction_id, "--account", CLIENT)
    spent = undercut + ETHER + 8 * ETHER // 10
    assert adjudicated["status"] == "adjudicated"
    assert adjudicated["refund"] == 3 * ETHER - spent

    # the same agents again (their state resumes): hand-over, then training and delivery
    cli.agent(*DATA_AGENT)
    cli.agent(*MODEL_AGENT)
    cli.agent(*COMPUTE_AGENT)
    shown = cli.json("auction", "show", auction_id)
    assert shown["auction"]["status"] == "delivered"
    assert shown["requirements"]["classes"]["data"] == "mc:LabelledImages"
    assert [e["name"] for e in shown["events"]] == [
        "AuctionCreated", "BidPlaced", "BidPlaced", "BidPlaced", "BidPlaced", "Adjudicated",
        "AssetHandedOver", "AssetHandedOver", "Delivered",
    ]  # fmt: skip

    confirmed = cli.json("auction", "confirm", auction_id, "--account", CLIENT)
    assert confirmed["status"] == "confirmed"
    assert confirmed["paid"] == ["data", "algorithm", "infrastructure"]
    withdrawn = {
        who: cli.json("auction", "withdraw", "--account", who)["withdrawn"]
        for who in (DATA, MODEL, COMPUTE, CLIENT)
    }
    assert withdrawn == {DATA: undercut, MODEL: ETHER, COMPUTE: 8 * ETHER // 10,
                         CLIENT: 3 * ETHER - spent}  # fmt: skip
    listed = cli.json("auction", "list")
    assert [(a["id"], a["status"], a["locked"]) for a in listed] == [(1, "confirmed", 0)]


def test_reject_goes_to_the_arbiter_agent(market_cli: Cli) -> None:
    cli = market_cli
    auction_id = _deliver(cli)
    reason = "the model misclassifies my own digits"

    rejected = cli.json("auction", "reject", auction_id, "--reason", reason, "--account", CLIENT)
    cli.agent("--role", "arbiter", "--account", ARBITER)

    assert rejected["status"] == "disputed"
    assert rejected["reason_hash"] == "0x" + keccak(reason.encode()).hex()
    assert cli.market().store.get(rejected["reason_hash"]) == reason.encode()
    auction = cli.auction(auction_id)
    # the evidence (hand-overs, a valid signed report) shows every winner did its duty
    assert auction.status is Status.ARBITRATED
    assert auction.paid_mask == 0b111


def test_a_human_arbiter_decides_from_the_command_line(market_cli: Cli) -> None:
    cli = market_cli
    auction_id = _deliver(cli)
    cli.ok("auction", "reject", auction_id, "--reason", "late", "--account", CLIENT)
    owed_before = cli.market().auction_house.owed(address(CLIENT))

    decided = cli.json(
        "auction", "arbitrate", auction_id, "--pay", "data,algorithm", "--account", ARBITER
    )

    auction = cli.auction(auction_id)
    assert decided["status"] == "arbitrated"
    assert auction.status is Status.ARBITRATED
    assert auction.paid_mask == (1 << Category.DATA) | (1 << Category.ALGORITHM)
    house = cli.market().auction_house
    assert house.owed(address(COMPUTE)) == 0
    assert house.owed(address(CLIENT)) - owed_before == auction.bids[Category.INFRASTRUCTURE]


def test_client_agent_reviews_and_confirms(market_cli: Cli) -> None:
    cli = market_cli
    auction_id = _deliver(cli)

    result = cli.agent("--role", "client", "--eval-dataset", "digits", "--account", CLIENT)

    assert "idle after" in result.stdout
    assert cli.auction(auction_id).status is Status.CONFIRMED
    assert cli.market().auction_house.owed(address(CLIENT)) == 0  # its refund, withdrawn


def test_claim_after_the_delivery_deadline_refunds_the_client(market_cli: Cli) -> None:
    cli = market_cli
    auction_id = cli.create()
    for category, who in (("data", DATA), ("algorithm", MODEL), ("infrastructure", COMPUTE)):
        cli.ok("auction", "bid", auction_id, "--category", category, "--amount", "0.5",
               "--account", who)  # fmt: skip
    cli.ok("auction", "adjudicate", auction_id, "--account", CLIENT)
    early = cli("auction", "claim", auction_id, "--account", STRANGER)
    assert early.exit_code == 1 and "delivery deadline" in str(early.exception)

    RpcChain(cli.url).time_travel(DEFAULT_DELIVERY_PERIOD + 1)
    claimed = cli.json("auction", "claim", auction_id, "--account", STRANGER)

    assert claimed["status"] == "refunded"
    withdrawn = cli.json("auction", "withdraw", "--account", CLIENT)["withdrawn"]
    assert withdrawn == 3 * ETHER  # the unspent reserve at adjudication, then the rest


def test_agent_stops_cleanly_on_sigterm(market_cli: Cli) -> None:
    cli = market_cli
    original = signal.getsignal(signal.SIGTERM)

    def terminate_once_handled() -> None:
        deadline = time.monotonic() + 60
        while signal.getsignal(signal.SIGTERM) is original and time.monotonic() < deadline:
            time.sleep(0.05)
        if signal.getsignal(signal.SIGTERM) is not original:  # the agent's handler: safe
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_handled)
    killer.start()
    started = time.monotonic()
    result = cli("agent", "run", "--role", "arbiter", "--account", ARBITER, "--interval", "0.2")
    killer.join()

    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 30
    assert signal.getsignal(signal.SIGTERM) is original
    assert (cli.home / "agents" / f"arbiter-{address(ARBITER)[2:10].lower()}.sqlite").is_file()
