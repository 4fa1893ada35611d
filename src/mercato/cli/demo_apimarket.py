"""The P5 part of ``mercato demo``: the API market's report as tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from mercato.cli.common import console, format_ether

if TYPE_CHECKING:
    from mercato.protocols.apimarket.scenario import ApiMarketReport


def print_report(report: ApiMarketReport) -> None:
    """The P5 demo's report as tables."""
    console.rule(f"[bold]Mercato demo: API market (P5) on the {report.backend} chain")
    console.print(
        f"The model bought in P4 ({report.model}; benchmarked {report.benchmarked:.3f} on "
        "chain) is split into two layer blocks held by five vendors, each its own HTTP "
        "service; an orchestrator routes every call through a random replica of each block."
    )
    slots = ", ".join(f"{name}: block {block}" for name, block in report.slots.items())
    console.print(f"API {report.api_id}: {slots}")
    calls = ", ".join(f"{name} {count}" for name, count in report.calls.items())
    console.print(
        f"Calls: {calls}; {report.failovers} failed over to a replica after a vendor's process "
        f"was killed. Accuracy of the answers {report.accuracy_served:.3f} (the whole model: "
        f"{report.accuracy_whole:.3f}; {report.same_as_whole:.1%} of rows as the whole model)"
    )
    batches = Table(title="Batches committed on chain (one Merkle root of every step)")
    for column in ("epoch", "calls", "steps", "charged"):
        batches.add_column(column)
    for batch in report.batches:
        batches.add_row(str(batch["epoch"]), str(batch["calls"]), str(batch["steps"]),
                        format_ether(batch["total"]))  # fmt: skip
    console.print(batches)
    for dispute in report.disputes:
        slashed = ", ".join(dispute["slashed"]) or "nobody"
        console.print(
            f"Dispute by {dispute['by']} of {dispute['accused']}'s receipt: {dispute['outcome']};"
            f" slashed {slashed}; {format_ether(dispute['to_consumer'])} to {dispute['by']}"
        )
    paid = Table(title="Withdrawn (pull payments)")
    for column in ("participant", "withdrawn"):
        paid.add_column(column)
    for name, amount in report.withdrawn.items():
        paid.add_row(name, format_ether(amount))
    console.print(paid)
    console.print(
        f"Final status: [bold]{report.status}[/bold]; "
        f"{report.transactions} transactions in {report.seconds:.1f} s"
    )
