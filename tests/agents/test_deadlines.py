"""The deadline keeper: entries moved past their deadlines, final ones dropped, what is owed
withdrawn, and nothing done twice, across a restart too."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from eth_account.signers.local import LocalAccount

from mercato.agents import Agent, AgentStore, Deadlines, keep_deadlines
from mercato.chain.contract import Contract
from mercato.chain.embedded import EmbeddedChain
from mercato.protocols.identity import Identity
from mercato.protocols.wrapper import ContractWrapper

PREFIX = "entry:"
HOUR = 3_600
OWED = 5


@dataclass(frozen=True)
class Status:
    final: bool


@dataclass(frozen=True)
class Entry:
    status: Status
    deadline: int


class Ledger:
    """A stand-in for a market's wrapper: its entries, what it owes, the calls it was sent."""

    def __init__(self, chain: EmbeddedChain) -> None:
        self.chain = chain
        self.entries: dict[int, Entry] = {}
        self.owes = 0
        self.calls: list[tuple[str, int]] = []

    def read(self, entry_id: int) -> Entry:
        return self.entries[entry_id]

    def owed(self, address: str) -> int:
        return self.owes

    def withdraw(self, account: Any) -> None:
        self.calls.append(("withdraw", self.owes))
        self.owes = 0

    def move(self, entry_id: int, entry: Entry, now: int) -> bool:
        """What a protocol gives: past its deadline, close the entry and stop following it."""
        if now < entry.deadline:
            return True
        self.calls.append(("close", entry_id))
        self.entries[entry_id] = Entry(Status(final=True), entry.deadline)
        return False


def keeper(
    chain: EmbeddedChain, emitter: Contract, store: AgentStore, ledger: Ledger, me: Identity
) -> tuple[Agent, Deadlines[Entry]]:
    agent = Agent("alice", chain, [emitter], store)
    deadlines = Deadlines(PREFIX, ledger.read, ledger.move)
    keep_deadlines(agent, me, cast(ContractWrapper, ledger), deadlines)
    return agent, deadlines


def test_the_keeper_moves_past_deadlines_drops_final_entries_and_withdraws(
    chain: EmbeddedChain, emitter: Contract, store: AgentStore, accounts: list[LocalAccount]
) -> None:
    # prepare: one final entry, one not due yet, one past its deadline; something owed
    ledger = Ledger(chain)
    now = chain.timestamp()
    ledger.entries = {
        1: Entry(Status(final=True), now - HOUR),
        2: Entry(Status(final=False), now + HOUR),
        3: Entry(Status(final=False), now - 1),
    }
    ledger.owes = OWED
    agent, deadlines = keeper(chain, emitter, store, ledger, Identity(accounts[1]))
    for entry_id in ledger.entries:
        deadlines.follow(agent.context, entry_id)

    # act
    agent.step()
    agent.step()

    # assert: entry 3 closed once, entry 2 still followed, the money withdrawn once
    assert ledger.calls == [("close", 3), ("withdraw", OWED)]
    assert agent.context.state.keys(PREFIX) == [f"{PREFIX}2"]
    assert deadlines.follows(agent.context, 2) and not deadlines.follows(agent.context, 3)


def test_a_restarted_keeper_follows_the_same_entries(
    chain: EmbeddedChain,
    emitter: Contract,
    store_path: Path,
    accounts: list[LocalAccount],
) -> None:
    # prepare: an agent follows an entry due in an hour, then stops
    ledger = Ledger(chain)
    ledger.entries = {7: Entry(Status(final=False), chain.timestamp() + HOUR)}
    me = Identity(accounts[1])
    with AgentStore(store_path) as store:
        agent, deadlines = keeper(chain, emitter, store, ledger, me)
        deadlines.follow(agent.context, 7, "noted")
        agent.step()
    chain.time_travel(HOUR)

    # act: a new agent over the same store
    with AgentStore(store_path) as store:
        agent, deadlines = keeper(chain, emitter, store, ledger, me)
        agent.step()
        agent.step()
        left = agent.context.state.keys(PREFIX)

    # assert
    assert ledger.calls == [("close", 7)]
    assert left == []
