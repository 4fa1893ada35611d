"""``audit_auction`` and ``mercato audit auction`` on P1 runs: an honest auction, a false
rejection decided by a wrong verdict, a data winner that hands over another asset than it
recorded, an auction still open.

The embedded runs share one module-scoped chain and market (an audit only reads): the first
auction is the agents' whole flow; in the others the client, the arbiter or a winner is
driven by hand to break a rule the contract cannot see. The CLI's run is on anvil.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import CLIENT, COMPUTE, DATA, MODEL, address, module_market
from typer.testing import CliRunner

from mercato.audit.auction import audit_auction
from mercato.audit.auction_bids import check_winners
from mercato.audit.auction_ledger import AuctionLedger
from mercato.audit.report import AuditReport, CheckBuilder, OutageDuringAudit, Verdict
from mercato.chain import Anvil, EmbeddedChain, RpcChain
from mercato.chain.accounts import dev_account
from mercato.cli.app import app
from mercato.crypto.commit import keccak
from mercato.errors import InputError
from mercato.ml.algorithms import AlgorithmSpec
from mercato.ml.datasets import Dataset
from mercato.ml.train import TrainedModel
from mercato.ontology.category import Category
from mercato.protocols.auction import provider as provider_steps
from mercato.protocols.auction.house import Status
from mercato.protocols.auction.scenario import AUCTION_DURATION, MAX_AGENT_ROUNDS, AuctionDemo
from mercato.protocols.deployment import DEFAULT_DELIVERY_PERIOD
from mercato.protocols.identity import Identity
from mercato.storage.base import StoreUnreachable, hash_bytes, hash_hex
from mercato.storage.envelope import seal
from mercato.storage.local import LocalBlobStore

BIDS, WINNERS, DELIVERED, VERDICTS, DEADLINES, SLASHES, PAID = range(1, 8)
ALL = range(1, 8)


def verdicts(report: AuditReport) -> dict[int, Verdict]:
    return {check.number: check.verdict for check in report.checks}


def check_of(report: AuditReport, number: int) -> Any:
    return report.checks[number - 1]


@dataclass
class Runs:
    """The module's market and its auctions, each left as its scenario ends."""

    demo: AuctionDemo
    honest: int = 0
    disputed: int = 0
    bad_asset: int = 0
    open: int = 0

    def who(self, name: str) -> Identity:
        return self.demo.people[name].identity

    def audit(self, auction_id: int, viewer: str | None = None) -> AuditReport:
        identity = None if viewer is None else self.who(viewer)
        return audit_auction(self.demo.market, auction_id, identity)


def run(demo: AuctionDemo) -> None:
    assert demo.runner.run_until_idle(MAX_AGENT_ROUNDS).idle


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Four auctions on one market; the model is trained once and handed to each executor."""
    real_train = provider_steps.train
    trained: dict[tuple[Any, ...], TrainedModel] = {}

    def train(dataset: Dataset, algorithm: AlgorithmSpec, seed: int) -> TrainedModel:
        key = (dataset.digest(), algorithm.digest(), seed)
        if key not in trained:
            trained[key] = real_train(dataset, algorithm, seed)
        return trained[key]

    root = tmp_path_factory.mktemp("audit-auction")
    chain = EmbeddedChain()
    demo = AuctionDemo(chain, LocalBlobStore(root / "blobs"), root / "agents")
    try:
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setattr(provider_steps, "train", train)
            runs = Runs(demo)
            _honest(runs)
            _disputed(runs)
            _bad_asset(runs)
            runs.open = demo.open_auction()
            run(demo)
            yield runs
    finally:
        demo.close()
        chain.close()


def _honest(runs: Runs) -> None:
    """The agents' whole flow: confirmed."""
    demo = runs.demo
    runs.honest = demo.open_auction()
    run(demo)
    demo.recording.time_travel(AUCTION_DURATION)
    run(demo)
    assert demo.market.auction_house.auction(runs.honest).status is Status.CONFIRMED


def _disputed(runs: Runs) -> None:
    """A sound delivery that the client rejects with a false complaint, and an arbiter that
    pays nobody: the client's and the arbiter's agents are gone, they act by hand. So are the
    losing providers': each winner bids once, at the maximum."""
    demo, house = runs.demo, runs.demo.market.auction_house
    client, arbiter = runs.who("client"), runs.who("arbiter")
    for name in ("client", "arbiter", "scan-archive", "forest-works", "attested-hpc"):
        del demo.agents[name]
    runs.disputed = demo.open_auction()
    run(demo)
    demo.recording.time_travel(AUCTION_DURATION)
    house.adjudicate(client.account, runs.disputed)
    run(demo)  # hand-overs, training, delivery
    complaint = b"the execution report names another model"
    demo.market.store.put(complaint)
    house.reject(client.account, runs.disputed, keccak(complaint))
    house.arbitrate(arbiter.account, runs.disputed, 0)


