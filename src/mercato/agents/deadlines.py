"""One deadline keeper for every protocol's agents: no silent party locks anybody's money.

An agent follows the entries of a market it takes part in (auctions, trainings, tasks) as keys
``<prefix><id>`` of its state. Once per step the keeper reads each followed entry from the
chain, drops it once final, and otherwise lets the protocol move it on if it waits past a
deadline for someone silent; then it withdraws whatever the contract owes the agent's account.
A protocol gives only what is its own::

    deadlines = Deadlines("training:", tm.training, move)  # which entries, read how
    keep_deadlines(agent, me, tm, deadlines)                # the tick, registered once

where ``move(id, entry, now)`` sends the call that the passed deadline allows (adjudicate,
claim, close a round, advance a phase ...) and says whether to keep following the entry.
Restart-safe and idempotent: the followed entries are in the agent's store, and every tick
decides from what the chain says now, so a tick run twice sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from mercato.agents.agent import Agent, AgentContext, Tick

if TYPE_CHECKING:
    from mercato.protocols.identity import Identity
    from mercato.protocols.wrapper import ContractWrapper


class _Status(Protocol):
    @property
    def final(self) -> bool: ...


class Entry(Protocol):
    """A view of one entry of a market: its status says when nothing can move it any more."""

    @property
    def status(self) -> _Status: ...


E = TypeVar("E", bound=Entry)

Move = Callable[[int, E, int], bool]
"""(entry id, the entry as the chain has it, the chain's time) -> whether to keep following it,
after sending whatever call the deadlines passed allow."""


@dataclass(frozen=True)
class Deadlines(Generic[E]):
    """The entries an agent follows past their deadlines, and how a protocol moves them."""

    prefix: str
    """Of the agent's state keys that name a followed entry (``training:`` + id)."""
    read: Callable[[int], E]
    """The entry with this id, read from the chain."""
    move: Move[E]

    def key(self, entry_id: int) -> str:
        """The state key that follows entry ``entry_id``."""
        return f"{self.prefix}{entry_id}"

    def follow(self, ctx: AgentContext, entry_id: int, value: Any = True) -> None:
        """Follow entry ``entry_id`` from now on (``value`` is the protocol's note on it)."""
        ctx.state.put(self.key(entry_id), value)

    def follows(self, ctx: AgentContext, entry_id: int) -> bool:
        """Whether the agent follows entry ``entry_id``."""
        return self.key(entry_id) in ctx.state

    def keep(self, entry_id: int, now: int) -> bool:
        """Move entry ``entry_id`` on if a deadline passed; whether it is still worth following."""
        entry = self.read(entry_id)
        return not entry.status.final and self.move(entry_id, entry, now)


def keep_deadlines(
    agent: Agent, me: Identity, payer: ContractWrapper, deadlines: Deadlines[Any]
) -> Tick:
    """Register the tick that keeps ``deadlines``' entries moving, then withdraws what
    ``payer`` owes ``me``."""

    def after_deadlines(ctx: AgentContext) -> None:
        now = payer.chain.timestamp()
        for key in ctx.state.keys(deadlines.prefix):
            if not deadlines.keep(int(key.removeprefix(deadlines.prefix)), now):
                ctx.state.delete(key)
        if payer.owed(me.address) > 0:
            payer.withdraw(me.account)

    return agent.every_tick(after_deadlines)
