"""``mercato bench apimarket``: P5's benchmark, beside SingularityNET's channels and the paper."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from mercato.cli.bench_common import AnvilOption, bench_node, mark
from mercato.cli.common import JsonOption, RpcUrlOption, console, emit_json

if TYPE_CHECKING:
    from mercato.bench.apimarket import ApiMarketBenchReport


def apimarket(
    ctx: typer.Context,
    calls: int = typer.Option(
        None,
        "--calls",
        min=4,
        help="Timed calls of each path (whole, split); the failover run makes half as many "
        "more (default 100).",
    ),
    rpc_url: str = RpcUrlOption,
    anvil: bool = AnvilOption,
    json_output: bool = JsonOption,
) -> None:
    """P5 (split-execution API market): latency whole vs split, gas per call, failover, leaks."""
    from mercato.bench.apimarket import DEFAULT_CALLS, run_apimarket_bench

    with bench_node(ctx, rpc_url, anvil, quiet=json_output) as (node, start):
        report = run_apimarket_bench(node, calls=calls or DEFAULT_CALLS, start=start)
    if json_output:
        emit_json(report.as_dict())
    else:
        _print_apimarket(report)


def _print_apimarket(report: ApiMarketBenchReport) -> None:
    payload = report.as_dict()
    console.print(_latency_table(payload))
    console.print(_gas_table(payload))
    console.print(_failover_table(payload["failover"]))
    console.print(_protection_table(payload))
    anchors = payload["anchors"]
    for anchor in anchors.values():
        console.print(f"{anchor['source']}.", highlight=False)


def _latency_table(payload: dict[str, Any]) -> Table:
    whole, split = payload["latency_ms_whole"], payload["latency_ms_split"]
    ratio = payload["latency_ratio"]
    table = Table(
        title=f"Calls over HTTP on loopback ({payload['calls']} timed calls each, "
        f"{payload['rows_per_call']} rows a call, {payload['backend']})"
    )
    table.add_column("served", overflow="fold")
    table.add_column("median ms", justify="right", no_wrap=True)
    table.add_column("p99 ms", justify="right", no_wrap=True)
    table.add_column("calls/s", justify="right", style="bold", no_wrap=True)
    table.add_row(
        "whole: one vendor process, through the orchestrator",
        f"{whole['median']:.1f}",
        f"{whole['p99']:.1f}",
        f"{payload['calls_per_s_whole']:.1f}",
    )
    table.add_row(
        "split: three vendor processes, one block each",
        f"{split['median']:.1f}",
        f"{split['p99']:.1f}",
        f"{payload['calls_per_s_split']:.1f}",
    )
    table.add_row("split / whole", f"{ratio['median']:.2f}x", f"{ratio['p99']:.2f}x", "")
    return table


def _gas_table(payload: dict[str, Any]) -> Table:
    goal = payload["gas_per_call_goal"]
    table = Table(title="Gas per call, and of a claim and a dispute")
    table.add_column("settlement", overflow="fold")
    table.add_column("gas", justify="right", style="bold", no_wrap=True)
    table.add_column(f"< {goal:,} a call", justify="center", no_wrap=True)
    onchain = payload["gas_onchain"]
    table.add_row(
        "base mode, every step on chain (the paper): "
        + " + ".join(f"{name} {gas:,}" for name, gas in onchain.items()),
        f"{payload['gas_per_call_onchain']:,}",
        mark(payload["gas_per_call_onchain"] < goal),
    )
    for batch in payload["gas_batches"]:
        table.add_row(
            f"batch of {batch['calls']:,} calls: commit_batch {batch['commit_batch']:,} + "
            f"finalize_batch {batch['finalize_batch']:,}, per call",
            f"{batch['gas_per_call']:,.1f}",
            mark(batch["gas_per_call"] < goal),
        )
    table.add_row("SingularityNET's payment channels (payment only, no evidence)", "0", "")
    table.add_section()
    claims = payload["gas_claims"]
    table.add_row(
        f"a claim answered: claim {claims['claim']:,} + answer_claim {claims['answer_claim']:,}",
        f"{payload['gas_claim']:,}",
        "",
    )
    table.add_row(
        "a claim of a call left out of the batch, paid at once",
        f"{claims['claim_left_out_paid_at_once']:,}",
        "",
    )
    table.add_row(
        "a dispute, liar slashed: "
        + " + ".join(f"{name} {gas:,}" for name, gas in payload["gas_disputes"].items()),
        f"{payload['gas_dispute']:,}",
        "",
    )
    return table


def _failover_table(failover: dict[str, Any]) -> Table:
    table = Table(
        title=f"Failover: slot {failover['killed_slot']}'s vendor killed after "
        f"{failover['killed_after']} of {failover['calls']} calls"
    )
    table.add_column("measure", overflow="fold")
    table.add_column("", justify="right", style="bold", no_wrap=True)
    table.add_row("steps moved to the replica", str(failover["failovers"]))
    table.add_row("calls failed at the consumer / retried / lost", (
        f"{failover['failed_calls']} / {failover['retried_calls']} / {failover['lost_calls']}"
    ))  # fmt: skip
    table.add_row("every output equals the whole model's", mark(failover["outputs_equal_whole"]))
    table.add_row(
        f"calls in the batch = calls made ({failover['batch_calls']} of "
        f"{failover['calls_made']}), each charged once",
        mark(failover["charged_once"]),
    )
    return table


def _protection_table(payload: dict[str, Any]) -> Table:
    strategies = payload["strategies"]
    table = Table(title=f"Model protection: test accuracy with {payload['known_rows']} known rows")
    table.add_column("who", no_wrap=True)
    table.add_column("accuracy", justify="right", style="bold", no_wrap=True)
    table.add_column("best strategy", overflow="fold")
    table.add_row("whole model", f"{payload['accuracy_whole']:.3f}", "every block")
    table.add_row(
        "known rows only", f"{payload['accuracy_known_only']:.3f}", strategies["known_only"]
    )
    for index, (accuracy, strategy) in enumerate(
        zip(payload["accuracy_vendor"], strategies["vendor"], strict=True)
    ):
        table.add_row(f"vendor of block {index}", f"{accuracy:.3f}", strategy)
    table.add_row(
        f"all blocks but {payload['coalition_missing']}",
        f"{payload['accuracy_coalition']:.3f}",
        strategies["coalition"],
    )
    return table
