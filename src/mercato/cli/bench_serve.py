"""``mercato bench serve``: the HTTP API of ``mercato serve`` under load, over a market of
thousands of entries on a fresh anvil."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mercato.cli.bench_common import progress_bars
from mercato.cli.common import JsonOption, console, emit_json

if TYPE_CHECKING:
    from mercato.bench.serve import ServeReport


def serve_bench(
    entries: int = typer.Option(
        None, "--entries", min=1, help="Auctions, trainings and tasks each (default 1,000)."
    ),
    seconds: float = typer.Option(
        None, "--seconds", min=0.1, help="Seconds of load on each endpoint (default 10)."
    ),
    clients: int = typer.Option(
        None, "--clients", min=1, help="Client threads, one session each (default 8)."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Requests per second, latency and memory of `mercato serve` under load (a fresh anvil)."""
    from mercato.bench.serve import (
        DEFAULT_CLIENTS,
        DEFAULT_ENTRIES,
        DEFAULT_SECONDS,
        run_serve_bench,
    )

    with progress_bars(json_output) as bars:

        def start(description: str, total: int) -> Callable[[int], None]:
            return partial(bars.advance, bars.add_task(description, total=total))

        report = run_serve_bench(
            entries or DEFAULT_ENTRIES,
            seconds or DEFAULT_SECONDS,
            clients or DEFAULT_CLIENTS,
            start=start,
        )
    if json_output:
        emit_json(report.as_dict())
    else:
        _print_serve(report)


def _print_serve(report: ServeReport) -> None:
    payload = report.as_dict()
    table = Table(
        title=f"mercato serve over {report.entries:,} auctions, trainings and tasks each: "
        f"{report.clients} clients, {report.seconds:g} s per endpoint"
    )
    table.add_column("endpoint", no_wrap=True)
    table.add_column("first (ms)", justify="right")
    table.add_column("requests", justify="right")
    table.add_column("req/s", justify="right", style="bold")
    table.add_column("p50 (ms)", justify="right")
    table.add_column("p99 (ms)", justify="right")
    table.add_column("errors", justify="right")
    for row in payload["endpoints"]:
        table.add_row(
            row["path"],
            _ms(payload["warmup_ms"].get(row["path"])),
            f"{row['requests']:,}",
            f"{row['requests_per_s']:,.1f}",
            _ms(row["p50_ms"]),
            _ms(row["p99_ms"]),
            str(row["errors"]) if not row["errors"] else f"{row['errors']} ({row['first_error']})",
        )
    console.print(table)
    memory = payload["server_memory"]
    console.print(
        f"Server memory (RSS): {memory['before']['rss_mb']} MB before the load, "
        f"{memory['after']['rss_mb']} MB after (peak {memory['after']['peak_rss_mb']} MB). "
        f"Entries created in {payload['create_seconds']} s ({payload['transactions']:,} "
        f"transactions, one at a time); {payload['cpus']} CPUs. The server reads the chain one "
        "request at a time; the clients share one Python process.",
        highlight=False,
    )


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"
