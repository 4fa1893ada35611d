"""``mercato bench ...``: benchmarks beside the papers' figures (measured in mercato.bench)."""

from __future__ import annotations

from contextlib import nullcontext
from functools import partial
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mercato.cli.common import JsonOption, RpcUrlOption, console, context, emit_json, err_console

if TYPE_CHECKING:
    from mercato.bench.chain import Throughput
    from mercato.bench.gas import GasReport

app = typer.Typer(help="Benchmarks against the papers.", no_args_is_help=True)

AnvilOption = typer.Option(
    False, "--anvil", help="Start a local anvil for this run (stopped and deleted after)."
)


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
    from mercato.bench.common import node_url

    url = rpc_url or (None if anvil else context(ctx).settings.rpc_url)
    rows: list[Throughput] = []
    with node_url(url, anvil=anvil) as node, _progress(quiet=json_output) as progress:
        for row in plan(node, transactions):
            task = progress.add_task(
                f"{row.backend} {row.mode} {row.workload}", total=row.transactions
            )
            advance = partial(progress.advance, task)
            rows.append(measure(row, node, batch or PIPELINE_BATCH, advance))
    if json_output:
        emit_json([row.as_dict() for row in rows])
    else:
        _print_throughput(rows, node_given=node is not None)


@app.command("gas")
def gas_command(
    ctx: typer.Context,
    backend: str = typer.Option(
        None, "--backend", help="embedded (default) or rpc (a new anvil unless --rpc-url)."
    ),
    rpc_url: str = RpcUrlOption,
    anvil: bool = AnvilOption,
    json_output: bool = JsonOption,
) -> None:
    """Gas of SAIaaS's Table 1 scenario (deploy, create, 9 bids, adjudicate) beside the paper."""
    from mercato.bench.common import node_url, open_chain
    from mercato.bench.gas import run_saiaas

    settings = context(ctx).settings.override(backend=backend)
    on_node = bool(rpc_url or anvil) or settings.backend == "rpc"
    url = rpc_url or (settings.rpc_url if settings.backend == "rpc" and not anvil else None)
    start_anvil = on_node and url is None
    with (
        node_url(url, anvil=start_anvil) as node,
        open_chain("rpc" if on_node else settings.backend, node) as chain,
        err_console.status("running the SAIaaS scenario...") if not json_output else nullcontext(),
    ):
        report = run_saiaas(chain)
    if json_output:
        emit_json(report.as_dict())
    else:
        _print_gas(report)


def _progress(quiet: bool) -> Progress:
    """A progress bar on stderr that disappears when done (none at all if ``quiet``)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=quiet,
    )


# printing --------------------------------------------------------------------------------
def _range(low: int, high: int) -> str:
    return f"{low:,}–{high:,}"


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


def _ratio_range(value: float, reference: tuple[int, int]) -> str:
    low, high = reference
    return f"{value / high:.2f}–{value / low:.2f}x"


def _print_gas(report: GasReport) -> None:
    from mercato.bench.gas import ESCROW_NOTE, PAPER_SCENARIO_TOTAL, TARGET_TOTAL

    table = Table(title=f"SAIaaS Table 1 scenario, {report.backend} backend (gas)")
    table.add_column("operation", overflow="fold")
    table.add_column("gas", justify="right", style="bold", no_wrap=True)
    table.add_column("paper", justify="right", no_wrap=True)
    table.add_column("÷ paper", justify="right", no_wrap=True)
    table.add_column("target", justify="right", no_wrap=True)
    table.add_column("", justify="center")
    for op in report.operations:
        table.add_row(
            op.name,
            f"{op.gas:,}",
            f"{op.paper_gas:,}" if op.paper_gas else "—",
            f"{op.gas / op.paper_gas:.2f}x" if op.paper_gas else "—",
            f"≤ {op.target:,}" if op.target else "—",
            "" if op.target is None else ("✓" if op.gas <= op.target else "✗"),
        )
    total = report.total_gas
    table.add_section()
    table.add_row(
        "total (scenario)",
        f"{total:,}",
        f"{PAPER_SCENARIO_TOTAL:,}",
        f"{total / PAPER_SCENARIO_TOTAL:.2f}x",
        f"≤ {TARGET_TOTAL:,}",
        "✓" if total <= TARGET_TOTAL else "✗",
    )
    console.print(table)
    console.print(
        "Paper rows: deploy:auction_house ~ Factory deployment; the first bid of the "
        "auction ~ First bid of contract, the two other first bids ~ First bid of user, "
        "the six later bids ~ Modify existing bid (the only split of Table 1 that adds up "
        "to its scenario total). The total covers creation, the nine bids and adjudication, "
        "as the paper's does; deployment and registrations are not in it.",
        highlight=False,
    )
    console.print(f"Escrow: {ESCROW_NOTE}.", highlight=False)
