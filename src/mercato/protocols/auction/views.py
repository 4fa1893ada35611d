"""What there is to know about P1's auctions: frozen views read from the chain, no printing.

The CLI renders them, the agents decide on them and :mod:`~mercato.protocols.auction.rules`
judges them; the same views serve an HTTP API. Light: the chain, the blob store and the
documents are imported by the functions that read them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mercato.errors import MercatoError
from mercato.hashes import Hash
from mercato.ontology.category import Category
from mercato.protocols.states import State
from mercato.timefmt import format_time
from mercato.units import format_ether

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.ontology.requirements import Requirements
    from mercato.protocols.auction.house import AuctionHouse
    from mercato.protocols.marketplace import Marketplace


class Status(State):
    """Auction states, as the contract numbers them (printed as their label)."""

    OPEN = 1
    ADJUDICATED = 2
    DELIVERED = 3
    DISPUTED = 4
    CONFIRMED = 5
    ARBITRATED = 6
    CLAIMED = 7
    REFUNDED = 8

    @property
    def final(self) -> bool:
        return self >= Status.CONFIRMED


DEADLINE_KINDS: dict[Status, str] = {
    Status.OPEN: "bidding",
    Status.ADJUDICATED: "delivery",
    Status.DELIVERED: "review",
    Status.DISPUTED: "arbitration",
}
"""Which deadline an auction's single deadline field means in each live status."""


def categories_in(mask: int) -> tuple[Category, ...]:
    """The categories whose bit is set in ``mask`` (the contract's ``paid_mask``)."""
    return tuple(c for c in Category if mask & (1 << c))


@dataclass(frozen=True)
class Auction:
    """Everything the chain holds about one auction."""

    auction_id: int
    client: str
    arbiter: str
    deadline: int
    min_refs: int
    status: Status
    paid_mask: int
    requirements_hash: Hash
    max_prices: tuple[int, int, int]
    bidders: tuple[str | None, str | None, str | None]
    bids: tuple[int, int, int]
    model_hash: Hash
    report_hash: Hash

    @property
    def reserve(self) -> int:
        return sum(self.max_prices)

    @property
    def spent(self) -> int:
        return sum(self.bids)

    @property
    def locked(self) -> int:
        """Money of this auction that the contract still holds in escrow."""
        if self.status is Status.OPEN:
            return self.reserve
        if self.status in (Status.ADJUDICATED, Status.DELIVERED, Status.DISPUTED):
            return self.spent
        return 0

    @property
    def deadline_kind(self) -> str | None:
        """``bidding``, ``delivery``, ``review`` or ``arbitration``; None once settled."""
        return DEADLINE_KINDS.get(self.status)

    @property
    def paid(self) -> tuple[Category, ...]:
        """The categories whose winners were paid."""
        return categories_in(self.paid_mask)

    @property
    def unbid(self) -> tuple[Category, ...]:
        """The categories nobody has bid on."""
        return tuple(c for c in Category if self.bidders[c] is None)

    def best(self, category: Category) -> tuple[str | None, int]:
        """(bidder, amount) of the best bid in ``category``; (None, 0) if none."""
        return self.bidders[category], self.bids[category]

    def record(self) -> dict[str, Any]:
        """The auction as JSON-ready data (amounts in wei, hashes as bytes)."""
        return {
            "id": self.auction_id,
            "status": self.status.label,
            "client": self.client,
            "arbiter": self.arbiter,
            "deadline": self.deadline,
            "deadline_kind": self.deadline_kind,
            "min_refs": self.min_refs,
            "requirements_hash": self.requirements_hash,
            "max_prices": {c.label: self.max_prices[c] for c in Category},
            "best_bids": {
                c.label: {"bidder": self.bidders[c], "amount": self.bids[c]} for c in Category
            },
            "reserve": self.reserve,
            "locked": self.locked,
            "paid": [c.label for c in self.paid],
            "model_hash": self.model_hash if any(self.model_hash) else None,
            "report_hash": self.report_hash if any(self.report_hash) else None,
        }


@dataclass(frozen=True)
class AuctionDetail:
    """One auction with its requirements document (or why it cannot be read) and its events."""

    auction: Auction
    requirements: Requirements | None
    requirements_error: str | None
    timeline: tuple[Event, ...]
    """The auction's events in chain order."""


