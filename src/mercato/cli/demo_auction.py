"""The P1 part of ``mercato demo``: the procurement auction's report as tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from mercato.cli.common import console, format_ether

if TYPE_CHECKING:
    from mercato.protocols.auction.scenario import AuctionReport


def print_report(report: AuctionReport) -> None:
    """The P1 demo's report as tables."""
    r = report.requirements
    console.rule(f"[bold]Mercato demo: procurement auction (P1) on the {report.backend} chain")
    console.print(
        f"[bold]Requirements[/bold]: {r.task}; data ⊑ {r.data}, algorithm ⊑ {r.algorithm}, "
        f"infrastructure ⊑ {r.infrastructure}; {r.metric} ≥ {r.minimum}"
    )
    console.print(
        "Reserve locked: "
        + ", ".join(format_ether(p) for p in report.max_prices)
        + " (data, algorithm, infrastructure)"
    )
    bids = Table(title=f"Bids ({len(report.bids)}; first and last of each bidder)")
    for column in ("bidder", "category", "bids", "first", "last"):
        bids.add_column(column)
    seen: dict[tuple[str, str], list[int]] = {}
    for bidder, category, amount in report.bids:
        seen.setdefault((bidder, category), []).append(amount)
    for (bidder, category), amounts in seen.items():
        bids.add_row(
            bidder, category, str(len(amounts)), format_ether(amounts[0]), format_ether(amounts[-1])
        )
    console.print(bids)
    winners = Table(title="SLA (winners)")
    for column in ("category", "provider", "price"):
        winners.add_column(column)
    for category, (name, price) in report.winners.items():
        winners.add_row(category, name, format_ether(price))
    console.print(winners)
    console.print(f"Unspent reserve refunded to the client: {format_ether(report.refund)}")
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in report.metrics.items())
    console.print(f"Model measured by the client on its own held-out digits: {metrics}")
    console.print(f"Final status: [bold]{report.status}[/bold]")
    paid = Table(title="Withdrawn (pull payments)")
    paid.add_column("participant")
    paid.add_column("amount")
    for name, amount in report.withdrawn.items():
        paid.add_row(name, format_ether(amount))
    console.print(paid)
    gas = Table(title="Gas per operation")
    for column in ("operation", "count", "mean gas", "max gas"):
        gas.add_column(column)
    for name, values in sorted(report.gas.items()):
        gas.add_row(name, str(len(values)), f"{sum(values) // len(values):,}", f"{max(values):,}")
    console.print(gas)
    console.print(f"{report.transactions} transactions in {report.seconds:.1f} s")