def _bad_asset(runs: Runs) -> None:
    """The data winner records its dataset's hash but seals other bytes to the executor; the
    executor cannot train, and the client takes its money back after the delivery deadline."""
    demo, market = runs.demo, runs.demo.market
    house, client = market.auction_house, runs.who("client")
    runs.bad_asset = demo.open_auction()
    run(demo)
    del demo.agents["digits-lab"], demo.agents["enclave-cloud"]
    demo.recording.time_travel(AUCTION_DURATION)
    house.adjudicate(client.account, runs.bad_asset)
    run(demo)  # the algorithm is handed over
    data = demo.people["digits-lab"]
    assert data.offer is not None
    executor = house.auction(runs.bad_asset).bidders[Category.INFRASTRUCTURE]
    assert executor == runs.who("enclave-cloud").address
    sealed = market.store.put(seal(b"not the dataset", [market.registry.encryption_key(executor)]))
    house.hand_over(
        data.identity.account, runs.bad_asset, Category.DATA, keccak(data.offer.asset),
        hash_bytes(sealed),
    )  # fmt: skip
    demo.recording.time_travel(DEFAULT_DELIVERY_PERIOD)
    house.claim(client.account, runs.bad_asset)


# an honest auction -------------------------------------------------------------------------
@pytest.mark.parametrize("viewer", [None, "client", "enclave-cloud", "arbiter", "digits-lab"])
def test_honest_auction_passes_every_check(runs: Runs, viewer: str | None) -> None:
    report = runs.audit(runs.honest, viewer)

    assert report.passed and report.cheaters == {}, report.to_dict()
    assert verdicts(report) == dict.fromkeys(ALL, Verdict.PASS)
    assert report.status == "confirmed" and report.summary() == "pass"


