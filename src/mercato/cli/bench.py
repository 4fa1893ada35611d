"""``mercato bench ...``: benchmarks beside the papers' figures (measured in mercato.bench).

``mercato bench chain``, ``mercato bench serve`` (the HTTP API under load) and ``mercato
bench chaos`` (markets under faults, :mod:`mercato.chaos`) are Mercato's own; every other
command is a protocol's, listed in its unit's ``bench`` field
(:class:`~mercato.protocols.unit.ProtocolUnit`) and registered here from the catalog, so
adding a protocol's benchmark touches no file of this group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mercato.cli.bench_common import AnvilOption, bench_node
from mercato.cli.bench_serve import serve_bench
from mercato.cli.common import JsonOption, RpcUrlOption, console, emit_json
from mercato.protocols.catalog import units
from mercato.protocols.unit import resolve

if TYPE_CHECKING:
    from mercato.bench.chain import Throughput
    from mercato.bench.chaos import ChaosSummary

app = typer.Typer(help="Benchmarks against the papers.", no_args_is_help=True)


@app.command("chain")
def chain_command(
    ctx: typer.Context,
    transactions: int = typer.Option(
        None, "--transactions", "-n", min=1, help="Transactions per row (default 300)."
    ),
    batch: int = typer.Option(
        None, "--batch", min=1, help="Pipelined: transactions per send_many batch (default 100)."
    ),
    rpc_url: str = RpcUrlOption,
    anvil: bool = AnvilOption,
    json_output: bool = JsonOption,
) -> None:
    """Transactions per second: embedded, and a node (sequential and pipelined) if given."""
    from mercato.bench.chain import PIPELINE_BATCH, measure, plan

    rows: list[Throughput] = []
    with bench_node(ctx, rpc_url, anvil, quiet=json_output) as (node, start):
        for row in plan(node, transactions):
            advance = start(f"{row.backend} {row.mode} {row.workload}", row.transactions)
            rows.append(measure(row, node, batch or PIPELINE_BATCH, advance))
    if json_output:
        emit_json([row.as_dict() for row in rows])
    else:
        _print_throughput(rows, node_given=node is not None)


app.command("serve")(serve_bench)
app.command("soak")(resolve("mercato.cli.bench_soak:soak_bench"))


@app.command("chaos")
def chaos_command(
    seeds: int = typer.Option(3, "--seeds", min=1, help="How many seeds (runs) per protocol."),
    first: int = typer.Option(0, "--first-seed", min=0, help="The first seed (then +1, ...)."),
    protocol: str = typer.Option(None, "--protocol", help="One protocol (default: all covered)."),
    faults: int = typer.Option(3, "--faults", min=0, help="Faults per run."),
    json_output: bool = JsonOption,
) -> None:
    """Markets under faults: agents killed, the node restarted, the store frozen; then checked.

    Each seed starts its own anvil, S3 server (moto) and agent processes (about a minute).
    """
    from mercato.bench.chaos import protocols_of, run_seeds
    from mercato.cli.bench_common import progress_bars

    chosen = protocols_of(protocol)
    with progress_bars(json_output) as bars:
        task = bars.add_task("chaos runs", total=seeds * len(chosen))
        summary = run_seeds(
            range(first, first + seeds),
            chosen,
            fault_count=faults,
            done=lambda _: bars.advance(task),
        )
    if json_output:
        emit_json(summary.record())
    else:
        _print_chaos(summary)
    if summary.failed:
        raise typer.Exit(1)


for _unit in units():  # each protocol's benchmarks: `mercato bench gas`, `... training`, ...
    for _command in _unit.bench:
        app.command()(resolve(_command))


def _print_throughput(rows: list[Throughput], node_given: bool) -> None:
    table = Table(title="Transactions per second through the Chain interface")
    table.add_column("backend", no_wrap=True)
    table.add_column("mode", no_wrap=True)
    table.add_column("workload", no_wrap=True)
    table.add_column("txs", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("tx/s", justify="right", style="bold")
    table.add_column("reference*", justify="right", no_wrap=True)
    table.add_column("÷ reference", justify="right", no_wrap=True)
    for row in rows:
        reference = row.reference
        table.add_row(
            row.backend,
            row.mode,
            row.workload,
            f"{row.transactions:,}",
            f"{row.seconds:.2f}",
            f"{row.tx_per_s:,.1f}",
            f"{reference[0]:,}–{reference[1]:,}" if reference else "—",
            _ratio_range(row.tx_per_s, reference) if reference else "—",
        )
    console.print(table)
    console.print(
        "* reference figures (tx/s) from DESIGN.md, measured earlier on this kind of machine "
        "(2 cores), with simpler calls than a bid: titanoboa's py-evm env in process "
        "1,700–4,300 calls/s; anvil send-and-wait 120–145; anvil pipelined 220–820.",
        highlight=False,
    )
    if not node_given:
        console.print(
            "No node: pass --rpc-url (or set MERCATO_RPC_URL) or --anvil for the rpc rows.",
            highlight=False,
        )


def _print_chaos(summary: ChaosSummary) -> None:
    table = Table(title="Markets under faults")
    for column in ("protocol", "seed", "faults", "finished", "checks", "agent crashes"):
        table.add_column(column, justify="right" if column in ("seed", "faults") else "left")
    for r in summary.runs:
        failed = [c.name for c in r.checks if not c.passed]
        table.add_row(
            r.protocol,
            str(r.seed),
            str(r.injected),
            "yes" if r.finished else "NO",
            "all passed" if not failed else "FAILED: " + ", ".join(failed),
            "; ".join(c.describe() for c in r.crashes) or "—",
        )
    console.print(table)
    console.print(
        f"{summary.faults} faults injected, {summary.finished}/{len(summary.runs)} markets "
        f"finished, money checked in {summary.money_checked}, {summary.crashes} agent crash(es)",
        highlight=False,
    )
    for r in summary.failed:
        console.print(f"FAILED {r.replay()}: {'; '.join(r.failures())}", highlight=False)


def _ratio_range(value: float, reference: tuple[int, int]) -> str:
    low, high = reference
    return f"{value / high:.2f}–{value / low:.2f}x"
