"""The P2 part of ``mercato demo``: the collaborative training's report as tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table

from mercato.cli.common import console, format_ether

if TYPE_CHECKING:
    from mercato.protocols.training.scenario import TrainingReport


def print_report(report: TrainingReport) -> None:
    """The P2 demo's report as tables."""
    console.rule(f"[bold]Mercato demo: collaborative training (P2) on the {report.backend} chain")
    console.print(
        "Digits split into 4 skewed subsets x 3 replicas across 6 compute providers; "
        "3 subsets drawn a round from a block hash; lazy-cloud returns untrained models."
    )
    rounds = Table(title="Rounds (accuracy on the model owner's own held-out digits)")
    for column in ("round", "subsets agreed", "jobs", "fraud found", "accuracy"):
        rounds.add_column(column)
    for found in report.rounds:
        rounds.add_row(
            str(found.round),
            ", ".join(str(s) for s in found.subsets),
            str(found.jobs),
            ", ".join(f"instance {i} outvoted" for i in found.outvoted) or "-",
            f"{found.accuracy:.3f}",
        )
    console.print(rounds)
    console.print(
        f"Centralised training of the same model for the same epochs: "
        f"{report.centralised_accuracy:.3f}"
    )
    frauds = Table(title="Fraud reported on chain")
    for column in ("round", "instance", "compute provider", "pay lost", "stake lost", "to"):
        frauds.add_column(column)
    for fraud in report.frauds:
        frauds.add_row(
            str(fraud.round), str(fraud.instance), fraud.co, format_ether(fraud.forfeited),
            format_ether(fraud.slashed), fraud.to,
        )  # fmt: skip
    console.print(frauds)
    paid = Table(title="Withdrawn (pull payments) and stakes left")
    for column in ("participant", "withdrawn", "stake"):
        paid.add_column(column)
    for name in sorted(set(report.withdrawn) | set(report.stakes)):
        stake = report.stakes.get(name)
        paid.add_row(
            name,
            format_ether(report.withdrawn.get(name, 0)),
            "-" if stake is None else format_ether(stake),
        )
    console.print(paid)
    console.print(
        f"Final status: [bold]{report.status}[/bold]; "
        f"{report.transactions} transactions in {report.seconds:.1f} s"
    )
