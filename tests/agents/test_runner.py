"""Runner: several agents in one process over one chain, stepped until idle."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from mercato.agents import Agent, AgentContext, AgentStore, Runner
from mercato.chain.contract import Contract, Event
from mercato.chain.embedded import EmbeddedChain
from mercato.errors import InputError

KICKOFF = 5
DEADLINE_SECONDS = 3_600
ECHO_ROUNDS = 5


def ping_pong_agents(
    chain: EmbeddedChain,
    emitter: Contract,
    store: AgentStore,
    alice_key: LocalAccount,
    bob_key: LocalAccount,
    decrement: int = 1,
) -> tuple[Agent, Agent, list[int], list[int]]:
    """Alice answers each Pong with a smaller Ping, Bob each Ping with a smaller Pong."""
    alice = Agent("alice", chain, [emitter], store)
    bob = Agent("bob", chain, [emitter], store)
    alice_saw: list[int] = []
    bob_saw: list[int] = []

    @alice.on("Pong")
    def answer_pong(event: Event, ctx: AgentContext) -> None:
        alice_saw.append(event["amount"])
        if event["amount"] > 0:
            emitter.transact("ping", event["amount"] - decrement, sender=alice_key)

    @bob.on("Ping")
    def answer_ping(event: Event, ctx: AgentContext) -> None:
        bob_saw.append(event["amount"])
        if event["amount"] > 0:
            emitter.transact("pong", event["amount"] - decrement, sender=bob_key)

    return alice, bob, alice_saw, bob_saw


def test_two_agents_react_to_each_other_until_idle(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store: AgentStore
) -> None:
    alice, bob, alice_saw, bob_saw = ping_pong_agents(
        chain, emitter, store, accounts[1], accounts[2]
    )
    runner = Runner([alice, bob])
    emitter.transact("ping", KICKOFF, sender=accounts[0])

    report = runner.run_until_idle()
    again = runner.run_until_idle()

    assert report.idle
    assert report.events == KICKOFF + 1
    assert bob_saw == [5, 3, 1]
    assert alice_saw == [4, 2, 0]
    assert (again.events, again.rounds, again.idle) == (0, 1, True)


def test_a_tick_acting_on_time_starts_an_exchange(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store: AgentStore
) -> None:
    alice, bob, alice_saw, bob_saw = ping_pong_agents(
        chain, emitter, store, accounts[1], accounts[2]
    )
    deadline = chain.timestamp() + DEADLINE_SECONDS

    @alice.every_tick
    def act_after_deadline(ctx: AgentContext) -> None:
        if ctx.chain.timestamp() >= deadline and not ctx.state.get("acted", False):
            emitter.transact("ping", 2, sender=accounts[1])
            ctx.state.put("acted", True)

    runner = Runner([alice, bob])
    before = runner.run_until_idle()
    chain.time_travel(DEADLINE_SECONDS)
    after = runner.run_until_idle()

    assert before.events == 0
    assert after.idle
    assert bob_saw == [2, 0]
    assert alice_saw == [1]


def test_agents_that_never_settle_are_reported_busy(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store: AgentStore
) -> None:
    alice, bob, _, _ = ping_pong_agents(
        chain, emitter, store, accounts[1], accounts[2], decrement=0
    )
    emitter.transact("ping", 1, sender=accounts[0])

    report = Runner([alice, bob]).run_until_idle(max_rounds=ECHO_ROUNDS)

    assert not report.idle
    assert report.rounds == ECHO_ROUNDS
    assert report.events >= ECHO_ROUNDS


def test_agent_names_must_be_unique(
    chain: EmbeddedChain, emitter: Contract, store: AgentStore
) -> None:
    twin = Agent("alice", chain, [emitter], store)

    with pytest.raises(InputError, match="repeated: alice"):
        Runner([twin, Agent("alice", chain, [emitter], store)])
