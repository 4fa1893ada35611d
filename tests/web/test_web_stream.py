"""The event stream (``GET /api/events``) over a real server on an embedded chain.

A client reads the stream as a browser's EventSource would: it reconnects when a connection
ends, with the last id it saw as ``Last-Event-ID``. Transactions are sent through the
server's reader, so the embedded chain is used by one thread at a time.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from eth_utils.crypto import keccak

from mercato.chain import EmbeddedChain
from mercato.chain.contract import Event
from mercato.protocols.apimarket.endpoints import bind
from mercato.protocols.apimarket.serving import BackgroundServer
from mercato.protocols.deployment import deploy
from mercato.protocols.identity import Identity
from mercato.protocols.marketplace import Marketplace
from mercato.protocols.roles import Role
from mercato.storage.local import LocalBlobStore
from mercato.web.app import Reader, create_app

WAIT_S = 60
"""How long a client waits for a message before the test fails (never asserted on)."""
MAX_PRICES = (3 * 10**15, 5 * 10**15, 8 * 10**15)
HOUR = 3600


@dataclass
class Client:
    """An EventSource-like reader of ``/api/events``: messages with data on a queue."""

    url: str
    last_id: str | None = None
    messages: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    connected: threading.Event = field(default_factory=threading.Event)
    stopped: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)
    """Set when a connection ends (the client then reconnects)."""
    comments: int = 0

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True).start()
        assert self.connected.wait(WAIT_S), "the stream did not answer"

    def _run(self) -> None:
        while not self.stopped.is_set():
            headers = {} if self.last_id is None else {"Last-Event-ID": self.last_id}
            with requests.get(self.url, headers=headers, stream=True, timeout=WAIT_S) as answer:
                assert answer.status_code == 200, answer.text
                assert answer.headers["content-type"].startswith("text/event-stream")
                self.connected.set()
                block: dict[str, str] = {}
                for raw in answer.iter_lines():
                    line = raw.decode()
                    if self.stopped.is_set():
                        return
                    if line.startswith(":"):
                        self.comments += 1
                    elif line:
                        name, _, value = line.partition(": ")
                        block[name] = value
                    else:
                        self._dispatch(block)
                        block = {}
            self.ended.set()

    def _dispatch(self, block: dict[str, str]) -> None:
        if "id" in block:
            self.last_id = block["id"]
        if "data" in block:
            self.messages.put({**block, "data": json.loads(block["data"])})

    def next(self) -> dict[str, Any]:
        return self.messages.get(timeout=WAIT_S)

    def stop(self) -> None:
        self.stopped.set()


@dataclass
class Market:
    """A market served over HTTP; transactions go through the server's reader."""

    url: str
    reader: Reader
    chain: EmbeddedChain
    clients: list[Client] = field(default_factory=list)

    def act(self, action: Callable[[Marketplace], Any]) -> Any:
        return self.reader.read("auction", action)

    def open_auction(self, number: int) -> Event:
        """Open an auction; its AuctionCreated event."""

        def create(market: Marketplace) -> Event:
            client, arbiter = market.chain.dev_accounts(3)[1:]
            _, result = market.auction_house.create(
                client,
                requirements_hash=keccak(f"requirements {number}".encode()),
                max_prices=MAX_PRICES,
                duration=HOUR,
                min_refs=0,
                arbiter=arbiter.address,
            )
            return result.event("AuctionCreated")

        created: Event = self.act(create)
        return created

    def listen(self, query: str = "", last_id: str | None = None) -> Client:
        client = Client(f"{self.url}/api/events{query}", last_id)
        client.start()
        self.clients.append(client)
        return client


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Market]:
    chain = EmbeddedChain()
    deployer, client, arbiter = chain.dev_accounts(3)
    market = Marketplace(chain, deploy(chain, deployer), LocalBlobStore(tmp_path / "blobs"))
    market.registry.register(Identity(client), Role.CLIENT)
    market.registry.register(Identity(arbiter), Role.ARBITER)
    reader = Reader.of(lambda: market)
    sock, url = bind("127.0.0.1", 0)
    server = BackgroundServer(create_app(reader), sock)
    found = Market(url, reader, chain)
    try:
        yield found
    finally:
        for listening in found.clients:
            listening.stop()
        server.stop()
        chain.close()