def test_a_store_outage_during_the_audit_gives_no_verdict(
    runs: Runs, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = runs.demo.market.store
    requirements = hash_hex(runs.demo.market.auction_house.auction(runs.honest).requirements_hash)
    real_get = store.get

    def get(blob_hash: str) -> bytes:
        if blob_hash == requirements:  # a check reads it inside a broad catch
            raise StoreUnreachable("the store does not answer")
        return real_get(blob_hash)

    monkeypatch.setattr(store, "get", get)

    with pytest.raises(OutageDuringAudit, match="blob store could not be reached"):
        runs.audit(runs.honest, "client")


def test_honest_auction_says_what_each_key_opened(runs: Runs) -> None:
    public = runs.audit(runs.honest)
    client = runs.audit(runs.honest, "client")
    executor = runs.audit(runs.honest, "enclave-cloud")

    assert "needs the client's key" in " ".join(check_of(public, DELIVERED).unchecked)
    assert "with the client's key" in check_of(client, DELIVERED).detail
    assert "opened with the executor's key" in check_of(executor, DELIVERED).detail
    assert client.viewer_roles == ("client",)
    assert executor.viewer_roles == ("infrastructure provider",)
    assert "lowest bids" in check_of(public, WINNERS).detail
    assert "no second price" in check_of(public, WINNERS).detail
    assert "to the wei" in check_of(public, PAID).detail


# a false complaint and a wrong verdict -----------------------------------------------------
def test_false_rejection_and_wrong_verdict_are_named(runs: Runs) -> None:
    client, arbiter = runs.who("client").address, runs.who("arbiter").address

    report = runs.audit(runs.disputed)

    check = check_of(report, VERDICTS)
    assert check.verdict is Verdict.FAIL
    assert report.cheaters == {f"client {client}": [VERDICTS], f"arbiter {arbiter}": [VERDICTS]}
    assert any("shows no such fault" in f.text for f in check.findings)
    assert any("paid nobody" in f.text for f in check.findings)
    assert verdicts(report)[PAID] is Verdict.PASS  # the contract paid what the verdict says


# a hand-over that is not the asset recorded ------------------------------------------------
def test_the_executor_key_shows_the_data_winner_handed_over_another_asset(runs: Runs) -> None:
    data = runs.who("digits-lab").address

    report = runs.audit(runs.bad_asset, "enclave-cloud")

    assert report.cheaters == {f"data provider {data}": [DELIVERED, DEADLINES]}
    assert "is not the one it recorded" in check_of(report, DELIVERED).detail
    assert report.status == "refunded" and verdicts(report)[PAID] is Verdict.PASS


def test_the_public_blames_the_executor_it_cannot_clear(runs: Runs) -> None:
    executor = runs.who("enclave-cloud").address

    report = runs.audit(runs.bad_asset)

    assert report.cheaters == {f"infrastructure provider {executor}": [DEADLINES]}
    assert verdicts(report)[DELIVERED] is Verdict.PASS
    assert "needs the infrastructure winner's key" in " ".join(
        check_of(report, DELIVERED).unchecked
    )


# a history the contract's rules forbid -----------------------------------------------------
def test_a_lower_bid_that_did_not_win_is_evidence_against_the_contract(runs: Runs) -> None:
    # prepare: the honest auction's record with one more data bid, under the winning one
    ledger = AuctionLedger(runs.demo.market, runs.honest, None)
    last = next(b for b in reversed(ledger.bids) if b["category"] == Category.DATA)
    loser = runs.who("scan-archive").address
    lower = replace(last, args={**last.args, "bidder": loser, "amount": last["amount"] - 1})
    ledger.bids = [*ledger.bids, lower]
    check = CheckBuilder(WINNERS, "winners", "")

    # act
    check_winners(ledger, check)

    # assert: the SLA and the best bid on chain are not what the rule gives
    verdict = check.build()
    assert verdict.verdict is Verdict.FAIL
    assert {f.culprit for f in verdict.findings} == {
        f"contract {runs.demo.market.auction_house.address}"
    }
    assert any(f"the lowest bid is {loser}" in f.text for f in verdict.findings)


# an auction still open ---------------------------------------------------------------------
def test_open_auction_says_who_may_move_it_on(runs: Runs) -> None:
    report = runs.audit(runs.open)

    assert report.passed and report.status == "open"
    assert verdicts(report)[BIDS] is Verdict.PASS
    for number in (WINNERS, DEADLINES, PAID):
        assert verdicts(report)[number] is Verdict.NOT_CHECKABLE, number
    assert "bidding is open until" in check_of(report, PAID).detail
    assert "the client may adjudicate" in check_of(report, PAID).detail


def test_unknown_auction_is_bad_input(runs: Runs) -> None:
    with pytest.raises(InputError, match=r"no auction 9 \(there are 4\)"):
        runs.audit(9)


# the command line (anvil) ------------------------------------------------------------------
@pytest.fixture(scope="module")
def silent_winners(anvil: Anvil, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An auction on anvil whose data and algorithm winners never hand over: the client
    takes its money back after the delivery deadline."""
    with module_market(anvil.url, tmp_path_factory, "audit-auction-cli") as cli:
        auction_id = cli.create()
        house = cli.market().auction_house
        for category, index in zip(Category, (DATA, MODEL, COMPUTE), strict=True):
            house.bid(dev_account(index), auction_id, category, 10**17)
        house.adjudicate(dev_account(CLIENT), auction_id)
        chain = RpcChain(anvil.url)
        chain.time_travel(DEFAULT_DELIVERY_PERIOD)
        chain.close()
        house.claim(dev_account(CLIENT), auction_id)
        yield cli.home


@pytest.mark.rpc
def test_cli_json_names_the_silent_winners(silent_winners: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "auction", "1", "--json", "--public"])

    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["auction_id"] == 1 and document["status"] == "refunded"
    assert document["passed"] is False and document["viewer"] is None
    assert document["cheaters"] == [
        {"who": f"data provider {address(DATA)}", "checks": [DEADLINES]},
        {"who": f"algorithm provider {address(MODEL)}", "checks": [DEADLINES]},
    ]
    assert [c["verdict"] for c in document["checks"]] == [
        "pass", "pass", "pass", "pass", "fail", "pass", "pass",
    ]  # fmt: skip


@pytest.mark.rpc
def test_cli_table_for_the_client(silent_winners: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "auction", "1", "--account", str(CLIENT)])

    assert result.exit_code == 0, result.output
    assert f"audit of auction 1 (refunded) as {address(CLIENT)[:20]}" in result.stdout
    assert "FAIL" in result.stdout and "PASS" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("cheating found: data provider")


@pytest.mark.rpc
def test_cli_unknown_auction_is_one_line(silent_winners: Path) -> None:
    result = CliRunner().invoke(app, ["audit", "auction", "7", "--public"])

    assert result.exit_code == 1
    assert "no auction 7 (there are 1)" in str(result.exception)
