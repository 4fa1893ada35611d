"""One read model for every protocol: what a page or an HTTP client reads of a market.

Each protocol's unit names a ``pages`` module (:attr:`~mercato.protocols.unit.ProtocolUnit.pages`)
that offers :class:`Pages`: a summary per entry for a list, and one entry in full with the
timeline of its events. The records are plain JSON data (bytes as 0x-hex), built from the
protocol's views and the same record builders as the CLI's ``list|show --json``.
:func:`participants` reads the registry and what each protocol's contract owes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mercato.errors import InputError

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.unit import ProtocolUnit


class Pages(Protocol):
    """What a protocol's ``pages`` module offers (a module, so these are its functions)."""

    def summaries(self, market: Marketplace) -> list[dict[str, Any]]:
        """One record per entry, the first first: id, state, parties, money, key numbers.

        Reads each entry with calls, or with one scan of the events grouped by id: never one
        scan of the chain's history per entry."""
        ...

    def detail(self, market: Marketplace, ident: int) -> dict[str, Any]:
        """Entry ``ident`` in full (its ``show --json`` record) with a ``timeline`` of its
        decoded events; InputError if there is no such entry."""
        ...


def pages(unit: ProtocolUnit) -> Pages:
    """The read model of ``unit``'s protocol."""
    from importlib import import_module

    module: Pages = import_module(unit.pages)  # type: ignore[assignment]
    return module


def json_default(item: Any) -> Any:
    """``json.dumps``'s ``default`` for records: bytes as 0x-hex, paths as text."""
    if isinstance(item, bytes):
        return "0x" + item.hex()
    if isinstance(item, Path):
        return str(item)
    raise TypeError(f"cannot serialise {type(item).__name__}")


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: bytes as 0x-hex, tuples as lists, paths as text."""
    return json.loads(json.dumps(value, default=json_default))


def json_record(value: Mapping[str, Any]) -> dict[str, Any]:
    """A record (a mapping) as plain JSON data (see :func:`jsonable`)."""
    record = jsonable(value)
    assert isinstance(record, dict)
    return record


def timeline(events: Iterable[Event]) -> list[dict[str, Any]]:
    """Events as a page shows them: name, block, transaction and decoded fields."""
    return [
        json_record({"name": e.name, "block": e.block_number, "tx": e.tx_hash, "fields": e.args})
        for e in events
    ]


def events_of(market: Marketplace, unit: ProtocolUnit, key: str, ident: int) -> list[Event]:
    """The events of ``unit``'s contract whose ``key`` argument is ``ident``, in chain order
    (one scan since the deployment)."""
    wrapper = market.wrapper(unit.field)
    events = wrapper.events(from_block=market.deployment.block)
    return [e for e in events if e.args.get(key) == ident]


def check_entry(market: Marketplace, unit: ProtocolUnit, ident: int) -> None:
    """InputError unless ``unit``'s market has an entry ``ident``."""
    market.wrapper(unit.field).check(ident)


def participants(markets: Mapping[str, Marketplace]) -> list[dict[str, Any]]:
    """Each registered or development address: its roles, its stake and what each
    protocol's contract owes it (keyed by the protocol's key), in one scan of each registry.

    ``markets`` gives each protocol key's market; one deployment may serve them all, or
    each its own (the demo's): roles are then merged and stakes added up over the registries.
    """
    from mercato.chain.accounts import DEV_ADDRESSES
    from mercato.protocols.catalog import units

    distinct = list({id(m): m for m in markets.values()}.values())
    registered: list[str] = []
    for market in distinct:
        events = market.registry.contract.events(market.deployment.block)
        registered += [str(e["account"]) for e in events if e.name == "Registered"]
    payers = {u.key: markets[u.key].wrapper(u.field) for u in units()}
    found = []
    for address in dict.fromkeys([*registered, *DEV_ADDRESSES]):
        labels = [m.registry.roles_of(address).labels for m in distinct]
        roles = list(dict.fromkeys(label for found_labels in labels for label in found_labels))
        owed = {key: payer.owed(address) for key, payer in payers.items()}
        if not roles and not any(owed.values()) and address not in registered:
            continue
        found.append({
            "address": address,
            "roles": roles,
            "stake": sum(m.registry.stake_of(address) for m in distinct),
            "owed": owed,
            "registered": address in registered,
        })  # fmt: skip
    return found


def unknown(what: str, ident: int) -> InputError:
    """The one-line error for an entry that does not exist."""
    return InputError(f"no {what} {ident}")
