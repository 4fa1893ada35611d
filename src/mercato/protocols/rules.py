"""The rules every protocol's rules share: an entry's state, its parties, funds, ranges.

Like each protocol's ``rules`` module, each function returns why a step would fail, or None
when it is acceptable. Light: plain values only.
"""

from __future__ import annotations

from collections.abc import Collection

from mercato.protocols.states import State
from mercato.timefmt import same_address
from mercato.units import format_ether


def state_problem(state: State, wanted: Collection[State], entry: str, action: str) -> str | None:
    """Unless ``state`` is one of ``wanted`` (``entry``: ``auction 3``; ``action``: ``bid on``)."""
    if state in wanted:
        return None
    names = " or ".join(s.label for s in wanted)
    return f"cannot {action} {entry}: it is {state.label}, not {names}"


def party_problem(party: str, caller: str, role: str, entry: str, action: str) -> str | None:
    """Unless ``caller`` is ``party``, the ``role`` (``client``) of ``entry`` (``auction 3``)."""
    if same_address(party, caller):
        return None
    return f"only the {role} of {entry} ({party}) may {action} it; you are {caller}"


def range_problem(value: int, low: int, high: int, name: str) -> str | None:
    """Unless ``low <= value <= high`` (``name``: what the caller calls it, ``--rounds``)."""
    return None if low <= value <= high else f"{name} must be {low} to {high}, got {value}"


def funds_problem(
    address: str, balance: int, amount: int, entry: str, name: str | None = None
) -> str | None:
    """Unless ``address``'s ``balance`` covers the ``amount`` (``name``: ``reserve``) that
    the ``entry`` (``auction``) locks."""
    if balance >= amount:
        return None
    locked = format_ether(amount) if name is None else f"{name} {format_ether(amount)}"
    return f"{address} holds {format_ether(balance)}, less than the {locked} the {entry} locks"
