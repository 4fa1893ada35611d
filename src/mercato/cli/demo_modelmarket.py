"""The P4 part of ``mercato demo``: the model market's report as tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from mercato.cli.common import console, format_ether

if TYPE_CHECKING:
    from mercato.protocols.modelmarket.scenario import ModelMarketReport


def print_report(report: ModelMarketReport) -> None:
    """The P4 demo's report as tables."""
    console.rule(f"[bold]Mercato demo: model market (P4) on the {report.backend} chain")
    console.print(
        "An MLaaS provider asks for a digits classifier; its 640 test rows stay hidden in 64 "
        "salted groups (4 revealed as a sample that never counts). The best 2 models scoring "
        "0.70 or more are bought at the schedule's price; 3 staked executors benchmark them."
    )
    models = Table(title="Models, scores agreed on chain, and the swap")
    for column in ("developer", "model", "score", "outcome", "price", "buyer measured"):
        models.add_column(column)
    for name, kind in report.models.items():
        state = report.states.get(name, "")
        if name in report.complaints:
            state += f" (bad chunk {report.complaints[name]} proved)"
        measured = report.measured.get(name)
        models.add_row(
            name,
            kind,
            f"{report.scores.get(name, 0.0):.3f}",
            state,
            format_ether(report.prices[name]) if name in report.prices else "-",
            f"{measured:.3f}" if measured is not None else "-",
        )
    console.print(models)
    executors = ", ".join(f"{name}: {said}" for name, said in report.executors.items())
    console.print(f"Executors: {executors}")
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
