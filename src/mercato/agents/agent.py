"""An agent: one participant's daemon that reacts to chain events, restart-safe.

Protocol packages register plain functions on an agent::

    agent = Agent("alice", chain, [auction], store)

    @agent.on("BidPlaced", where=lambda e: e["auction_id"] == 3)
    def outbid(event: Event, ctx: AgentContext) -> None: ...

    @agent.every_tick
    def close_expired(ctx: AgentContext) -> None: ...

Guarantees, for each (handler, event) pair:

- handlers see events in chain order, handlers of one event in registration order;
- a handler's writes to ``ctx.state`` commit together with the mark that it handled the
  event; effects elsewhere (a transaction sent) may repeat after a crash, so handlers make
  them idempotent (look at the chain first);
- the persisted cursor passes a block only once every event in it was handled or given up,
  so a restarted agent (a new object over the same store) re-reads from there and skips what
  it already handled: nothing lost, nothing done twice;
- a handler that raises a :class:`~mercato.errors.MercatoError` is logged and tried again at
  the next steps, up to ``max_attempts`` in all, then given up (see ``AgentStore.failures``);
  the agent goes on meanwhile, so a retried event may run after later ones. Any other
  exception is a bug: it propagates and nothing of that handler's run is recorded;
- an outage is no failure (:func:`~mercato.agents.outages.outage`): a handler that could not
  reach the node or the blob store (even one that caught the error and returned) rolls back,
  its step stops there, and :meth:`Agent.run` waits the outage out, backing off, and
  handles the event once the node or the store is back. Nothing is given up for an outage.
"""

from __future__ import annotations

import difflib
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from mercato.agents.outages import NODE, OutageLog, outage
from mercato.agents.polling import DEFAULT_POLL_INTERVAL as DEFAULT_POLL_INTERVAL
from mercato.agents.polling import MAX_POLL_INTERVAL as MAX_POLL_INTERVAL
from mercato.agents.store import AgentState, AgentStore, HandlerStatus
from mercato.chain.base import Chain
from mercato.chain.contract import Contract, Event
from mercato.chain.events import DEFAULT_BATCH, DEFAULT_CONFIRMATIONS, EventPoller
from mercato.errors import (
    ChainError,
    ConfigError,
    InputError,
    MercatoError,
    NodeUnreachable,
    RaceLost,
    node_unreachable_count,
)
from mercato.storage.base import StoreUnreachable, unreachable_count

logger = logging.getLogger(__name__)

MAX_HANDLER_ATTEMPTS = 3
"""Tries a handler gets at one event (one per step) before the event is given up."""


@dataclass(frozen=True)
class AgentContext:
    """What a handler may use: the chain, the store and the agent's name."""

    name: str
    chain: Chain
    store: AgentStore
    contracts: Mapping[str, Contract] = field(default_factory=dict)
    """The watched contracts by lower-case address."""

    @property
    def state(self) -> AgentState:
        """This agent's key-value state (JSON values)."""
        return AgentState(self.store, self.name)

    def contract(self, address: str) -> Contract:
        """The watched contract at ``address`` (for example ``event.address``)."""
        try:
            return self.contracts[address.lower()]
        except KeyError:
            raise InputError(f"agent {self.name} watches no contract at {address}") from None


Handler = Callable[[Event, AgentContext], None]
Tick = Callable[[AgentContext], None]
Predicate = Callable[[Event], bool]


@dataclass(frozen=True)
class _Registration:
    id: str
    event: str
    fn: Handler
    where: Predicate | None
    address: str | None


def _qualified_name(fn: Callable[..., object]) -> str:
    module = getattr(fn, "__module__", None) or "?"
    return f"{module}.{getattr(fn, '__qualname__', repr(fn))}"


