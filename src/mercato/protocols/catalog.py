"""The protocols Mercato runs, P1 first: adding a protocol is one line here.

Each line names a package's ``unit`` module, whose ``UNIT`` declares what the protocol brings
(:class:`~mercato.protocols.unit.ProtocolUnit`). Light: the units reference their heavy parts
by name.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

from mercato.errors import InputError
from mercato.protocols.unit import AgentRole, ProtocolUnit

UNIT_MODULES = (
    "mercato.protocols.auction.unit",
    "mercato.protocols.training.unit",
    "mercato.protocols.datamarket.unit",
    "mercato.protocols.modelmarket.unit",
    "mercato.protocols.apimarket.unit",
)


@cache
def units() -> tuple[ProtocolUnit, ...]:
    """Every protocol, P1 first."""
    return tuple(import_module(name).UNIT for name in UNIT_MODULES)


def unit(key: str) -> ProtocolUnit:
    """The protocol called ``key`` (``auction``, ``training``, ...)."""
    for candidate in units():
        if key in (candidate.key, candidate.field, candidate.command):
            return candidate
    known = ", ".join(u.key for u in units())
    raise InputError(f"no protocol called {key!r}; Mercato has {known}")


def roles() -> dict[str, tuple[ProtocolUnit, AgentRole]]:
    """Every agent role by name, with the protocol it belongs to."""
    return {role.name: (u, role) for u in units() for role in u.roles}
