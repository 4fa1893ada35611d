"""The P1 flow driven by agents: happy path, restarts, silent parties, disputes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mercato.audit.auction import audit_auction
from mercato.chain.base import Chain
from mercato.crypto.commit import keccak
from mercato.ml.algorithms import AlgorithmSpec
from mercato.ml.datasets import Dataset
from mercato.ml.train import TrainedModel
from mercato.ontology.category import Category
from mercato.protocols.auction import provider as provider_steps
from mercato.protocols.auction.house import Status
from mercato.protocols.auction.scenario import AUCTION_DURATION, MAX_AGENT_ROUNDS, AuctionDemo
from mercato.protocols.deployment import DEFAULT_DELIVERY_PERIOD, DEFAULT_REVIEW_PERIOD
from mercato.storage.base import hash_hex
from mercato.storage.local import LocalBlobStore

DELIVERED_AS_COMMITTED, VERDICTS_JUSTIFIED, DEADLINES_KEPT = 3, 4, 5
"""Numbers of the auction auditor's checks (mercato.audit.auction.CHECKS)."""
PROVIDERS = ("digits-lab", "scan-archive", "linear-labs", "forest-works", "enclave-cloud",
             "attested-hpc", "cheap-cpu")  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def train_once() -> Iterator[None]:
    """Every flow here has the winners train the same model: the same data and algorithm
    assets, the same seed. It is fitted once and handed to each executor that trains it
    again (``train`` itself is tested in tests/ml/test_ml_train.py)."""
    real_train = provider_steps.train
    trained: dict[tuple[Any, ...], TrainedModel] = {}

    def train(
        dataset: Dataset, algorithm: AlgorithmSpec, seed: int, **options: Any
    ) -> TrainedModel:
        key = (dataset.digest(), algorithm.digest(), seed, *sorted(options.items()))
        if key not in trained:
            trained[key] = real_train(dataset, algorithm, seed, **options)
        return trained[key]

    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setattr(provider_steps, "train", train)
        yield


@pytest.fixture
def embedded_demo(tmp_path: Path) -> AuctionDemo:
    from mercato.chain.embedded import EmbeddedChain

    demo = AuctionDemo(EmbeddedChain(), LocalBlobStore(tmp_path / "blobs"), tmp_path / "agents")
    yield demo
    demo.close()


def run(demo: AuctionDemo) -> None:
    report = demo.runner.run_until_idle(MAX_AGENT_ROUNDS)
    assert report.idle


def cheaters(demo: AuctionDemo, auction_id: int, viewer: str | None = None) -> dict[str, list[int]]:
    """Who the auction's auditor (mercato.audit.auction) names, as ``viewer`` or the public."""
    identity = None if viewer is None else demo.people[viewer].identity
    return audit_auction(demo.market, auction_id, identity).cheaters


def events_of(demo: AuctionDemo, name: str, auction_id: int) -> list:
    house = demo.market.auction_house
    return [
        e for e in house.events(from_block=demo.market.deployment.block)
        if e.name == name and e.get("auction_id") == auction_id
    ]  # fmt: skip


def test_full_flow_pays_winners_and_refunds_client(chain: Chain, tmp_path: Path) -> None:
    # prepare
    demo = AuctionDemo(chain, LocalBlobStore(tmp_path / "blobs"), tmp_path / "agents")
    house = demo.market.auction_house
    address = {name: p.identity.address for name, p in demo.people.items()}
    # act
    auction_id = demo.open_auction()
    run(demo)
    chain.time_travel(AUCTION_DURATION)
    run(demo)
    review = demo.stores["client"].get("client", f"review:{auction_id}")
    demo.close()
    # assert
    auction = house.auction(auction_id)
    assert auction.status is Status.CONFIRMED
    assert auction.bidders[Category.DATA] == address["digits-lab"]  # lower floor wins
    assert auction.bidders[Category.ALGORITHM] == address["linear-labs"]
    assert auction.bidders[Category.INFRASTRUCTURE] == address["enclave-cloud"]
    bidders = {e["bidder"] for e in events_of(demo, "BidPlaced", auction_id)}
    assert address["cheap-cpu"] not in bidders  # its class does not match the requirements
    withdrawn = {e["account"]: e["amount"] for e in house.events() if e.name == "Withdrawn"}
    assert withdrawn[address["client"]] == auction.reserve - auction.spent
    for category, winner in enumerate(auction.bidders):
        assert withdrawn[winner] == auction.bids[category]
    assert all(house.owed(a) == 0 for a in address.values())
    assert chain.balance(house.address) == 0
    assert review["accepted"] and review["metrics"]["accuracy"] >= 0.9
    assert cheaters(demo, auction_id) == cheaters(demo, auction_id, "client") == {}