def requirements_record(document: Requirements) -> dict[str, Any]:
    """A requirements document as JSON-ready data, its classes by category."""
    return {
        "classes": {c.label: document.required_class(c) for c in Category},
        "task": document.task,
        "metric": document.metric,
        "minimum": document.minimum,
        "constraints": dict(document.constraints),
        "ontology": document.ontology,
    }


def read_auction(house: AuctionHouse, auction_id: int) -> Auction:
    """The auction ``auction_id``; InputError if there is no such auction."""
    house.check(auction_id)
    return house.auction(auction_id)


def read_auctions(house: AuctionHouse) -> list[Auction]:
    """Every auction, the first first."""
    return [house.auction(i) for i in range(1, house.auction_count() + 1)]


def read_timeline(market: Marketplace, auction_id: int) -> tuple[Event, ...]:
    """The events of auction ``auction_id`` since the market was deployed."""
    events = market.auction_house.events(from_block=market.deployment.block)
    return tuple(e for e in events if e.get("auction_id") == auction_id)


def read_detail(
    market: Marketplace, auction_id: int, events: Sequence[Event] | None = None
) -> AuctionDetail:
    """Auction ``auction_id`` with its document and timeline; InputError if there is none.

    ``events``: the auction's events if already read (an event index's), else they are read
    from the chain. A document that cannot be fetched or does not match its hash is no error
    here: the chain's side of the auction is still worth seeing, so the problem is kept
    instead.
    """
    from mercato.protocols.auction.documents import requirements_of

    auction = read_auction(market.auction_house, auction_id)
    document: Requirements | None = None
    problem: str | None = None
    try:
        document = requirements_of(market, auction)
    except MercatoError as exc:
        problem = str(exc)
    timeline = read_timeline(market, auction_id) if events is None else tuple(events)
    return AuctionDetail(auction, document, problem, timeline)


def _short(address: str) -> str:
    return f"{address[:6]}…{address[-4:]}"


def describe(event: Event) -> str:
    """One line saying what an auction event means."""
    name = event.name
    if name == "AuctionCreated":
        reserve = sum(event["max_prices"])
        return (
            f"created by {event['client']}, arbiter {event['arbiter']}, reserve "
            f"{format_ether(reserve)}, bidding until {format_time(event['deadline'])}"
        )
    if name == "BidPlaced":
        refs = f", citing {list(event['references'])}" if event["references"] else ""
        category = Category(event["category"]).label
        return f"{event['bidder']} bids {format_ether(event['amount'])} on {category}{refs}"
    if name == "Adjudicated":
        winners = ", ".join(
            f"{c.label} {_short(w)} at {format_ether(p)}"
            for c, w, p in zip(Category, event["winners"], event["prices"], strict=True)
        )
        return f"adjudicated: {winners}; refund {format_ether(event['refund'])}"
    if name == "AssetHandedOver":
        category = Category(event["category"]).label
        return f"{event['provider']} hands the {category} over to {event['executor']}"
    if name == "Delivered":
        return f"{event['executor']} delivers model 0x{event['model_hash'].hex()[:16]}…"
    if name == "Confirmed":
        return "the client confirms: winners paid"
    if name == "Rejected":
        return f"the client rejects (reason 0x{event['reason_hash'].hex()[:16]}…) to the arbiter"
    if name == "Arbitrated":
        paid = ", ".join(c.label for c in categories_in(event["paid_mask"])) or "nobody"
        return f"the arbiter decides: paid {paid}"
    if name == "Settled":
        status = Status(event["status"]).label
        return (
            f"settled ({status}): paid {format_ether(event['paid'])}, "
            f"refunded {format_ether(event['refunded'])}"
        )
    return name


def detail_record(detail: AuctionDetail) -> dict[str, Any]:
    """``auction show --json``: the auction, its requirements and its events, summarised."""
    from mercato.protocols.readmodel import event_record

    document = detail.requirements
    return {
        "auction": detail.auction.record(),
        "requirements": None if document is None else requirements_record(document),
        "requirements_error": detail.requirements_error or None,
        "events": [event_record(e, describe(e)) for e in detail.timeline],
    }
