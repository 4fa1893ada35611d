"""The agent runtime: one restart-safe daemon per participant, reacting to chain events.

Protocol packages register handlers on an :class:`Agent`, and keep the entries they follow
moving past deadlines with one keeper (:class:`Deadlines`, :func:`keep_deadlines`); each role
of a protocol has a plan (:class:`RolePlan`) that ``mercato agent run`` attaches. A
:class:`Runner` steps several agents in one process (the embedded demo), while with a
JSON-RPC node each agent runs as its own process (:mod:`.process`).
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
    from mercato.agents.deadlines import Deadlines, keep_deadlines
    from mercato.agents.polling import DEFAULT_POLL_INTERVAL
    from mercato.agents.roles import AgentSetup, RolePlan
    from mercato.agents.runner import Runner, RunReport
    from mercato.agents.store import AgentState, AgentStore, Failure, HandlerStatus

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "MAX_HANDLER_ATTEMPTS",
    "Agent",
    "AgentContext",
    "AgentSetup",
    "AgentState",
    "AgentStore",
    "Deadlines",
    "Failure",
    "Handler",
    "HandlerStatus",
    "Predicate",
    "RolePlan",
    "RunReport",
    "Runner",
    "Tick",
    "keep_deadlines",
]

lazy_package(
    __name__,
    {
        "DEFAULT_POLL_INTERVAL": "polling",
        "MAX_HANDLER_ATTEMPTS": "agent",
        "Agent": "agent",
        "AgentContext": "agent",
        "AgentSetup": "roles",
        "AgentState": "store",
        "AgentStore": "store",
        "Deadlines": "deadlines",
        "Failure": "store",
        "Handler": "agent",
        "HandlerStatus": "store",
        "Predicate": "agent",
        "RolePlan": "roles",
        "RunReport": "runner",
        "Runner": "runner",
        "Tick": "agent",
        "keep_deadlines": "deadlines",
    },
)
