"""Settlement through ``mercato api`` on anvil, the adversaries played by the test: an
orchestrator that invents a call in its batch (the consumer challenges, nobody answers, the
consumer is refunded from the orchestrator's stake) and under-reports another (the vendor
claims the step from its journal and is paid at once); then the batch is paid out after its
window, the API released and every party withdraws all the contract holds. An API whose
parties do not all come is cancelled after its join deadline, its stakes refunded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mercato.chain.accounts import dev_account
from mercato.protocols.apimarket.messages import Assignment, Request, signature_to_json

from .api_helpers import (
    CONSUMER,
    MODEL_FILE,
    ORCHESTRATOR,
    PRICE,
    PROVIDER,
    SHARES,
    STAKES,
    VENDORS,
    deploy_fake_model_market,
    register_api,
    register_args,
    register_cast,
)
from .helpers import STRANGER, Cli, address

pytestmark = pytest.mark.rpc

NOWHERE = "http://127.0.0.1:9"
CHALLENGE_BOND = 10**15
"""The CLI's default --challenge-bond (0.001 ETH)."""
DEPOSIT = 10**16


def _journal(path: Path, market: str, api_id: int) -> None:
    """A vendor's journal of the step it ran of the consumer's call 2 of epoch 0 (component
    0, slot 0), with the consumer's signed request and the orchestrator's assignment."""
    consumer, orchestrator = dev_account(CONSUMER), dev_account(ORCHESTRATOR)
    request = Request(api_id, 0, str(consumer.address), 2, b"\x05" * 32, PRICE)
    assignment = Assignment(api_id, 0, str(consumer.address), 2, 0, 0, b"\x05" * 32)
    entry = {
        "kind": "step",
        "request": request.to_json(),
        "request_sig": signature_to_json(request.sign(market, bytes(consumer.key))),
        "assignment": assignment.to_json(),
        "assignment_sig": signature_to_json(assignment.sign(market, bytes(orchestrator.key))),
    }
    path.write_text(json.dumps({"kind": "start"}) + "\n" + json.dumps(entry) + "\n")


def test_challenged_and_claimed_calls_are_settled(market_cli: Cli) -> None:
    cli = market_cli
    register_cast(cli)
    api_id = int(register_api(cli, NOWHERE)["api"]["api"])
    for account in VENDORS:
        cli.ok("api", "join", api_id, "--url", NOWHERE, "--account", account)
    cli.ok("api", "accept", api_id, "--account", ORCHESTRATOR)
    cli.ok("api", "deposit", api_id, "--amount", "0.01", "--account", CONSUMER)
    market = cli.market()
    am, chain = market.api_market, market.chain
    api = am.api(api_id)
    # a second API, on a model the provider bought in P4 (a stand-in model market says so),
    # that only one vendor joins: nobody else comes by its join deadline
    fake = deploy_fake_model_market(chain, dev_account(STRANGER))
    sale = (address(PROVIDER), address(STRANGER), b"\x09" * 32, 912_500, True)
    fake.transact("set_purchase", 4, 1, sale, sender=dev_account(STRANGER))
    stalled = int(register_api(cli, NOWHERE, "--purchase", f"{fake.address}:4:1")["api"]["api"])
    bought = cli.json("api", "show", stalled)["purchase"]
    assert (bought["request_id"], bought["index"], bought["score"]) == (4, 1, 0.9125)
    assert "benchmarked at 0.9125" in cli.ok("api", "show", stalled).stdout
    unpaid = cli(
        *register_args(NOWHERE, cli.home / MODEL_FILE), "--purchase", f"{fake.address}:4:2"
    )
    assert "is not yours" in str(unpaid.exception)
    cli.ok("api", "join", stalled, "--url", NOWHERE, "--account", VENDORS[1])
    early = cli("api", "advance", stalled, "--account", STRANGER)
    assert early.exit_code == 1 and "advance after" in str(early.exception)

    # epoch 0 is over: the orchestrator commits a batch that counts one call of the consumer
    # (which it never made) and one step of each slot
    chain.time_travel(api.start + api.epoch_period - chain.timestamp())
    am.contract.transact(
        "commit_batch", api_id, 0, b"\x07" * 32, b"\x08" * 32, [address(CONSUMER)], [1], [1, 1],
        sender=dev_account(ORCHESTRATOR),
    )  # fmt: skip
    batches = cli.json("api", "batches", api_id)
    assert [(b["epoch"], b["calls"], b["steps"], b["total"]) for b in batches] == [
        (0, [1], [1, 1], PRICE)
    ]
    assert "API 1: batches" in cli.ok("api", "batches", api_id).stdout

    # the consumer challenges the invented call; the orchestrator cannot show a signed request
    challenged = cli.json("api", "challenge", api_id, 0, 1, "--account", CONSUMER)
    challenge_id = challenged["challenge_id"]
    early = cli("api", "settle-challenge", challenge_id, "--account", STRANGER)
    assert early.exit_code == 1 and "settle after" in str(early.exception)
    twice = cli("api", "challenge", api_id, 0, 1, "--account", CONSUMER)
    assert "challenged already" in str(twice.exception)

    # the batch left out call 2, whose step slot 0's vendor ran: claimed, paid at once
    journal = cli.home / "vendor.journal"
    _journal(journal, am.address, api_id)
    claimed = cli.json("api", "claim", api_id, 0, address(CONSUMER), 2, "--journal", journal,
                       "--account", VENDORS[0])  # fmt: skip
    assert claimed["state"] == "paid unreported"

    chain.time_travel(api.response_period + 1)
    settled = cli.json("api", "settle-challenge", challenge_id, "--account", STRANGER)
    assert settled["state"] == "refunded"

    # the second API's join deadline passed: anyone cancels it, its vendor's stake goes back
    cancelled = cli.json("api", "advance", stalled, "--account", STRANGER)
    assert cancelled["api"]["status"] == "cancelled"

    # after the window the batch pays out; after the last window the API is released
    early = cli("api", "finalize", api_id, 0, "--account", STRANGER)
    assert early.exit_code == 1 and "finalize after" in str(early.exception)
    cli.ok("api", "request-withdrawal", api_id, "--account", CONSUMER)
    chain.time_travel(api.close(api.last_epoch) - chain.timestamp() + 1)
    cli.ok("api", "finalize", api_id, 0, "--account", STRANGER)
    cli.ok("api", "withdraw-deposit", api_id, "--account", CONSUMER)
    assert cli.json("api", "release", api_id, "--account", STRANGER)["api"]["status"] == "ended"

    owed = {i: am.owed(address(i)) for i in (*VENDORS, ORCHESTRATOR, CONSUMER, PROVIDER)}
    assert owed == {
        VENDORS[0]: STAKES["vendor"] + SHARES[0] + SHARES[0],  # the batch's step, the claim's
        VENDORS[1]: STAKES["vendor"] + SHARES[1] + STAKES["vendor"],  # and the cancelled API's
        ORCHESTRATOR: STAKES["orchestrator"] - PRICE - SHARES[0],  # the refund, the claim
        CONSUMER: DEPOSIT - PRICE + PRICE + CHALLENGE_BOND,
        PROVIDER: PRICE - SHARES[0] - SHARES[1],
    }
    for account, amount in owed.items():
        assert cli.json("api", "withdraw", "--account", account)["withdrawn"] == amount
    assert chain.balance(am.address) == 0
