"""An agent waits out a node or blob store it cannot reach: it backs off, says so in a few
lines, never gives an event up for it and handles it once the outage is over.

Here the outage is simulated (a chain that refuses connections for a while, a handler whose
store is down) and the waits are recorded instead of slept; test_outages_live.py stops a real
anvil and a real S3 server.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from mercato.agents import Agent, AgentContext, AgentStore
from mercato.agents import outages as outages_module
from mercato.agents.outages import NODE, STORE, OutageLog, outage, until_reachable
from mercato.chain.contract import Contract, Event
from mercato.chain.embedded import EmbeddedChain
from mercato.errors import (
    ChainError,
    ConfigError,
    ContractRevert,
    MercatoError,
    NodeUnreachable,
    ProtocolError,
    StorageError,
)
from mercato.storage.base import StoreUnreachable

INTERVAL = 1.0
CAP = 30.0


def refused(what: str = "eth_blockNumber") -> ChainError:
    """The error the rpc backend raises when the node does not answer."""
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except ConnectionRefusedError as cause:
        try:
            raise ChainError(f"cannot reach the node: {what}") from cause
        except ChainError as exc:
            return exc


class FlakyChain:
    """An embedded chain that refuses the agent's reads while ``down`` is positive (each
    refused read counts one down)."""

    def __init__(self, chain: EmbeddedChain, down: int) -> None:
        self._chain = chain
        self.down = down

    def block_number(self) -> int:
        if self.down > 0:
            self.down -= 1
            raise refused()
        return int(self._chain.block_number())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._chain, name)


class Clock:
    """Stands in for time in mercato.agents.outages: advanced by the waits."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now


class RecordedStop(threading.Event):
    """A stop event whose waits are recorded and advance the clock instead of sleeping;
    it sets itself once ``done()`` says so (or after ``limit`` waits, a safety net)."""

    def __init__(self, clock: Clock, done: Callable[[], bool], limit: int = 200) -> None:
        super().__init__()
        self.clock = clock
        self.done = done
        self.limit = limit
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        self.clock.now += timeout
        if self.done() or len(self.waits) >= self.limit:
            self.set()
        return self.is_set()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    fake_time = SimpleNamespace(
        monotonic=clock.monotonic,
        time=clock.time,
        sleep=clock.sleep,
        strftime=outages_module.time.strftime,
        gmtime=outages_module.time.gmtime,
    )
    monkeypatch.setattr(outages_module, "time", fake_time)
    return clock


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == outages_module.__name__]


def test_outage_tells_an_unreachable_node_or_store_from_a_failure() -> None:
    assert outage(refused()) == NODE
    assert outage(StoreUnreachable("s3 down")) == STORE
    assert outage(NodeUnreachable("no answer")) == NODE
    assert outage(ContractRevert("auction: closed")) is None
    assert outage(ChainError("nonce too low")) is None  # the node answered: no outage
    assert outage(StorageError("bad bucket")) is None
    assert outage(ProtocolError("too late")) is None


def test_waits_double_up_to_the_cap_and_start_again_after_recovery(clock: Clock) -> None:
    log = OutageLog("alice", INTERVAL, cap=CAP)

    first = [log.failed(NODE, refused()) for _ in range(8)]
    log.recovered()
    again = log.failed(NODE, refused())

    assert first == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert again == INTERVAL
    assert log.ongoing == NODE


def test_an_agent_waits_out_the_node_backing_off_with_a_line_a_period(
    chain: EmbeddedChain,
    accounts: list[LocalAccount],
    emitter: Contract,
    store: AgentStore,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # prepare: an event, and a node that refuses the next 10 reads
    emitter.transact("ping", 7, sender=accounts[1])
    flaky = FlakyChain(chain, down=10)
    agent = Agent("alice", flaky, [emitter], store)  # type: ignore[arg-type]
    seen: list[int] = []

    @agent.on("Ping")
    def record(event: Event, ctx: AgentContext) -> None:
        seen.append(event["amount"])

    stop = RecordedStop(clock, done=lambda: bool(seen))
    caplog.set_level(logging.INFO)

    # act
    agent.run(stop, interval=INTERVAL)

    # assert: backed off, said so at the start, once a minute and at the end, then handled
    assert stop.waits[:10] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0, 30.0, 30.0]
    assert seen == [7]
    lines = outage_lines(caplog)
    assert len(lines) == 4, lines
    assert lines[0].startswith("alice: cannot reach the node (cannot reach the node")
    assert lines[1] == "alice: still cannot reach the node since 00:16:40 (7 tries)"
    assert lines[2] == "alice: still cannot reach the node since 00:16:40 (9 tries)"
    assert lines[3].startswith("alice: the node is back after 181 s (10 tries)")


