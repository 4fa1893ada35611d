"""One read model for every protocol: what a page or an HTTP client reads of a market.

Each protocol's unit names a ``pages`` module (:attr:`~mercato.protocols.unit.ProtocolUnit.pages`)
that offers :class:`Pages`: a summary per entry for a list, and one entry in full with the
record of each of its events (:func:`event_record`). The records are plain JSON data (bytes
as 0x-hex), built by the protocol's views, as the CLI's ``list|show --json`` prints them.
:class:`EventIndex` keeps a market's events by protocol and entry, read once and then only
new blocks; :func:`participants` reads the registry and what each protocol's contract owes.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.marketplace import Marketplace
    from mercato.protocols.unit import ProtocolUnit


REGISTRY = "registry"
"""What :class:`EventIndex` calls the registry's events in place of a protocol key."""


class Pages(Protocol):
    """What a protocol's ``pages`` module offers (a module, so these are its functions)."""

    ENTRY_ARG: str
    """The argument of the protocol's events that names their entry (``auction_id``, ...)."""

    def summaries(self, market: Marketplace) -> list[dict[str, Any]]:
        """One record per entry, the first first: id, state, parties, money, key numbers.

        Reads each entry with calls, or with one scan of the events grouped by id: never one
        scan of the chain's history per entry."""
        ...

    def detail(
        self, market: Marketplace, ident: int, events: Sequence[Event] | None = None
    ) -> dict[str, Any]:
        """Entry ``ident`` in full: its ``show --json`` record, whose ``events`` lists an
        :func:`event_record` per event; InputError if there is no such entry.

        ``events``: the entry's events in chain order (an :class:`EventIndex`'s), or None to
        read them from the chain."""
        ...

    def describe(self, event: Event) -> str:
        """One line saying what one of the protocol's events means."""
        ...


Auditor = Callable[["Marketplace", int], dict[str, Any]]
"""A protocol's public audit of one entry: ``audit(market, ident)``, the record
``mercato audit <command> ID --public --json`` prints (checks, verdicts, evidence, cheaters)."""


def auditor(unit: ProtocolUnit) -> Auditor | None:
    """``unit``'s public audit (:data:`mercato.audit.AUDITORS`), if its protocol has one yet."""
    from mercato.audit import auditor_for

    found = auditor_for(unit.key)
    if found is None:
        return None

    def public_audit(market: Marketplace, ident: int) -> dict[str, Any]:
        return json_record(found.run(market, ident, None).to_dict())

    return public_audit


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


def event_record(event: Event, summary: str) -> dict[str, Any]:
    """An event as ``show --json`` and the API list it: its name, block, transaction, meaning
    (``summary``, the protocol's ``describe``) and decoded arguments."""
    return {
        "name": event.name,
        "block": event.block_number,
        "tx": event.tx_hash,
        "summary": summary,
        "args": event.args,
    }


Position = tuple[int, int]
"""Where an event is on the chain: its block and its index among the block's logs."""


@dataclass(frozen=True)
class Indexed:
    """An event as :class:`EventIndex` keeps it: the protocol key of the contract that emitted
    it (:data:`REGISTRY` for the registry) and the entry it is about (None if none)."""

    protocol: str
    entry: int | None
    event: Event

    @property
    def position(self) -> Position:
        return (self.event.block_number, self.event.log_index)


def describe_registry(event: Event) -> str:
    """One line saying what a registry event means."""
    from mercato.protocols.roles import Role
    from mercato.units import format_ether

    name = event.name
    if name == "Registered":
        roles = ", ".join(Role(int(event["roles"])).labels) or "no role"
        return f"{event['account']} registers as {roles}, staking {format_ether(event['stake'])}"
    if name == "ExitRequested":
        return f"{event['account']} asks to leave"
    if name == "StakeWithdrawn":
        return f"{event['account']} withdraws its stake of {format_ether(event['amount'])}"
    if name == "SlasherAuthorized":
        return f"{event['slasher']} may slash stakes"
    if name == "Slashed":
        return f"{event['slasher']} slashes {format_ether(event['amount'])} of {event['account']}"
    return "no more slashers may be authorised" if name == "SlashersFrozen" else name


def indexed_record(found: Indexed) -> dict[str, Any]:
    """An indexed event as the event stream sends it: its protocol key (or ``registry``), its
    entry id (None if none) and its :func:`event_record`, as plain JSON data."""
    from mercato.protocols.catalog import unit

    if found.protocol == REGISTRY:
        summary = describe_registry(found.event)
    else:
        summary = pages(unit(found.protocol)).describe(found.event)
    record = {"protocol": found.protocol, "id": found.entry}
    return json_record({**record, **event_record(found.event, summary)})


class EventIndex:
    """A market's decoded events since its deployment, by protocol and entry: the history is
    read once, each :meth:`refresh` then reads only the blocks mined since the last one.

    ``keys``: the protocols whose contracts it watches (all by default); the registry's are
    always watched. Not thread-safe: the caller reads the chain one request at a time.
    """

    def __init__(self, market: Marketplace, keys: Iterable[str] | None = None) -> None:
        from mercato.chain.events import EventPoller
        from mercato.protocols.catalog import units

        wanted = None if keys is None else set(keys)
        registry = market.registry.contract
        contracts = [registry]
        self._owner: dict[str, tuple[str, str | None]] = {
            registry.address.lower(): (REGISTRY, None)
        }
        for unit in units():
            if wanted is not None and unit.key not in wanted:
                continue
            contract = market.wrapper(unit.field).contract
            contracts.append(contract)
            self._owner[contract.address.lower()] = (unit.key, pages(unit).ENTRY_ARG)
        self._poller = EventPoller(market.chain, contracts, market.deployment.block)
        self._all: list[Indexed] = []
        self._positions: list[Position] = []
        self._by_entry: dict[tuple[str, int], list[Event]] = {}

    def refresh(self) -> list[Indexed]:
        """Read the blocks mined since the last refresh; their events, in chain order."""
        new: list[Indexed] = []
        while True:
            for event in self._poller.poll():
                protocol, arg = self._owner[event.address.lower()]
                entry = None if arg is None else event.args.get(arg)
                found = Indexed(protocol, None if entry is None else int(entry), event)
                new.append(found)
                if found.entry is not None:
                    self._by_entry.setdefault((protocol, found.entry), []).append(event)
            if self._poller.caught_up:
                break
        self._all += new
        self._positions += [found.position for found in new]
        return new

    def events_of(self, key: str, ident: int) -> list[Event]:
        """The events of protocol ``key``'s entry ``ident``, in chain order (as of the last
        refresh)."""
        return list(self._by_entry.get((key, ident), ()))

    def last(self) -> Position | None:
        """The position of the last event read, None if none."""
        return self._positions[-1] if self._positions else None

    def after(self, position: Position) -> list[Indexed]:
        """The events read that come after ``position``, in chain order."""
        return self._all[bisect_right(self._positions, position) :]


def check_entry(market: Marketplace, unit: ProtocolUnit, ident: int) -> None:
    """InputError unless ``unit``'s market has an entry ``ident``."""
    market.wrapper(unit.field).check(ident)


def market_summaries(markets: Mapping[str, Marketplace]) -> dict[str, dict[str, Any]]:
    """Every protocol, by key: its label, what an entry is called, the count of its entries
    and their summaries (each read on that protocol's market)."""
    from mercato.protocols.catalog import units

    found = {}
    for unit in units():
        summaries = pages(unit).summaries(markets[unit.key])
        found[unit.key] = {
            "label": unit.label,
            "item": unit.item,
            "count": len(summaries),
            "summaries": summaries,
        }
    return found


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
