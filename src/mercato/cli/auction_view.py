"""How ``mercato auction list|show`` print P1's views: tables, a header and a timeline."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mercato.cli.common import console, format_time, relative_time, short_address, simple_table
from mercato.ontology.category import Category
from mercato.protocols.auction.views import describe
from mercato.protocols.auction.views import detail_record as detail_record  # for the commands
from mercato.units import compact_ether, format_ether

if TYPE_CHECKING:
    from mercato.protocols.auction.views import Auction, AuctionDetail


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