def test_a_process_starting_during_an_outage_waits_for_its_first_reads(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    # prepare: the node refuses the first 3 tries (as connect does when it is down)
    tries: list[int] = []

    def connect() -> str:
        tries.append(len(tries))
        if len(tries) <= 3:
            raise refused()
        return "market"

    caplog.set_level(logging.INFO)

    # act
    market = until_reachable("orchestrator-70997970", connect, INTERVAL)

    # assert: backed off and said so twice (start, end) instead of exiting
    assert market == "market" and len(tries) == 4
    assert clock.sleeps == [1.0, 2.0, 4.0]
    lines = outage_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("orchestrator-70997970: cannot reach the node")
    assert lines[1].startswith("orchestrator-70997970: the node is back after 7 s (3 tries)")


def test_a_process_starting_with_a_bad_setting_fails_at_once(clock: Clock) -> None:
    def connect() -> str:
        raise ConfigError("no deployment file at /nowhere/deployment.json")

    with pytest.raises(ConfigError, match="no deployment file"):
        until_reachable("vendor-70997970", connect, INTERVAL)
    assert clock.sleeps == []


DOWN: dict[str, Callable[[], MercatoError]] = {
    "store": lambda: StoreUnreachable("s3://bucket: cannot reach S3"),
    "node": lambda: NodeUnreachable("cannot reach the node at http://127.0.0.1:9"),
}
"""A new error of each kind of outage (each one raised is counted in its thread)."""


@pytest.mark.parametrize("swallowed", [False, True], ids=["raised", "caught-by-handler"])
@pytest.mark.parametrize("down", list(DOWN))
def test_an_event_whose_store_or_node_was_down_is_handled_after_the_outage_never_given_up(
    chain: EmbeddedChain,
    accounts: list[LocalAccount],
    emitter: Contract,
    store: AgentStore,
    clock: Clock,
    swallowed: bool,
    down: str,
) -> None:
    # prepare: the store (node) is down for more tries than a handler's failures are allowed
    emitter.transact("ping", 7, sender=accounts[1])
    agent = Agent("alice", chain, [emitter], store, max_attempts=2)
    tries: list[int] = []
    effects: list[int] = []

    @agent.on("Ping")
    def upload(event: Event, ctx: AgentContext) -> None:
        tries.append(event["amount"])
        ctx.state.put("uploaded", len(tries))
        if len(tries) <= 5:
            try:
                raise DOWN[down]()
            except MercatoError:
                if not swallowed:
                    raise
                return  # a handler that carries on as if it had nothing to do
        effects.append(event["amount"])

    stop = RecordedStop(clock, done=lambda: bool(effects))

    # act
    agent.run(stop, interval=INTERVAL)

    # assert: tried through the outage, done once after it; nothing given up or half-kept
    assert (len(tries), effects) == (6, [7])
    assert stop.waits[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert store.failures("alice") == []
    assert store.get("alice", "uploaded") == 6
    assert agent.step() == 0  # handled: not again


def test_a_node_outage_inside_a_handler_is_no_failure_of_the_handler(
    chain: EmbeddedChain,
    accounts: list[LocalAccount],
    emitter: Contract,
    store: AgentStore,
    clock: Clock,
) -> None:
    emitter.transact("ping", 7, sender=accounts[1])
    agent = Agent("alice", chain, [emitter], store, max_attempts=1)
    tries: list[int] = []

    @agent.on("Ping")
    def send(event: Event, ctx: AgentContext) -> None:
        tries.append(event["amount"])
        if len(tries) <= 3:
            raise refused("eth_sendRawTransaction")

    stop = RecordedStop(clock, done=lambda: len(tries) > 3)

    agent.run(stop, interval=INTERVAL)

    assert len(tries) == 4
    assert store.failures("alice") == []
    assert stop.waits[:3] == [1.0, 2.0, 4.0]
