"""Agent: ordered dispatch, filters, idempotent steps, crash safety, restarts, failures."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

from mercato.agents import (
    MAX_HANDLER_ATTEMPTS,
    Agent,
    AgentContext,
    AgentStore,
    HandlerStatus,
)
from mercato.chain.contract import Contract, Event
from mercato.chain.embedded import EmbeddedChain
from mercato.errors import ConfigError, InputError, ProtocolError, RaceLost

RUN_TIMEOUT_SECONDS = 30.0  # a safety net for the threaded test, not a timing assertion
RUN_INTERVAL_SECONDS = 0.01


class PowerCut(Exception):
    """Stands in for a crash: not a MercatoError, so it propagates out of the agent."""


def test_handlers_receive_events_in_chain_order(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store: AgentStore
) -> None:
    emitter.transact("ping", 1, sender=accounts[1])
    emitter.transact("ping_many", [2, 3], sender=accounts[1])
    emitter.transact("pong", 4, sender=accounts[2])
    emitter.transact("ping", 5, sender=accounts[1])
    agent = Agent("alice", chain, [emitter], store)
    seen: list[tuple[str, int]] = []

    @agent.on("Ping")
    def first(event: Event, ctx: AgentContext) -> None:
        seen.append(("first", event["amount"]))

    @agent.on("Ping")
    def second(event: Event, ctx: AgentContext) -> None:
        seen.append(("second", event["amount"]))

    @agent.on("Pong")
    def pong(event: Event, ctx: AgentContext) -> None:
        seen.append(("pong", event["amount"]))

    handled = agent.step()

    assert handled == 5
    assert seen == [
        ("first", 1),
        ("second", 1),
        ("first", 2),
        ("second", 2),
        ("first", 3),
        ("second", 3),
        ("pong", 4),
        ("first", 5),
        ("second", 5),
    ]


def test_where_filters_events(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store: AgentStore
) -> None:
    emitter.transact("ping_many", [1, 2, 3, 4], sender=accounts[1])
    emitter.transact("ping", 6, sender=accounts[2])
    agent = Agent("alice", chain, [emitter], store)
    even: list[int] = []
    from_bob: list[int] = []

    @agent.on("Ping", where=lambda e: e["amount"] % 2 == 0)
    def on_even(event: Event, ctx: AgentContext) -> None:
        even.append(event["amount"])

    @agent.on("Ping", where=lambda e: e["sender"] == accounts[2].address)
    def on_bob(event: Event, ctx: AgentContext) -> None:
        from_bob.append(event["amount"])

    agent.step()

    assert even == [2, 4, 6]
    assert from_bob == [6]


def test_contract_filter_keeps_one_contracts_events_and_watches_it(
    chain: EmbeddedChain,
    accounts: list[LocalAccount],
    emitter: Contract,
    deploy_emitter: Callable[[], Contract],
    store: AgentStore,
) -> None:
    other = deploy_emitter()
    emitter.transact("ping", 1, sender=accounts[1])
    other.transact("ping", 2, sender=accounts[1])
    agent = Agent("alice", chain, [emitter], store)
    any_ping: list[int] = []
    other_ping: list[int] = []

    @agent.on("Ping")
    def on_any(event: Event, ctx: AgentContext) -> None:
        any_ping.append(event["amount"])

    @agent.on("Ping", contract=other)
    def on_other(event: Event, ctx: AgentContext) -> None:
        assert ctx.contract(event.address) is other
        other_ping.append(event["amount"])

    agent.step()

    assert any_ping == [1, 2]
    assert other_ping == [2]


def test_an_unknown_event_name_is_refused_with_a_hint(
    chain: EmbeddedChain, emitter: Contract, store: AgentStore
) -> None:
    agent = Agent("alice", chain, [emitter], store)

    with pytest.raises(ConfigError, match="Did you mean 'Ping'"):
        agent.on("Pingg")


def test_one_function_twice_for_one_event_needs_a_name(
    chain: EmbeddedChain, emitter: Contract, store: AgentStore
) -> None:
    agent = Agent("alice", chain, [emitter], store)

    def handler(event: Event, ctx: AgentContext) -> None:
        pass

    agent.on("Ping")(handler)
    agent.on("Pong")(handler)  # another event: fine
    with pytest.raises(ConfigError, match="name="):
        agent.on("Ping")(handler)
    agent.on("Ping", name="handler-again")(handler)


def test_a_second_step_handles_nothing(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store: AgentStore
) -> None:
    emitter.transact("ping_many", [1, 2], sender=accounts[1])
    agent = Agent("alice", chain, [emitter], store)
    seen: list[int] = []
    agent.on("Ping")(lambda event, ctx: seen.append(event["amount"]))
    agent.step()

    handled_again = agent.step()

    assert handled_again == 0
    assert seen == [1, 2]
    assert store.cursor("alice") == chain.block_number() + 1


def _crashing_agent(
    chain: EmbeddedChain,
    emitter: Contract,
    store: AgentStore,
    done: list[int],
    audited: list[int],
    crash_at: set[int],
) -> Agent:
    """An agent that counts Pings in its state; it crashes once on each amount in crash_at."""
    agent = Agent("alice", chain, [emitter], store)

    @agent.on("Ping")
    def count(event: Event, ctx: AgentContext) -> None:
        ctx.state.put("count", ctx.state.get("count", 0) + 1)
        if event["amount"] in crash_at:
            crash_at.discard(event["amount"])
            raise PowerCut("between the state write and the return")
        done.append(event["amount"])

    @agent.on("Ping")
    def audit(event: Event, ctx: AgentContext) -> None:
        audited.append(event["amount"])

    return agent


def test_a_crash_midway_through_a_block_loses_nothing_and_repeats_nothing(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store_path: Path
) -> None:
    done: list[int] = []
    audited: list[int] = []
    crash_at = {4}
    emitter.transact("ping", 1, sender=accounts[1])
    first_store = AgentStore(store_path)
    _crashing_agent(chain, emitter, first_store, done, audited, crash_at).step()
    emitter.transact("ping_many", [2, 3, 4, 5], sender=accounts[1])
    crashed_block = chain.block_number()
    emitter.transact("ping", 6, sender=accounts[1])

    with pytest.raises(PowerCut):
        _crashing_agent(chain, emitter, first_store, done, audited, crash_at).step()
    # the crashed process never closes its store; a new one opens the same file
    assert first_store.cursor("alice") == crashed_block
    second_store = AgentStore(store_path)
    _crashing_agent(chain, emitter, second_store, done, audited, crash_at).step()

    assert done == [1, 2, 3, 4, 5, 6]
    assert audited == [1, 2, 3, 4, 5, 6]
    assert second_store.get("alice", "count") == 6  # the crashed write was rolled back
    assert second_store.cursor("alice") == chain.block_number() + 1
    second_store.close()
    first_store.close()


def test_the_same_agent_object_resumes_after_a_crashing_step(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store: AgentStore
) -> None:
    done: list[int] = []
    audited: list[int] = []
    emitter.transact("ping_many", [1, 2, 3], sender=accounts[1])
    agent = _crashing_agent(chain, emitter, store, done, audited, crash_at={2})

    with pytest.raises(PowerCut):
        agent.step()
    agent.step()

    assert done == [1, 2, 3]
    assert audited == [1, 2, 3]
    assert store.get("alice", "count") == 3


def test_restart_after_a_clean_stop_resumes_from_the_persisted_cursor(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store_path: Path
) -> None:
    seen: list[int] = []

    def record(event: Event, ctx: AgentContext) -> None:
        seen.append(event["amount"])

    emitter.transact("ping_many", [1, 2, 3], sender=accounts[1])
    with AgentStore(store_path) as store:
        agent = Agent("alice", chain, [emitter], store)
        agent.on("Ping")(record)
        stop = threading.Event()
        thread = threading.Thread(target=agent.run, args=(stop, RUN_INTERVAL_SECONDS))
        thread.start()
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while len(seen) < 3 and time.monotonic() < deadline:
            time.sleep(RUN_INTERVAL_SECONDS)
        stop.set()
        thread.join()
        stopped_at = store.cursor("alice")
    emitter.transact("ping", 4, sender=accounts[1])
    emitter.transact("ping", 5, sender=accounts[1])

    with AgentStore(store_path) as store:
        restarted = Agent("alice", chain, [emitter], store)
        restarted.on("Ping")(record)
        resumed_from = restarted.cursor
        restarted.step()

    assert seen == [1, 2, 3, 4, 5]
    assert resumed_from == stopped_at


def test_mercato_errors_are_retried_a_bounded_number_of_times(
    chain: EmbeddedChain,
    accounts: list[LocalAccount],
    emitter: Contract,
    store: AgentStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emitter.transact("ping", 1, sender=accounts[1])
    failing_block = chain.block_number()
    emitter.transact("ping", 2, sender=accounts[1])
    agent = Agent("alice", chain, [emitter], store)
    attempts: list[int] = []
    steady: list[int] = []

    @agent.on("Ping")
    def flaky(event: Event, ctx: AgentContext) -> None:
        if event["amount"] == 1:
            attempts.append(1)
            raise ProtocolError("auction is not open")

    @agent.on("Ping")
    def record(event: Event, ctx: AgentContext) -> None:
        steady.append(event["amount"])

    with caplog.at_level(logging.WARNING, logger="mercato.agents"):
        assert agent.step() == 2
        assert store.cursor("alice") == failing_block  # held back for the retry
        for _ in range(MAX_HANDLER_ATTEMPTS - 1):
            assert agent.step() == 1
        handled_after_giving_up = agent.step()

    assert handled_after_giving_up == 0
    assert len(attempts) == MAX_HANDLER_ATTEMPTS
    assert steady == [1, 2]  # the agent went on meanwhile
    [failure] = store.failures("alice")
    assert failure.status is HandlerStatus.FAILED
    assert failure.attempts == MAX_HANDLER_ATTEMPTS
    assert "auction is not open" in failure.error
    assert store.cursor("alice") == chain.block_number() + 1
    assert sum("gave up" in r.message for r in caplog.records) == 1


def test_a_failed_attempt_rolls_back_its_state_and_a_retry_can_succeed(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store: AgentStore
) -> None:
    emitter.transact("ping", 1, sender=accounts[1])
    agent = Agent("alice", chain, [emitter], store)
    failures_left = [1]

    @agent.on("Ping")
    def once_flaky(event: Event, ctx: AgentContext) -> None:
        ctx.state.put("writes", ctx.state.get("writes", 0) + 1)
        if failures_left:
            failures_left.pop()
            raise ProtocolError("not yet")

    agent.step()
    agent.step()

    assert store.get("alice", "writes") == 1
    assert store.failures("alice") == []
    assert store.cursor("alice") == chain.block_number() + 1


def test_ticks_run_every_step_after_the_events(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store: AgentStore
) -> None:
    emitter.transact("ping", 1, sender=accounts[1])
    agent = Agent("alice", chain, [emitter], store)
    log: list[str] = []
    agent.on("Ping")(lambda event, ctx: log.append("event"))

    @agent.every_tick
    def deadline_check(ctx: AgentContext) -> None:
        log.append("tick")
        ctx.state.put("ticks", ctx.state.get("ticks", 0) + 1)

    @agent.every_tick
    def failing_tick(ctx: AgentContext) -> None:
        raise ProtocolError("deadline not reached")

    agent.step()
    agent.step()

    assert log == ["event", "tick", "tick"]
    assert store.get("alice", "ticks") == 2


def test_a_tick_that_lost_a_race_is_not_a_warning(
    chain: EmbeddedChain, emitter: Contract, store: AgentStore, caplog: pytest.LogCaptureFixture
) -> None:
    agent = Agent("alice", chain, [emitter], store)

    @agent.every_tick
    def raced(ctx: AgentContext) -> None:
        raise RaceLost("advance failed; an earlier transaction in its block changed the state")

    @agent.every_tick
    def failing(ctx: AgentContext) -> None:
        raise ProtocolError("deadline not reached")

    with caplog.at_level(logging.INFO, logger="mercato.agents.agent"):
        agent.step()

    levels = {
        name: r.levelno
        for r in caplog.records
        for name in ("raced", "failing")
        if f".{name} " in r.getMessage()
    }
    assert levels == {"raced": logging.INFO, "failing": logging.WARNING}


def test_a_tick_with_a_bug_crashes_loudly(
    chain: EmbeddedChain, emitter: Contract, store: AgentStore
) -> None:
    agent = Agent("alice", chain, [emitter], store)

    @agent.every_tick
    def buggy(ctx: AgentContext) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        agent.step()


def test_a_small_batch_catches_up_over_several_steps(
    chain: EmbeddedChain, accounts: list[LocalAccount], emitter: Contract, store: AgentStore
) -> None:
    for amount in range(5):
        emitter.transact("ping", amount, sender=accounts[1])
    agent = Agent("alice", chain, [emitter], store, batch=2)
    seen: list[int] = []
    agent.on("Ping")(lambda event, ctx: seen.append(event["amount"]))

    steps = 0
    while not (steps and agent.caught_up):
        agent.step()
        steps += 1

    assert seen == [0, 1, 2, 3, 4]
    assert steps == 4  # blocks 0-1, 2-3, 4-5, 6 (block 1 deployed the emitter)


def test_bad_arguments_are_refused(
    chain: EmbeddedChain, emitter: Contract, store: AgentStore
) -> None:
    with pytest.raises(InputError, match="name"):
        Agent("", chain, [emitter], store)
    with pytest.raises(InputError, match="positive"):
        Agent("alice", chain, [emitter], store, batch=0)
    with pytest.raises(InputError, match="interval"):
        Agent("alice", chain, [emitter], store).run(interval=0)
