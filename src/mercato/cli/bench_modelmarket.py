"""``mercato bench modelmarket``: P4's benchmark, beside FairSwap, DanKu and Merkle proofs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from mercato.cli.bench_common import AnvilOption, bench_node, mark
from mercato.cli.common import JsonOption, RpcUrlOption, console, emit_json

if TYPE_CHECKING:
    from mercato.bench.modelmarket import ModelMarketBenchReport


def modelmarket(
    ctx: typer.Context,
    repeats: int = typer.Option(
        None,
        "--repeats",
        min=1,
        help="Whole markets timed; medians reported, gas from the first (default 3).",
    ),
    rpc_url: str = RpcUrlOption,
    anvil: bool = AnvilOption,
    json_output: bool = JsonOption,
) -> None:
    """P4 (Golden Grain): gas of a whole market and of the complaint, chain and benchmark time."""
    from mercato.bench.modelmarket import DEFAULT_REPEATS, run_modelmarket_bench

    with bench_node(ctx, rpc_url, anvil, quiet=json_output) as (node, start):
        report = run_modelmarket_bench(node, repeats=repeats or DEFAULT_REPEATS, start=start)
    if json_output:
        emit_json(report.as_dict())
    else:
        _print_modelmarket(report)


def _print_modelmarket(report: ModelMarketBenchReport) -> None:
    payload = report.as_dict()
    scenario = payload["scenario"]
    market = payload["gas_market"]
    table = Table(
        title=f"P4 model market (Golden Grain): {scenario['sellers']} sellers, "
        f"{scenario['executors']} executors, {scenario['bought']} bought, {report.backend}"
    )
    table.add_column("transaction", overflow="fold")
    table.add_column("count", justify="right")
    table.add_column("gas each", justify="right", no_wrap=True)
    table.add_column("gas", justify="right", style="bold", no_wrap=True)
    for name, row in market["by_name"].items():
        table.add_row(name, str(row["count"]), f"{row['gas_each']:,}", f"{row['gas']:,}")
    table.add_section()
    table.add_row("whole market", str(market["transactions"]), "", f"{market['total']:,}")
    swap = payload["swap_transactions"]
    table.add_row(
        f"honest swap of a sale ({' + '.join(swap['operations'])}), the dearest",
        str(swap["transactions"]),
        "",
        f"{swap['gas']:,}",
    )
    console.print(table)
    console.print(_complaint_table(payload))
    console.print(_times_table(payload))
    _print_anchors(payload["anchors"])


def _complaint_table(payload: dict[str, Any]) -> Table:
    anchors = payload["anchors"]
    fairswap = anchors["fairswap_complaint"]["gas_by_size"]
    merkle = anchors["merkle_proof"]["gas_by_size"]
    goal = payload["complaint_gas_goal"]
    table = Table(title="The buyer's complaint about one bad chunk, by model size (gas)")
    table.add_column("model", no_wrap=True)
    table.add_column("chunks", justify="right", no_wrap=True)
    table.add_column("proof depth", justify="right")
    table.add_column("ours", justify="right", style="bold", no_wrap=True)
    table.add_column("FairSwap formula*", justify="right")
    table.add_column("one Merkle check*", justify="right")
    table.add_column(f"< {goal:,}", justify="center", no_wrap=True)
    for label, row in payload["gas_complaint_by_size"].items():
        table.add_row(
            label,
            f"{row['chunks']:,}",
            str(row["proof_depth"]),
            f"{row['gas']:,}",
            f"{fairswap[label]:,}",
            f"{merkle[label]:,}",
            mark(row["under_goal"]),
        )
    per_level = payload["complaint_gas_per_proof_level"]
    if per_level is not None:
        table.caption = f"one more proof level costs our complaint {per_level:,.0f} gas"
    return table


def _times_table(payload: dict[str, Any]) -> Table:
    runs = payload["chain_seconds_runs"]
    table = Table(title=f"Time and scores ({payload['repeats']} market(s); medians)")
    table.add_column("measure", overflow="fold")
    table.add_column("ours", justify="right", style="bold", no_wrap=True)
    table.add_row(
        f"chain seconds of a whole market ({payload['gas_market']['transactions']} tx "
        "and the steps' reads, one at a time)",
        f"{payload['chain_seconds']:.3f}",
    )
    if len(runs) > 1:
        table.add_row("  each run", ", ".join(f"{s:.3f}" for s in runs))
    table.add_row(
        "  of which sending the transactions and waiting for them",
        f"{payload['transaction_seconds']:.3f}",
    )
    table.add_row(
        "one executor's benchmark of the 4 models: gather, check, score, sign (s)",
        f"{payload['executor_seconds']:.3f}",
    )
    table.add_section()
    for row in payload["scores"]:
        measured = "not bought" if row["measured"] is None else f"buyer {row['measured']:.3f}"
        table.add_row(
            f"{row['seller']}: {row['model']} ({row['state']})",
            f"{row['agreed']:.3f} ({measured})",
        )
    table.add_row(
        "the buyer's own score of each model bought equals the agreed one",
        mark(payload["scores_agree"]),
    )
    return table


def _print_anchors(anchors: dict[str, Any]) -> None:
    danku = anchors["danku_evaluation"]
    console.print(
        f"* FairSwap: {anchors['fairswap_complaint']['formula']}. Ours adds the decryption "
        "(32 keccaks), the checks of the request and the refund. Merkle check: "
        f"{anchors['merkle_proof']['formula']} gas ({anchors['merkle_proof']['source']}).",
        highlight=False,
    )
    console.print(
        f"DanKu evaluates on chain, so the test data lives in contract storage: "
        f"{danku['gas_per_kb_stored']:,} gas for 1 kB; our hidden test set "
        f"({danku['test_set_bytes']:,} bytes of rows and labels) would take "
        f"{danku['test_set_gas']:,} gas, {danku['test_set_blocks']} blocks of "
        f"{danku['block_gas_limit']:,}. Our whole market costs "
        f"{danku['our_market_gas_over_1kb']:.2f}x DanKu's 1 kB and never puts the data on "
        "chain.",
        highlight=False,
    )
