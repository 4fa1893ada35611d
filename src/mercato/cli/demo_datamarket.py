"""The P3 part of ``mercato demo``: the data market's report as tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from mercato.cli.common import console, format_ether

if TYPE_CHECKING:
    from mercato.protocols.datamarket.scenario import DataMarketReport


def print_report(report: DataMarketReport) -> None:
    """The P3 demo's report as tables."""
    console.rule(f"[bold]Mercato demo: secure data market (P3) on the {report.backend} chain")
    attacks = ", ".join(f"{name} ({kind})" for name, kind in sorted(report.poisoners.items()))
    console.print(
        f"The model owner holds a small slice of the digits; 10 data owners hold non-IID "
        f"slices and train its public part; poisoners: {attacks or 'none'}. "
        f"Mode {report.mode}, rule {report.rule}; updates sealed to the model owner."
    )
    rounds = Table(title="Rounds as recorded on chain")
    for column in ("round", "excluded", "highest kept score", "paid each"):
        rounds.add_column(column)
    for r in report.rounds:
        kept = [s for name, s in r.scores.items() if name not in r.excluded]
        rounds.add_row(
            str(r.round),
            ", ".join(
                f"{name} (score {r.scores[name]:.0f})" if name in r.scores else name
                for name in r.excluded
            )
            or "-",
            f"{max(kept):.1f}" if kept else "-",
            format_ether(r.paid_each),
        )
    console.print(rounds)
    console.print(
        f"Model owner's accuracy on held-out digits: before the market "
        f"[bold]{report.accuracy_before:.3f}[/bold], after it (private head fine-tuned on its "
        f"own slice) [bold]{report.accuracy_after:.3f}[/bold]"
    )
    paid = Table(title=f"Withdrawn (pull payments) of the {format_ether(report.reward)} reward")
    for column in ("participant", "withdrawn"):
        paid.add_column(column)
    for name, amount in sorted(report.withdrawn.items(), key=lambda item: _order(item[0])):
        paid.add_row(name, format_ether(amount))
    console.print(paid)
    console.print(
        f"Final status: [bold]{report.status}[/bold]; "
        f"{report.transactions} transactions in {report.seconds:.1f} s"
    )


def _order(name: str) -> tuple[int, str]:
    digits = "".join(c for c in name if c.isdigit())
    return (int(digits) if digits else 0, name)
