"""``mercato bench soak``: markets kept open for minutes by agent processes, no faults;
markets per minute, the agents' lag behind the head, memory over time, and the money checks."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mercato.cli.bench_common import progress_bars
from mercato.cli.common import JsonOption, console, emit_json

if TYPE_CHECKING:
    from mercato.bench.soak import SoakReport

PERCENT = 100


def soak_bench(
    minutes: float = typer.Option(
        None, "--minutes", help="Minutes of markets being opened (default 10)."
    ),
    markets: int = typer.Option(
        None, "--markets", help="Markets of each protocol open at once (default 2)."
    ),
    protocol: list[str] = typer.Option(
        None, "--protocol", help="A protocol to run (repeat; default: every one covered)."
    ),
    json_output: bool = JsonOption,
) -> None:
    """Markets kept open for minutes on one anvil, one agent process per participant.

    Measures markets finished per minute, each agent's lag behind the chain head and the
    memory of every agent and of anvil; checks the money of every finished market.
    """
    from mercato.bench.soak import (
        DEFAULT_MARKETS,
        DEFAULT_MINUTES,
        check_input,
        protocols_of,
        run_soak,
    )

    minutes = DEFAULT_MINUTES if minutes is None else minutes
    markets = DEFAULT_MARKETS if markets is None else markets
    check_input(minutes, markets)
    chosen = protocols_of(protocol or [])
    with progress_bars(json_output) as bars:
        task = bars.add_task(f"soak, {minutes:g} min", total=PERCENT)
        report = run_soak(
            minutes,
            markets,
            chosen,
            progress=lambda part: bars.update(task, completed=part * PERCENT),
        )
    if json_output:
        emit_json(report.record())
    else:
        _print_soak(report)
    if report.failures():
        raise typer.Exit(1)


def _print_soak(report: SoakReport) -> None:
    payload = report.record()
    markets = Table(
        title=f"Soak: {report.markets} market(s) of each protocol open for {report.minutes:g} "
        f"min ({payload['blocks']} blocks)"
    )
    for column in ("protocol", "opened", "finished", "per minute", "p50 s", "checks"):
        markets.add_column(column, justify="left" if column in ("protocol", "checks") else "right")
    for name, row in payload["protocols"].items():
        failed = [c["name"] for c in row["checks"] if not c["passed"]]
        markets.add_row(
            name,
            str(row["opened"]),
            str(row["finished"]),
            f"{row['markets_per_minute']:.2f}",
            "—" if row["market_seconds_p50"] is None else f"{row['market_seconds_p50']:.0f}",
            "all passed" if not failed else "FAILED: " + ", ".join(failed),
        )
    console.print(markets)
    processes = Table(title="Agents and anvil: lag behind the head (blocks), memory (MB)")
    for column in ("process", "lag p50", "lag p95", "lag max", "start", "end", "peak", "memory"):
        processes.add_column(column, justify="left" if column == "process" else "right")
    for name, memory in payload["memory"].items():
        lag = payload["lag_blocks"].get(name)
        lags = ["—"] * 3 if lag is None else [f"{lag[k]:g}" for k in ("p50", "p95", "max")]
        processes.add_row(
            name,
            *lags,
            f"{memory['start_mb']:.0f}",
            f"{memory['end_mb']:.0f}",
            f"{memory['peak_mb']:.0f}",
            memory["verdict"],
        )
    console.print(processes)
    for failure in report.failures():
        console.print(f"FAILED {failure}", highlight=False)