def test_full_flow_with_the_s3_store(s3_endpoint: str, tmp_path: Path) -> None:
    # prepare: every blob (requirements, sealed assets, model, report) goes to S3 on loopback
    from mercato.chain.embedded import EmbeddedChain
    from mercato.storage.s3 import S3BlobStore

    store = S3BlobStore("mercato-flow", prefix="market", endpoint_url=s3_endpoint)
    store.ensure_bucket()
    demo = AuctionDemo(EmbeddedChain(), store, tmp_path / "agents")
    # act
    auction_id = demo.open_auction()
    run(demo)
    demo.recording.time_travel(AUCTION_DURATION)
    run(demo)
    review = demo.stores["client"].get("client", f"review:{auction_id}")
    demo.close()
    # assert: confirmed, and the delivered model is the one stored in S3 (named by its hash)
    auction = demo.market.auction_house.auction(auction_id)
    assert auction.status is Status.CONFIRMED and review["accepted"]
    delivered = events_of(demo, "Delivered", auction_id)[0]
    assert store.has(hash_hex(delivered["sealed_hash"]))
    assert store.has("0x" + auction.report_hash.hex())


def test_no_asset_reaches_the_chain(embedded_demo: AuctionDemo) -> None:
    # prepare
    demo = embedded_demo
    auction_id = demo.open_auction()
    run(demo)
    demo.recording.time_travel(AUCTION_DURATION)
    run(demo)
    # act: everything any contract logged during the run
    logged = b"".join(log.data + b"".join(log.topics) for log in demo.recording.get_logs(0))
    # assert: no slice of a dataset, an algorithm or the model appears on chain
    assets = [p.offer.asset for p in demo.people.values() if p.offer and p.offer.asset]
    review = demo.stores["client"].get("client", f"review:{auction_id}")
    assert review["accepted"]
    for asset in assets:
        for start in range(0, len(asset) - 64, max(1, len(asset) // 50)):
            assert asset[start : start + 64] not in logged
    auction = demo.market.auction_house.auction(auction_id)
    assert auction.model_hash in logged  # only its hash


def test_restarted_agents_carry_on_without_repeating(embedded_demo: AuctionDemo) -> None:
    # prepare: bidding has started
    demo = embedded_demo
    auction_id = demo.open_auction()
    demo.runner.step()
    demo.runner.step()
    # act: every agent is replaced by a new object over its persisted store, twice
    for _ in range(2):
        for name in list(demo.agents):
            demo.make_agent(name)
        demo.runner.step()
    run(demo)
    demo.recording.time_travel(AUCTION_DURATION)
    demo.runner.step()
    for name in list(demo.agents):
        demo.make_agent(name)
    run(demo)
    # assert: finished, and every one-shot step happened exactly once
    assert demo.market.auction_house.auction(auction_id).status is Status.CONFIRMED
    assert len(events_of(demo, "AssetHandedOver", auction_id)) == 2
    assert len(events_of(demo, "Delivered", auction_id)) == 1
    assert len(events_of(demo, "Confirmed", auction_id)) == 1


def test_agent_crash_midway_is_resumed(
    embedded_demo: AuctionDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prepare: the data winner's process dies while handing over its asset
    demo = embedded_demo
    auction_id = demo.open_auction()
    run(demo)
    demo.recording.time_travel(AUCTION_DURATION)
    real_hand_over = provider_steps.hand_over
    crashed = []

    def crash_once(*args: object, **kwargs: object) -> None:
        if not crashed:
            crashed.append(True)
            raise RuntimeError("killed")
        real_hand_over(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("mercato.protocols.auction.agents.hand_over", crash_once)
    with pytest.raises(RuntimeError):
        run(demo)
    # act: a new process (new agent objects over the same stores) takes over
    for name in list(demo.agents):
        demo.make_agent(name)
    run(demo)
    # assert
    assert crashed
    assert demo.market.auction_house.auction(auction_id).status is Status.CONFIRMED
    assert len(events_of(demo, "AssetHandedOver", auction_id)) == 2


def test_silent_client_lets_providers_claim(embedded_demo: AuctionDemo) -> None:
    # prepare: the client's agent is gone once the model is delivered
    demo = embedded_demo
    auction_id = demo.open_auction()
    run(demo)
    demo.recording.time_travel(AUCTION_DURATION)
    client_agent = demo.agents["client"]
    client_agent.step()  # adjudicates
    del demo.agents["client"]
    run(demo)
    house = demo.market.auction_house
    assert house.auction(auction_id).status is Status.DELIVERED
    # act
    demo.recording.time_travel(DEFAULT_REVIEW_PERIOD)
    run(demo)
    # assert: the winners claimed their pay and withdrew it
    auction = house.auction(auction_id)
    assert auction.status is Status.CLAIMED
    withdrawn = {e["account"]: e["amount"] for e in house.events() if e.name == "Withdrawn"}
    for category, winner in enumerate(auction.bidders):
        assert winner is not None and withdrawn[winner] == auction.bids[category]
    client = demo.people["client"].identity.address
    assert cheaters(demo, auction_id) == {f"client {client}": [DEADLINES_KEPT]}


def test_silent_executor_refunds_client(embedded_demo: AuctionDemo) -> None:
    # prepare: the compute winner never delivers
    demo = embedded_demo
    auction_id = demo.open_auction()
    run(demo)
    del demo.agents["enclave-cloud"]
    demo.recording.time_travel(AUCTION_DURATION)
    run(demo)
    house = demo.market.auction_house
    assert house.auction(auction_id).status is Status.ADJUDICATED
    # act
    demo.recording.time_travel(DEFAULT_DELIVERY_PERIOD)
    run(demo)
    # assert: the client got everything back
    auction = house.auction(auction_id)
    assert auction.status is Status.REFUNDED
    refunds = [e for e in house.events() if e.name == "Withdrawn"]
    client = demo.people["client"].identity.address
    assert sum(e["amount"] for e in refunds if e["account"] == client) == auction.reserve
    executor = demo.people["enclave-cloud"].identity.address
    named = {f"infrastructure provider {executor}": [DEADLINES_KEPT]}
    assert cheaters(demo, auction_id) == cheaters(demo, auction_id, "enclave-cloud") == named


def test_rejected_delivery_goes_to_the_arbiter(embedded_demo: AuctionDemo) -> None:
    # prepare: the client demands more accuracy than any offer can reach
    demo = embedded_demo
    demo.requirements = type(demo.requirements)(**{**demo.requirements.__dict__, "minimum": 0.999})
    auction_id = demo.open_auction()
    run(demo)
    # act
    demo.recording.time_travel(AUCTION_DURATION)
    run(demo)
    # assert: rejected with reasons on record, the arbiter found the evidence sound and paid
    house = demo.market.auction_house
    auction = house.auction(auction_id)
    review = demo.stores["client"].get("client", f"review:{auction_id}")
    assert not review["accepted"] and "below the required" in review["problems"][0]
    rejected = events_of(demo, "Rejected", auction_id)[0]
    complaint = "\n".join(review["problems"]).encode()
    assert rejected["reason_hash"] == keccak(complaint)
    assert auction.status is Status.ARBITRATED and auction.paid_mask == 0b111
    # the auditor: a dispute over the model's quality, decided by the arbiter's rule; nobody
    # broke a rule (the complaint is about accuracy, which only the client's data measures)
    audit = audit_auction(demo.market, auction_id, None)
    assert audit.passed and audit.cheaters == {}
    assert "quality" in " ".join(audit.checks[VERDICTS_JUSTIFIED - 1].notes)


def test_tampered_report_is_not_paid_by_the_arbiter(
    embedded_demo: AuctionDemo, monkeypatch: pytest.MonkeyPatch
) -> None:
    # prepare: the executor signs a report that names another model than it delivers
    demo = embedded_demo
    original = provider_steps.ExecutionReport

    def lying_report(**fields: object) -> object:
        fields["output_hash"] = "0x" + "ab" * 32
        return original(**fields)  # type: ignore[arg-type]

    monkeypatch.setattr(provider_steps, "ExecutionReport", lying_report)
    auction_id = demo.open_auction()
    run(demo)
    # act
    demo.recording.time_travel(AUCTION_DURATION)
    run(demo)
    # assert: the client rejected; the arbiter paid data and algorithm, not the executor
    auction = demo.market.auction_house.auction(auction_id)
    review = demo.stores["client"].get("client", f"review:{auction_id}")
    assert "the execution report names another model" in review["problems"]
    assert auction.status is Status.ARBITRATED
    assert auction.paid_mask == (1 << Category.DATA) | (1 << Category.ALGORITHM)
    # the auditor names the executor from the public evidence; the client and arbiter were right
    executor = demo.people["enclave-cloud"].identity.address
    named = {f"infrastructure provider {executor}": [DELIVERED_AS_COMMITTED]}
    assert cheaters(demo, auction_id) == cheaters(demo, auction_id, "client") == named
