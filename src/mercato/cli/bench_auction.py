"""``mercato bench gas``: P1's benchmark, the SAIaaS scenario's gas beside the paper's Table 1."""

from __future__ import annotations

from contextlib import nullcontext
from typing import TYPE_CHECKING

import typer
from rich.table import Table

from mercato.cli.bench_common import AnvilOption, mark
from mercato.cli.common import JsonOption, RpcUrlOption, console, context, emit_json, err_console

if TYPE_CHECKING:
    from mercato.bench.gas import GasReport


def gas(
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
            mark(None if op.target is None else op.gas <= op.target),
        )
    total = report.total_gas
    table.add_section()
    table.add_row(
        "total (scenario)",
        f"{total:,}",
        f"{PAPER_SCENARIO_TOTAL:,}",
        f"{total / PAPER_SCENARIO_TOTAL:.2f}x",
        f"≤ {TARGET_TOTAL:,}",
        mark(total <= TARGET_TOTAL),
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
