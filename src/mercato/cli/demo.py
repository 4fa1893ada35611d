"""``mercato demo``: the whole P1 procurement auction, end to end, with a readable report."""

from __future__ import annotations

import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mercato.chain.factory import connect
from mercato.cli.common import JsonOption, console, context, emit_json, format_ether
from mercato.storage.base import open_store

if TYPE_CHECKING:
    from mercato.protocols.auction.scenario import DemoReport


def demo(
    ctx: typer.Context,
    backend: str = typer.Option(
        None, "--backend", help="embedded (default) or rpc (anvil started for the run)."
    ),
    rpc_url: str = typer.Option(None, "--rpc-url", help="Use this node instead of a new anvil."),
    store: str = typer.Option(None, "--store", help="Blob store: a folder or s3://bucket/prefix."),
    json_output: bool = JsonOption,
) -> None:
    """Run the procurement auction (SAIaaS, P1) with one agent per participant."""
    from mercato.protocols.auction.scenario import run_demo  # imports scikit-learn: slow

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
        with console.status("running the procurement auction..."):
            report = run_demo(chain, blob_store, work / "agents")
    if json_output:
        emit_json(_as_dict(report))
    else:
        _print(report)


def _as_dict(report: DemoReport) -> dict[str, object]:
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


def _print(report: DemoReport) -> None:
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
