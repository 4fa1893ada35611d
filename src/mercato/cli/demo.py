"""``mercato demo``: P1's procurement auction, P2's collaborative training and P3's data market,
end to end."""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mercato.cli.common import JsonOption, console, context, emit_json, format_ether
from mercato.cli.demo_market import market_dict, print_market
from mercato.errors import InputError

if TYPE_CHECKING:
    from mercato.protocols.auction.scenario import AuctionReport
    from mercato.protocols.training.scenario import TrainingReport

PARTS = ("all", "auction", "training", "datamarket")


def demo(
    ctx: typer.Context,
    backend: str = typer.Option(
        None, "--backend", help="embedded (default) or rpc (anvil started for the run)."
    ),
    rpc_url: str = typer.Option(None, "--rpc-url", help="Use this node instead of a new anvil."),
    store: str = typer.Option(None, "--store", help="Blob store: a folder or s3://bucket/prefix."),
    only: str = typer.Option(
        "all", "--only", help="all (default), auction (P1), training (P2) or datamarket (P3)."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Run the procurement auction (SAIaaS, P1), the collaborative training (Somy et al., P2)
    and the secure data market (OmniLytics, P3), each with one agent per participant."""
    from mercato.chain.factory import connect
    from mercato.protocols.auction.scenario import run_auction_demo  # imports scikit-learn: slow
    from mercato.protocols.datamarket.scenario import run_datamarket_demo
    from mercato.protocols.training.scenario import run_training_demo
    from mercato.storage.base import open_store

    if only not in PARTS:
        raise InputError(f"--only must be one of {', '.join(PARTS)}, got {only!r}")

    settings = context(ctx).settings.override(backend=backend, rpc_url=rpc_url)
    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mercato-demo-")))
        blob_store = open_store(store or str(work / "blobs"))
        if settings.backend == "rpc" and not settings.rpc_url:
            from mercato.chain.anvil import Anvil

            node = stack.enter_context(Anvil())
            settings = settings.override(rpc_url=node.url)
        chain = connect("rpc" if settings.rpc_url else settings.backend, settings.rpc_url)
        stack.callback(chain.close)
        report = training = market = None
        if only in ("all", "auction"):
            with console.status("running the procurement auction..."):
                report = run_auction_demo(chain, blob_store, work / "agents")
        if only in ("all", "training"):
            with console.status("running the collaborative training..."):
                training = run_training_demo(chain, blob_store, work / "training-agents")
        if only in ("all", "datamarket"):
            with console.status("running the data market..."):
                market = run_datamarket_demo(chain, blob_store, work / "market-agents")
    if json_output:
        document: dict[str, object] = (
            _as_dict(report) if report is not None else {"backend": chain.backend}
        )
        if training is not None:
            document["training"] = _training_dict(training)
        if market is not None:
            document["datamarket"] = market_dict(market)
        emit_json(document)
        return
    if report is not None:
        _print(report)
    if training is not None:
        _print_training(training)
    if market is not None:
        print_market(market)


def _training_dict(report: TrainingReport) -> dict[str, object]:
    return {
        "training_id": report.training_id,
        "status": report.status,
        "rounds": [asdict(r) for r in report.rounds],
        "frauds": [asdict(f) for f in report.frauds],
        "centralised_accuracy": report.centralised_accuracy,
        "withdrawn": report.withdrawn,
        "stakes": report.stakes,
        "transactions": report.transactions,
        "seconds": report.seconds,
    }


def _print_training(report: TrainingReport) -> None:
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


def _as_dict(report: AuctionReport) -> dict[str, object]:
    return {
        "backend": report.backend,
        "auction_id": report.auction_id,
        "requirements": report.requirements.to_json_bytes().decode(),
        "bids": [{"bidder": b, "category": c, "amount": a} for b, c, a in report.bids],
        "winners": {c: {"provider": n, "price": p} for c, (n, p) in report.winners.items()},
        "refund": report.refund,
        "status": report.status,
        "metrics": report.metrics,
        "withdrawn": report.withdrawn,
        "gas": dict(report.gas),
        "transactions": report.transactions,
        "seconds": report.seconds,
    }


def _print(report: AuctionReport) -> None:
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
