"""The agent runtime: one restart-safe daemon per participant, reacting to chain events.

Protocol packages register handlers on an :class:`Agent`; a :class:`Runner` steps several
agents in one process (the embedded demo), while with a JSON-RPC node each agent runs as its
own process with :meth:`Agent.run`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato._lazy import lazy_package

if TYPE_CHECKING:
    from mercato.agents.agent import (
        MAX_HANDLER_ATTEMPTS,
        Agent,
        AgentContext,
        Handler,
        Predicate,
        Tick,
    )
    from mercato.agents.polling import DEFAULT_POLL_INTERVAL
    from mercato.agents.runner import Runner, RunReport
    from mercato.agents.store import AgentState, AgentStore, Failure, HandlerStatus

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "MAX_HANDLER_ATTEMPTS",
    "Agent",
    "AgentContext",
    "AgentState",
    "AgentStore",
    "Failure",
    "Handler",
    "HandlerStatus",
    "Predicate",
    "RunReport",
    "Runner",
    "Tick",
]

lazy_package(
    __name__,
    {
        "DEFAULT_POLL_INTERVAL": "polling",
        "MAX_HANDLER_ATTEMPTS": "agent",
        "Agent": "agent",
        "AgentContext": "agent",
        "AgentState": "store",
        "AgentStore": "store",
        "Failure": "store",
        "Handler": "agent",
        "HandlerStatus": "store",
        "Predicate": "agent",
        "RunReport": "runner",
        "Runner": "runner",
        "Tick": "agent",
    },
)
