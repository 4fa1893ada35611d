"""Handlers are plain functions: test one with a hand-made event and no chain at all."""

from __future__ import annotations

from typing import cast

from mercato.agents import AgentContext, AgentStore
from mercato.chain.base import Chain
from mercato.chain.contract import Event

SENDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
EMITTER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def remember_largest_ping(event: Event, ctx: AgentContext) -> None:
    """What a protocol handler looks like: read the event, update the agent's state."""
    key = f"largest/{event['sender']}"
    ctx.state.put(key, max(ctx.state.get(key, 0), event["amount"]))


class NoChain:
    """Fails the test if the handler touches the chain."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the handler used chain.{name}")


def ping(amount: int, log_index: int) -> Event:
    args = {"sender": SENDER, "amount": amount}
    return Event("Ping", args, EMITTER, 1, "0x" + "ab" * 32, log_index)


def test_a_handler_runs_without_a_chain(store: AgentStore) -> None:
    ctx = AgentContext("alice", cast(Chain, NoChain()), store)

    for index, amount in enumerate([3, 9, 4]):
        remember_largest_ping(ping(amount, index), ctx)

    assert ctx.state.get(f"largest/{SENDER}") == 9
    assert ctx.state.keys("largest/") == [f"largest/{SENDER}"]
