"""What ``mercato agent run --role NAME`` asks of a protocol: a plan for each of its roles.

A protocol's unit lists its roles (:class:`~mercato.protocols.unit.AgentRole`); each names a
plan function ``(options) -> RolePlan`` in the protocol's package. The plan checks the role's
options before the chain is read (bad input costs nothing), says which registry roles the
account must hold, and attaches the handlers once the agent exists. The command itself holds
no protocol's logic: it parses the options, asks the catalog and runs the agent.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mercato.errors import InputError

if TYPE_CHECKING:
    from mercato.agents.agent import Agent
    from mercato.ml.datasets import Dataset
    from mercato.protocols.identity import Identity
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.roles import Role


@dataclass(frozen=True)
class AgentSetup:
    """What a role's handlers are attached with."""

    agent: Agent
    market: Marketplace
    me: Identity
    folder: Path
    """The agent's state folder (where the CLI records plans, heads and parts files)."""


@dataclass(frozen=True)
class RolePlan:
    """A role's checked options, ready to attach to an agent."""

    label: str
    """How the agent introduces itself (``data-provider``); its default name starts so."""
    needs: Role
    """Registry roles the account must hold."""
    attach: Callable[[AgentSetup], str]
    """Registers the handlers; returns what the agent does, for its first log line."""


RolePlanner = Callable[[Mapping[str, Any]], RolePlan]
"""A role's plan function: the ``agent run`` options given (None where not given) -> plan."""


def attaching(
    handlers: Callable[..., None], *args: Any, says: str = ""
) -> Callable[[AgentSetup], str]:
    """A plan's ``attach`` that registers ``handlers(agent, market, me, *args)`` (a protocol's
    ``attach_*`` function) and returns ``says``."""

    def attach(setup: AgentSetup) -> str:
        handlers(setup.agent, setup.market, setup.me, *args)
        return says

    return attach


def held_out(options: Mapping[str, Any], option: str, missing: str) -> Dataset:
    """The held-out part of the sample dataset that ``option`` names: the data a buyer
    measures with, which a seller of the same dataset never sells. ``missing``: the
    InputError when the option is not given."""
    from mercato.ml.datasets import seller_and_buyer_parts

    if options.get(option) is None:
        raise InputError(missing)
    _, evaluation = seller_and_buyer_parts(options[option])
    return evaluation
