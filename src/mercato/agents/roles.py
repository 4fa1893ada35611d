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
    """Registry roles the account must hold (unless ``check`` says otherwise)."""
    attach: Callable[[AgentSetup], str]
    """Registers the handlers; returns what the agent does, for its first log line."""
    check: Callable[[Role, str], str | None] | None = None
    """The protocol's rule on the account's roles, where holding ``needs`` is not the rule
    (a role out of several): ``(roles, address) -> problem or None``."""


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


DATA_OPTIONS = ("data", "label", "schema")
"""The ``agent run`` options of a participant's own data file; a role that takes a sample
dataset by name takes these too (:func:`role_data`)."""


def role_data(options: Mapping[str, Any], option: str, missing: str, *, sells: bool) -> Dataset:
    """The data a role works with: its own file (``--data`` with ``--label`` or ``--schema``),
    used whole; or the sample dataset that ``option`` names, of which a seller (``sells``)
    uses the part it sells and a buyer the held-out part that no seller sells.
    ``missing``: the InputError when neither is given."""
    from mercato.ml.data_files import DataSource
    from mercato.ml.datasets import seller_and_buyer_parts

    path, label, schema = (options.get(name) for name in DATA_OPTIONS)
    sample = options.get(option)
    if sample is None and path is None:
        if label is not None or schema is not None:
            raise InputError("--label and --schema describe a data file: pass it with --data")
        raise InputError(missing)
    if sample is not None and path is None:
        sold, evaluation = seller_and_buyer_parts(sample)
        return sold if sells else evaluation
    return DataSource(sample=sample, path=path, label=label, schema=schema).load()
