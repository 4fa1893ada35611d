"""How ``mercato auction list|show`` print P1's views: tables, a header and a timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mercato.cli.common import (
    console,
    event_record,
    format_time,
    relative_time,
    short_address,
    simple_table,
)
from mercato.ontology.category import Category
from mercato.protocols.auction.views import Status, categories_in, requirements_record
from mercato.units import compact_ether, format_ether

if TYPE_CHECKING:
    from mercato.chain.contract import Event
    from mercato.protocols.auction.views import Auction, AuctionDetail


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
            f"{c.label} {short_address(w)} at {format_ether(p)}"
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
    document = detail.requirements
    return {
        "auction": detail.auction.record(),
        "requirements": None if document is None else requirements_record(document),
        "requirements_error": detail.requirements_error or None,
        "events": [event_record(e, describe(e)) for e in detail.timeline],
    }


def print_auctions(auctions: list[Auction], now: int) -> None:
    """``auction list``: a row per auction, its best bids and its current deadline."""
    if not auctions:
        console.print("no auctions yet (open one with `mercato auction create`)")
        return
    table = simple_table(
        "id",
        "status",
        "client",
        *(c.label for c in Category),
        "deadline",
        title=f"{len(auctions)} auction(s); best bids in ETH",
    )
    for a in auctions:
        kind = a.deadline_kind
        table.add_row(
            str(a.auction_id),
            a.status.label,
            short_address(a.client),
            *("-" if a.bidders[c] is None else compact_ether(a.bids[c]) for c in Category),
            "-" if kind is None else f"{kind} {relative_time(a.deadline, now)}",
        )
    console.print(table)


def print_detail(detail: AuctionDetail, now: int) -> None:
    """``auction show``: the header, the categories, the requirements and the timeline."""
    auction, document = detail.auction, detail.requirements
    console.rule(f"[bold]auction {auction.auction_id}[/bold]: {auction.status.label}")
    console.print(f"client    {auction.client}")
    console.print(f"arbiter   {auction.arbiter}")
    kind = auction.deadline_kind
    if kind is not None:
        when = relative_time(auction.deadline, now)
        console.print(f"deadline  {kind} {format_time(auction.deadline)} ({when})")
    console.print(f"min refs  {auction.min_refs}; locked {format_ether(auction.locked)}")
    table = simple_table("category", "required class", "maximum ETH", "best bid ETH", "bidder")
    for c in Category:
        bidder, amount = auction.best(c)
        table.add_row(
            c.label,
            "?" if document is None else document.required_class(c),
            compact_ether(auction.max_prices[c]),
            "-" if bidder is None else compact_ether(amount),
            short_address(bidder),
        )
    console.print(table)
    if document is not None:
        console.print(f"task      {document.task}")
        console.print(f"quality   {document.metric} ≥ {document.minimum}")
    else:
        console.print(f"[yellow]requirements unavailable:[/yellow] {detail.requirements_error}")
    if auction.paid:
        console.print(f"paid      {', '.join(c.label for c in auction.paid)}")
    console.print(f"[bold]{len(detail.timeline)} event(s)[/bold]")
    for e in detail.timeline:
        console.print(f"  block {e.block_number:>6}  {e.name:<16} {describe(e)}", soft_wrap=True)
