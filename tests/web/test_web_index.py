"""The read model's event index: a market's history is read once, then only new blocks.

An embedded chain with many auctions, read through the HTTP API over a chain that counts
its ``get_logs`` calls: reading every entry costs one scan per watched contract, whatever
the number of entries, and reading them all again reads only the blocks mined since.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_utils.crypto import keccak

from mercato.chain import EmbeddedChain
from mercato.chain.base import Chain, Log
from mercato.protocols import readmodel
from mercato.protocols.apimarket.endpoints import bind
from mercato.protocols.apimarket.serving import BackgroundServer
from mercato.protocols.catalog import units
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.storage.local import LocalBlobStore
from mercato.web.app import create_app

TIMEOUT_S = 30
AUCTIONS = 30
MAX_PRICES = (3 * 10**15, 5 * 10**15, 8 * 10**15)
HOUR = 3600
WATCHED = 1 + len(units())
"""The contracts an index of one deployment reads: the registry and one per protocol."""
AUCTION = next(unit for unit in units() if unit.key == "auction")


class CountingChain:
    """A chain that notes the block range of each ``get_logs`` call, counts its contract
    calls and does the rest as the chain it wraps."""

    def __init__(self, chain: Chain) -> None:
        self._chain = chain
        self.reads: list[tuple[int, int | None]] = []
        self.calls = 0

    def call(self, to: str, data: bytes, sender: str | None = None, value: int = 0) -> bytes:
        self.calls += 1
        answer: bytes = self._chain.call(to, data, sender, value)
        return answer

    def get_logs(
        self,
        from_block: int,
        to_block: int | None = None,
        address: str | None = None,
        topics: Sequence[bytes | None] = (),
    ) -> list[Log]:
        self.reads.append((from_block, to_block))
        logs: list[Log] = self._chain.get_logs(from_block, to_block, address, topics)
        return logs

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)


@dataclass
class Auctions:
    """A market whose client opens auctions, and the same market over a counting chain."""

    market: Marketplace
    counted: Marketplace
    chain: CountingChain
    client: Identity
    arbiter: Identity

    def open(self, count: int) -> None:
        for number in range(count):
            self.market.auction_house.create(
                self.client.account,
                requirements_hash=keccak(f"requirements {number}".encode()),
                max_prices=MAX_PRICES,
                duration=HOUR,
                min_refs=0,
                arbiter=self.arbiter.address,
            )


@pytest.fixture
def auctions(tmp_path: Path) -> Iterator[Auctions]:
    chain = EmbeddedChain()
    try:
        deployer, client, arbiter = chain.dev_accounts(3)
        store = LocalBlobStore(tmp_path / "blobs")
        market = Marketplace(chain, deploy(chain, deployer), store)
        market.registry.register(Identity(client), Role.CLIENT)
        market.registry.register(Identity(arbiter), Role.ARBITER)
        counting = CountingChain(chain)
        counted = Marketplace(counting, market.deployment, store)  # type: ignore[arg-type]
        yield Auctions(market, counted, counting, Identity(client), Identity(arbiter))
    finally:
        chain.close()


@pytest.fixture
def served(auctions: Auctions) -> Iterator[str]:
    """The API over the counted market."""
    sock, url = bind("127.0.0.1", 0)
    server = BackgroundServer(create_app(lambda: auctions.counted), sock)
    try:
        yield url
    finally:
        server.stop()


def read_everything(url: str) -> list[dict[str, Any]]:
    listed = requests.get(f"{url}/api/auction", timeout=TIMEOUT_S)
    assert listed.status_code == 200, listed.text
    details = []
    for summary in listed.json():
        shown = requests.get(f"{url}/api/auction/{summary['id']}", timeout=TIMEOUT_S)
        assert shown.status_code == 200, shown.text
        details.append(shown.json())
    return details


def test_reading_every_entry_scans_the_history_once(auctions: Auctions, served: str) -> None:
    # prepare
    auctions.open(AUCTIONS)
    start = auctions.market.deployment.block

    # act
    details = read_everything(served)

    # assert: one scan of each watched contract from the deployment on, not one per auction
    assert len(details) == AUCTIONS
    assert len(auctions.chain.reads) == WATCHED
    assert {first for first, _ in auctions.chain.reads} == {start}
    # and each entry's events are those a scan of the chain finds
    for number, shown in enumerate(details, start=1):
        assert shown == readmodel.pages(AUCTION).detail(auctions.market, number)
        assert [e["name"] for e in shown["events"]] == ["AuctionCreated"]


def test_a_second_reading_reads_only_the_new_blocks(auctions: Auctions, served: str) -> None:
    # prepare: everything read once, then one more auction
    auctions.open(3)
    read_everything(served)
    head = auctions.market.chain.block_number()
    auctions.chain.reads.clear()
    auctions.open(1)

    # act
    details = read_everything(served)

    # assert: one refresh at the first detail, from the block after the last one read
    assert [d["auction"]["id"] for d in details] == [1, 2, 3, 4]
    assert len(auctions.chain.reads) == WATCHED
    assert {first for first, _ in auctions.chain.reads} == {head + 1}
    assert [e["name"] for e in details[-1]["events"]] == ["AuctionCreated"]


def test_the_index_groups_events_by_protocol_and_entry(auctions: Auctions) -> None:
    # prepare
    index = readmodel.EventIndex(auctions.market)
    registered = index.refresh()
    auctions.open(2)

    # act
    new = index.refresh()
    again = index.refresh()

    # assert: the registrations are the registry's, each auction's event is its own
    assert {(e.protocol, e.entry) for e in registered} == {(readmodel.REGISTRY, None)}
    assert [e.event.name for e in registered].count("Registered") == 2
    assert [(e.protocol, e.entry, e.event.name) for e in new] == [
        ("auction", 1, "AuctionCreated"),
        ("auction", 2, "AuctionCreated"),
    ]
    assert again == []
    assert [e.name for e in index.events_of("auction", 2)] == ["AuctionCreated"]
    assert index.events_of("auction", 3) == []
    assert index.after(new[0].position) == [new[1]]
    assert index.last() == new[1].position


@pytest.mark.parametrize("path", ["/api/auction", "/api/markets", "/api/participants", "/auction"])
def test_a_list_is_read_from_the_chain_once_per_block(
    auctions: Auctions, served: str, path: str
) -> None:
    # prepare: a few auctions, the list read once
    auctions.open(3)
    first = requests.get(served + path, timeout=TIMEOUT_S)
    auctions.chain.calls = 0

    # act: the same list again with the chain where it was, then after a new auction
    again = requests.get(served + path, timeout=TIMEOUT_S)
    unchanged = auctions.chain.calls
    auctions.open(1)
    moved = requests.get(served + path, timeout=TIMEOUT_S)

    # assert: the second answer is the first, read without one contract call; after the new
    # block the list is read again (and a list of entries shows the fourth auction)
    assert first.status_code == again.status_code == moved.status_code == 200
    assert again.text == first.text
    assert unchanged == 0
    assert auctions.chain.calls > 0
    assert (moved.text != first.text) == (path != "/api/participants")
    if path == "/api/auction":
        assert [a["id"] for a in moved.json()] == [1, 2, 3, 4]
