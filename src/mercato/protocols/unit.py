"""What one protocol brings to Mercato, declared once in its package (``<package>/unit.py``).

A :class:`ProtocolUnit` names its contract and wrapper, the deployment field that holds its
address, its agent roles, its CLI group, its demo part and its benchmarks. The catalog
(:mod:`mercato.protocols.catalog`) lists the units; deployment, the deployment file,
:class:`~mercato.protocols.marketplace.Marketplace`, ``mercato demo``, ``mercato agent run``,
``mercato bench`` and the CLI app iterate it, so none of them names a protocol.

Everything heavy is referenced as ``"module:attribute"`` and imported on first use
(:func:`resolve`), so reading the catalog loads neither the compiler nor scikit-learn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mercato.protocols.deployment import Periods

StateGraph = Mapping[str, tuple[str, ...]]
"""Each state of an entry and the states the contract can move it to next (first: the start)."""
ConstructorArgs = Callable[[str, "Periods", int], tuple[Any, ...]]
"""(registry address, periods, fraud stake) -> the contract's constructor arguments after none."""


def resolve(reference: str) -> Any:
    """The object that ``"package.module:attribute"`` names, imported now."""
    module, _, attribute = reference.partition(":")
    target: Any = import_module(module)
    for part in attribute.split(".") if attribute else ():
        target = getattr(target, part)
    return target


@dataclass(frozen=True)
class AgentRole:
    """One role an agent can play (``mercato agent run --role NAME``).

    ``plan`` names a function ``(options: AgentOptions) -> RolePlan`` that checks the role's
    options before the chain is read (see :mod:`mercato.agents.roles`); ``options`` are the
    names of the ``agent run`` options this role takes, so any other is refused in one line.
    """

    name: str
    plan: str
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProtocolUnit:
    """A protocol as a unit that plugs into Mercato."""

    key: str
    """Short name: the CLI group, the demo part and the benchmark's name (``auction``)."""
    number: int
    """Its number among the protocols (P1 ... P5), as the README numbers them."""
    title: str
    """What it is, with its paper (``procurement auction (SAIaaS)``)."""
    field: str
    """The deployment file's key for its address, and the Marketplace attribute."""
    contract: str
    """The deployed Vyper contract (``contracts/<contract>.vy``)."""
    wrapper: str
    """``module:class`` of its :class:`~mercato.protocols.wrapper.ContractWrapper`."""
    constructor: ConstructorArgs
    payer: str
    """How messages name the contract that owes (``auction house``)."""
    item: str
    """What one entry of the market is called (``auction``); ``mercato <key> wait ID``."""
    states: StateGraph
    """The states of an entry, as the wrapper's ``state`` names them."""
    parties: str
    """Whom the wrapper's ``parties`` names, in words (``the client and the winners``)."""
    cli: str
    """``module:app`` of its Typer group (``mercato <group> ...``)."""
    pages: str
    """Module of its read model (:class:`~mercato.protocols.readmodel.Pages`): what a page
    or the HTTP API (``mercato serve``) reads of its market."""
    roles: tuple[AgentRole, ...] = ()
    demo: str | None = None
    """``module:object`` of its :class:`~mercato.protocols.demo.DemoPart` for ``mercato demo``."""
    bench: tuple[str, ...] = ()
    """``module:command`` of each ``mercato bench`` command it brings."""
    slasher: bool = False
    """Whether the registry lets it slash stakes (when the deployment's fraud stake is set)."""
    group: str = ""
    """The CLI group's name when it is not the key (``api`` for ``apimarket``)."""
    extra_cli: tuple[tuple[str, str], ...] = ()
    """More top-level groups it brings: (group name, ``module:app``) each (``vendor``)."""

    @property
    def command(self) -> str:
        """The CLI group: ``mercato <command> ...``."""
        return self.group or self.key

    @property
    def label(self) -> str:
        """``P1 procurement auction (SAIaaS)``."""
        return f"P{self.number} {self.title}"