class Agent:
    """One participant's event-driven daemon over a chain and a store."""

    def __init__(
        self,
        name: str,
        chain: Chain,
        contracts: Sequence[Contract],
        store: AgentStore,
        *,
        start_block: int = 0,
        batch: int = DEFAULT_BATCH,
        confirmations: int = DEFAULT_CONFIRMATIONS,
        max_attempts: int = MAX_HANDLER_ATTEMPTS,
    ) -> None:
        if not name:
            raise InputError("an agent needs a non-empty name: it keys its cursor and state")
        if batch < 1 or max_attempts < 1:
            raise InputError(f"batch and max_attempts must be positive: {batch}, {max_attempts}")
        self.name = name
        self.chain = chain
        self.store = store
        self._batch = batch
        self._max_attempts = max_attempts
        self._handlers: dict[str, list[_Registration]] = {}
        self._ticks: list[Tick] = []
        saved = store.cursor(name)
        self._start_block = start_block if saved is None else saved
        self._poller = EventPoller(chain, contracts, self._start_block, confirmations=confirmations)
        self.context = AgentContext(name, chain, store, {})
        self._sync_context()

    # registration -----------------------------------------------------------------------
    def watch(self, contract: Contract) -> None:
        """Also read ``contract``'s events, from the agent's current cursor on."""
        self._poller.add(contract)
        self._sync_context()

    def on(
        self,
        event: str,
        *,
        where: Predicate | None = None,
        contract: Contract | None = None,
        name: str | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated function for events called ``event``.

        ``where`` keeps only the events it returns true for; ``contract`` keeps only that
        contract's events (and watches it). ``name`` identifies the handler in the store
        (default: its qualified name), so renaming a handler makes it new to every event
        not yet handled.
        """
        self._check_event_name(event, contract)
        if contract is not None:
            self.watch(contract)

        def register(fn: Handler) -> Handler:
            handler_id = name or _qualified_name(fn)
            if any(r.id == handler_id for r in self._handlers.get(event, [])):
                raise ConfigError(
                    f"agent {self.name} already has handler {handler_id} for {event}; "
                    "pass name=... to register the same function twice"
                )
            address = None if contract is None else contract.address.lower()
            registration = _Registration(handler_id, event, fn, where, address)
            self._handlers.setdefault(event, []).append(registration)
            return fn

        return register

    def every_tick(self, fn: Tick) -> Tick:
        """Register the decorated function to run once per step, after the events."""
        self._ticks.append(fn)
        return fn

    # running ----------------------------------------------------------------------------
    @property
    def cursor(self) -> int:
        """The next block this agent reads."""
        return self._poller.cursor

    def step(self) -> int:
        """Poll once, dispatch new events, run the ticks; return how many events ran a handler.

        Events that every handler already handled (or gave up) are not counted, so a
        second step over an unchanged chain returns 0.
        """
        saved = self.store.cursor(self.name)
        # from the persisted cursor, not the poller's: this rewinds after a crashed step
        self._poller.seek(self._start_block if saved is None else saved)
        events = self._poller.poll(self._batch)
        dispatched = sum(self._dispatch(event) for event in events)
        handler_ids = {r.id for regs in self._handlers.values() for r in regs}
        retry = self.store.first_retry_block(self.name, handler_ids)
        next_block = self._poller.cursor if retry is None else min(retry, self._poller.cursor)
        self.store.set_cursor(self.name, next_block)
        for tick in self._ticks:
            self._run_tick(tick)
        if dispatched:
            logger.info("%s: handled %d events, next block %d", self.name, dispatched, next_block)
        return dispatched

    @property
    def caught_up(self) -> bool:
        """Whether the last step read up to the head of the chain."""
        return self._poller.caught_up

    def run(
        self,
        stop: threading.Event | None = None,
        interval: float = DEFAULT_POLL_INTERVAL,
        after_step: Callable[[], int] | None = None,
    ) -> None:
        """Step until ``stop`` is set, sleeping ``interval`` seconds whenever caught up.

        While the node or the blob store cannot be reached, the agent tries again after
        waits that double from ``interval`` up to
        :data:`~mercato.agents.polling.OUTAGE_BACKOFF_CAP`, and logs one line when the
        outage starts, one a period while it lasts and one when it ends
        (:class:`~mercato.agents.outages.OutageLog`). ``after_step`` runs after every step
        and returns how much it did (for example the transactions it logged); while it does
        something the agent does not sleep.
        """
        if not 0 < interval <= MAX_POLL_INTERVAL:
            raise InputError(f"interval must be in (0, {MAX_POLL_INTERVAL}] s, got {interval}")
        stop = stop or threading.Event()
        outages = OutageLog(self.name, interval)
        logger.info("%s: running from block %d", self.name, self.cursor)
        while not stop.is_set():
            try:
                dispatched = self.step()
                done = after_step() if after_step is not None else 0
            except (ChainError, StoreUnreachable) as exc:
                # any ChainError out of a step is the node's (handlers keep theirs): wait it out
                stop.wait(outages.failed(outage(exc) or NODE, exc))
                continue
            outages.recovered()
            if dispatched == 0 and done == 0 and self.caught_up:
                stop.wait(interval)
        logger.info("%s: stopped at block %d", self.name, self.cursor)

    # internals --------------------------------------------------------------------------
    def _dispatch(self, event: Event) -> bool:
        """Run every pending handler of ``event``; whether any ran."""
        ran = False
        for registration in self._handlers.get(event.name, ()):
            if registration.address is not None and registration.address != event.address.lower():
                continue
            status = self.store.status(self.name, registration.id, event)
            if status in (HandlerStatus.DONE, HandlerStatus.FAILED):
                continue
            if registration.where is not None and not registration.where(event):
                continue
            ran = True
            self._run_handler(registration, event)
        return ran

    def _run_handler(self, registration: _Registration, event: Event) -> None:
        try:
            with self.store.transaction(), _outages_kept(registration.id):
                registration.fn(event, self.context)
                self.store.mark_handled(self.name, registration.id, event)
        except MercatoError as exc:
            if outage(exc) is not None:
                raise  # not the handler's failure: the step stops, the run waits it out
            failure = self.store.record_failure(
                self.name, registration.id, event, str(exc), self._max_attempts
            )
            if failure.status is HandlerStatus.FAILED:
                logger.error(
                    "%s: %s gave up on %s (block %d, tx %s) after %d attempts: %s",
                    self.name,
                    registration.id,
                    event.name,
                    event.block_number,
                    event.tx_hash,
                    failure.attempts,
                    exc,
                )
            else:
                logger.warning(
                    "%s: %s failed on %s (block %d), attempt %d of %d: %s",
                    self.name,
                    registration.id,
                    event.name,
                    event.block_number,
                    failure.attempts,
                    self._max_attempts,
                    exc,
                )
        else:
            logger.debug("%s: %s handled %s", self.name, registration.id, event.name)

    def _run_tick(self, tick: Tick) -> None:
        try:
            with self.store.transaction(), _outages_kept(_qualified_name(tick)):
                tick(self.context)
        except MercatoError as exc:
            if outage(exc) is not None:
                raise
            if isinstance(exc, RaceLost):  # another party moved first: the next tick re-reads
                logger.info("%s: tick %s lost a race: %s", self.name, _qualified_name(tick), exc)
                return
            logger.warning("%s: tick %s failed: %s", self.name, _qualified_name(tick), exc)

    def _check_event_name(self, event: str, contract: Contract | None) -> None:
        contracts = self._poller.contracts if contract is None else [contract]
        known = {spec.name for c in contracts for spec in c.abi.events.values()}
        if event in known:
            return
        close = difflib.get_close_matches(event, sorted(known), n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        where = "that contract" if contract is not None else f"agent {self.name}'s contracts"
        raise ConfigError(f"no event named '{event}' in {where}.{hint}")

    def _sync_context(self) -> None:
        contracts = {c.address.lower(): c for c in self._poller.contracts}
        self.context = AgentContext(self.name, self.chain, self.store, contracts)


@contextmanager
def _outages_kept(what: str) -> Iterator[None]:
    """Raise StoreUnreachable (NodeUnreachable) at the end of the block if the blob store
    (the node) could not be reached inside it, even though the code inside caught the error
    and went on: what it did then rolls back, to be done again once the outage is over."""
    store_before, node_before = unreachable_count(), node_unreachable_count()
    yield
    if unreachable_count() != store_before:
        raise StoreUnreachable(f"{what} could not reach the blob store")
    if node_unreachable_count() != node_before:
        raise NodeUnreachable(f"{what} could not reach the node")
