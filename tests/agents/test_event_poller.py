"""EventPoller: decoded events in chain order, an in-memory cursor, bounded ranges."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from eth_account.signers.local import LocalAccount

from mercato.chain.contract import Contract
from mercato.chain.embedded import EmbeddedChain
from mercato.chain.events import EventPoller
from mercato.errors import InputError


def test_poll_returns_new_events_in_chain_order_and_advances(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract
) -> None:
    emitter.transact("ping", 1, sender=accounts[1])
    emitter.transact("ping_many", [2, 3, 4], sender=accounts[2])
    emitter.transact("pong", 5, sender=accounts[1])
    poller = EventPoller(chain, [emitter])

    events = poller.poll()

    assert [(e.name, e["amount"]) for e in events] == [
        ("Ping", 1),
        ("Ping", 2),
        ("Ping", 3),
        ("Ping", 4),
        ("Pong", 5),
    ]
    assert events[0]["sender"] == accounts[1].address
    assert [e.log_index for e in events[1:4]] == [0, 1, 2]
    assert poller.cursor == chain.block_number() + 1
    assert poller.caught_up
    assert poller.poll() == []


def test_poll_reads_at_most_max_blocks(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract
) -> None:
    for amount in range(4):
        emitter.transact("ping", amount, sender=accounts[1])
    poller = EventPoller(chain, [emitter], start_block=chain.block_number() - 3)

    first = poller.poll(max_blocks=3)
    rest = poller.poll(max_blocks=3)

    assert [e["amount"] for e in first] == [0, 1, 2]
    assert [e["amount"] for e in rest] == [3]
    assert poller.cursor == chain.block_number() + 1


def test_poll_merges_contracts_in_chain_order(
    chain: EmbeddedChain,
    accounts: list[LocalAccount],
    emitter: Contract,
    deploy_emitter: Callable[[], Contract],
) -> None:
    other = deploy_emitter()
    emitter.transact("ping", 1, sender=accounts[1])
    other.transact("ping", 2, sender=accounts[1])
    emitter.transact("ping", 3, sender=accounts[1])
    poller = EventPoller(chain, [emitter, other])

    events = poller.poll()

    assert [(e.address, e["amount"]) for e in events] == [
        (emitter.address, 1),
        (other.address, 2),
        (emitter.address, 3),
    ]


def test_start_block_and_seek_choose_where_reading_begins(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract
) -> None:
    emitter.transact("ping", 1, sender=accounts[1])
    emitter.transact("ping", 2, sender=accounts[1])
    poller = EventPoller(chain, [emitter], start_block=chain.block_number())

    assert [e["amount"] for e in poller.poll()] == [2]
    poller.seek(0)
    assert [e["amount"] for e in poller.poll()] == [1, 2]


def test_confirmations_hold_back_the_newest_blocks(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract
) -> None:
    emitter.transact("ping", 1, sender=accounts[1])
    emitter.transact("ping", 2, sender=accounts[1])
    poller = EventPoller(chain, [emitter], confirmations=1)

    assert [e["amount"] for e in poller.poll()] == [1]
    emitter.transact("ping", 3, sender=accounts[1])
    assert [e["amount"] for e in poller.poll()] == [2]


def test_events_of_unwatched_contracts_are_ignored(
    chain: EmbeddedChain,
    accounts: list[LocalAccount],
    emitter: Contract,
    deploy_emitter: Callable[[], Contract],
) -> None:
    other = deploy_emitter()
    other.transact("ping", 1, sender=accounts[1])
    poller = EventPoller(chain, [emitter])

    assert poller.poll() == []
    assert poller.cursor == chain.block_number() + 1


def test_bad_arguments_are_rejected(chain: EmbeddedChain, emitter: Contract) -> None:
    with pytest.raises(InputError, match="negative"):
        EventPoller(chain, [emitter], start_block=-1)
    poller = EventPoller(chain, [emitter])
    with pytest.raises(InputError, match="max_blocks"):
        poller.poll(max_blocks=0)
    with pytest.raises(InputError, match="confirmations"):
        EventPoller(chain, [emitter], confirmations=-1)