def chain_message(event: Event, protocol: str, ident: int | None) -> dict[str, Any]:
    """The parts of a message that ``event`` fixes."""
    return {
        "id": f"{event.block_number}-{event.log_index}",
        "event": "chain",
        "protocol": protocol,
        "entry": ident,
        "name": event.name,
        "block": event.block_number,
        "tx": event.tx_hash,
    }


def seen(message: dict[str, Any]) -> dict[str, Any]:
    data = message["data"]
    return {
        "id": message["id"],
        "event": message["event"],
        "protocol": data["protocol"],
        "entry": data["id"],
        "name": data["name"],
        "block": data["block"],
        "tx": data["tx"],
    }


def test_a_transaction_after_connecting_is_one_message(served: Market) -> None:
    # prepare: an auction from before the connection
    served.open_auction(1)
    client = served.listen("?protocol=auction")

    # act
    created = served.open_auction(2)

    # assert: only the new auction's event, with its meaning and arguments
    message = client.next()
    assert seen(message) == chain_message(created, "auction", 2)
    assert message["data"]["summary"].startswith("created by ")
    assert message["data"]["args"]["auction_id"] == 2
    assert client.messages.empty()


def test_filters_keep_one_protocols_or_one_entrys_events(served: Market) -> None:
    # prepare
    everything = served.listen()
    one_entry = served.listen("?protocol=auction&id=2")

    # act: two auctions, then a registration
    first = served.open_auction(1)
    second = served.open_auction(2)
    newcomer = Identity(served.chain.dev_accounts(4)[3])
    registered = served.act(lambda m: m.registry.register(newcomer, Role.CLIENT))

    # assert
    assert seen(one_entry.next()) == chain_message(second, "auction", 2)
    assert [seen(everything.next()) for _ in range(2)] == [
        chain_message(first, "auction", 1),
        chain_message(second, "auction", 2),
    ]
    joined = everything.next()
    assert seen(joined) == chain_message(registered.event("Registered"), "registry", None)
    assert newcomer.address in joined["data"]["summary"]
    assert one_entry.messages.empty()


def test_a_client_reconnecting_with_last_event_id_gets_what_it_missed(served: Market) -> None:
    # prepare: the client saw the first auction's event, then was away for two more
    first = served.open_auction(1)
    missed = [served.open_auction(2), served.open_auction(3)]

    # act
    client = served.listen("?protocol=auction", last_id=f"{first.block_number}-{first.log_index}")

    # assert
    assert [seen(client.next()) for _ in missed] == [
        chain_message(event, "auction", number) for number, event in enumerate(missed, start=2)
    ]


def test_a_connection_ends_with_where_it_got_and_a_client_carries_on(served: Market) -> None:
    # prepare: a client whose first connection ended with nothing to say
    client = served.listen("?protocol=auction")
    assert client.ended.wait(WAIT_S), "a connection ends after its span"
    assert client.last_id is not None, "it said where it got"

    # act: an event after the reconnection
    created = served.open_auction(1)

    # assert: the reconnection resumed where the first connection got, and keeps sending
    assert seen(client.next()) == chain_message(created, "auction", 1)
    assert client.comments >= 1


@pytest.mark.parametrize(
    ("query", "headers", "problem"),
    [
        ("?protocol=nothing", {}, "protocol: no protocol 'nothing'"),
        ("?id=1", {}, "id: an entry id needs its protocol"),
        ("?protocol=auction&id=0", {}, "id: "),
        ("", {"Last-Event-ID": "soon"}, "Last-Event-ID: expected <block>-<log_index>"),
    ],
)
def test_a_bad_request_is_refused_in_one_line(
    served: Market, query: str, headers: dict[str, str], problem: str
) -> None:
    # act
    answer = requests.get(f"{served.url}/api/events{query}", headers=headers, timeout=WAIT_S)

    # assert
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail.startswith(problem) and "\n" not in detail
